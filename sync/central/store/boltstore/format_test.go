package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central/store/boltstore/boltstoretest"
)

// storedFormat reads the format key of the closed store file at path.
func storedFormat(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	if err := db.View(func(tx *bbolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketMeta).Get(keyFormat))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func newFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "central.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFormatVersion: a new file is written at FormatVersion, a file
// without the key (before it was recorded) opens and gets it, and a file
// of a newer version is refused by Open and Inspect and left unchanged.
func TestFormatVersion(t *testing.T) {
	want := binary.BigEndian.AppendUint64(nil, FormatVersion)
	t.Run("new", func(t *testing.T) {
		if got := storedFormat(t, newFile(t)); !bytes.Equal(got, want) {
			t.Fatalf("format of a new file = %x, want %x", got, want)
		}
	})
	t.Run("unrecorded", func(t *testing.T) {
		path := newFile(t)
		boltstoretest.SetFormat(t, path, 0)
		if got := storedFormat(t, path); got != nil {
			t.Fatalf("format key still %x", got)
		}
		if _, err := Inspect(context.Background(), path); err != nil {
			t.Fatalf("Inspect of a file without a format version: %v", err)
		}
		s, err := Open(path)
		if err != nil {
			t.Fatalf("Open of a file without a format version: %v", err)
		}
		s.Close()
		if got := storedFormat(t, path); !bytes.Equal(got, want) {
			t.Fatalf("format after Open = %x, want %x", got, want)
		}
	})
	t.Run("newer", func(t *testing.T) {
		path := newFile(t)
		boltstoretest.SetFormat(t, path, FormatVersion+1)
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err == nil {
			s.Close()
			t.Fatal("Open served a file of a newer format")
		}
		if !errors.Is(err, ErrNewerFormat) {
			t.Fatalf("Open: %v, want ErrNewerFormat", err)
		}
		if both := fmt.Sprintf("version is %d, this build's %d", FormatVersion+1, FormatVersion); !strings.Contains(err.Error(), both) {
			t.Errorf("Open's error %q does not name both versions (%q)", err, both)
		}
		if _, err := Inspect(context.Background(), path); !errors.Is(err, ErrNewerFormat) {
			t.Fatalf("Inspect: %v, want ErrNewerFormat", err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatal("a refused file was changed")
		}
	})
}
