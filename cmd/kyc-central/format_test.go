package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/boltstore/boltstoretest"
)

// TestServeRefusesNewerStore: a store a newer release wrote (its format
// version above this build's) stops serve at start, saying why, before it
// serves a byte of it, and is left as it was.
func TestServeRefusesNewerStore(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "central.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	boltstoretest.SetFormat(t, path, boltstore.FormatVersion+1)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A refusal gone missing serves until this ends, and fails.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errOut bytes.Buffer
	code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--insecure-http", "--data", data}, &bytes.Buffer{}, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "refusing to start") || !strings.Contains(errOut.String(), "newer release") {
		t.Errorf("serve on a newer release's store: exit %d: %q", code, errOut.String())
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the store changed (%v)", err)
	}
}
