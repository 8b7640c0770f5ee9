package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	v := openAt(t, path, Passphrase(testPassphrase), Options{})

	subs := []Submission{testSubmission("sub-b", 4096), testSubmission("sub-a", 0)}
	subs[1].CreatedAt = subs[0].CreatedAt.Add(-time.Minute) // listed first
	for _, s := range subs {
		if err := v.PutSubmission(ctx, s); err != nil {
			t.Fatalf("PutSubmission(%s): %v", s.ID, err)
		}
	}
	if err := v.PutSession(ctx, "session-1", []byte(`{"step":"selfie"}`)); err != nil {
		t.Fatal(err)
	}
	if err := v.PutSession(ctx, "session-1", []byte(`{"step":"review"}`)); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("vault file mode = %v, %v; want 0600", fi.Mode(), err)
	}

	// Everything survives a reopen.
	v = openAt(t, path, Passphrase(testPassphrase), Options{})
	for _, want := range subs {
		got, err := v.GetSubmission(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetSubmission(%s): %v", want.ID, err)
		}
		assertSameSubmission(t, got, want)
		e, err := v.OutboxStatus(ctx, want.ID)
		if err != nil || e.State != StateQueued || e.SubmissionID != want.ID {
			t.Fatalf("OutboxStatus(%s) = %+v, %v; want queued", want.ID, e, err)
		}
	}
	list, err := v.ListSubmissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "sub-a" || list[1].ID != "sub-b" || len(list[1].Images) != 2 || list[1].Images[0] != "document" {
		t.Fatalf("ListSubmissions = %+v", list)
	}
	sess, err := v.GetSession(ctx, "session-1")
	if err != nil || string(sess) != `{"step":"review"}` {
		t.Fatalf("GetSession = %q, %v", sess, err)
	}
	if _, err := v.GetSession(ctx, "session-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing session: err = %v, want ErrNotFound", err)
	}
	if err := v.PutSubmission(ctx, subs[0]); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate PutSubmission: err = %v, want ErrExists", err)
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	valid := testSubmission("ok", 16)
	tests := []struct {
		name string
		call func() error
	}{
		{"empty submission id", func() error { s := valid; s.ID = ""; return v.PutSubmission(ctx, s) }},
		{"payload not JSON", func() error { s := valid; s.Payload = []byte("{name: x"); return v.PutSubmission(ctx, s) }},
		{"nil payload", func() error { s := valid; s.Payload = nil; return v.PutSubmission(ctx, s) }},
		{"empty image name", func() error { s := valid; s.Images = map[string][]byte{"": {1}}; return v.PutSubmission(ctx, s) }},
		{"empty image", func() error { s := valid; s.Images = map[string][]byte{"selfie": nil}; return v.PutSubmission(ctx, s) }},
		{"overlong id", func() error { _, err := v.GetSubmission(ctx, string(make([]byte, maxIDLen+1))); return err }},
		{"id not UTF-8", func() error { return v.PutSession(ctx, "\xff\xfe", nil) }},
		{"rejection without reason", func() error { return v.MarkState(ctx, "ok", StateRejected, " ") }},
		{"audit without action", func() error { return v.Audit(ctx, AuditEvent{Actor: "op"}) }},
		{"rotate to nil key", func() error { return v.Rotate(ctx, nil) }},
		{"rotate to empty passphrase", func() error { return v.Rotate(ctx, Passphrase("")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if list, err := v.ListSubmissions(ctx); err != nil || len(list) != 0 {
		t.Fatalf("invalid input stored something: %v, %v", list, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	passPath := filepath.Join(dir, "pass.db")
	openAt(t, passPath, Passphrase(testPassphrase), Options{}).Close()
	keyPath := newKeyFile(t, dir, "kiosk.key")
	filePath := filepath.Join(dir, "kiosk.db")
	openAt(t, filePath, KeyFile(keyPath), Options{}).Close()
	otherKey := newKeyFile(t, dir, "other.key")

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("other-app")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a vault "), 2000), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		key  KeySource
		want error
	}{
		{"wrong passphrase", passPath, Passphrase("correct horse battery stapler"), ErrWrongKey},
		{"key file for passphrase vault", passPath, KeyFile(keyPath), ErrWrongKey},
		{"passphrase for key-file vault", filePath, Passphrase(testPassphrase), ErrWrongKey},
		{"wrong key file", filePath, KeyFile(otherKey), ErrWrongKey},
		{"empty passphrase", passPath, Passphrase(""), ErrInvalid},
		{"nil key", passPath, nil, ErrInvalid},
		{"empty path", "", Passphrase(testPassphrase), ErrInvalid},
		{"not a vault", garbage, Passphrase(testPassphrase), ErrCorrupt},
		{"another program's bbolt file", foreign, Passphrase(testPassphrase), ErrCorrupt},
		{"read-only missing file", filepath.Join(dir, "missing.db"), Passphrase(testPassphrase), os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Argon2: fastArgon2, ReadOnly: tc.want == os.ErrNotExist}
			v, err := Open(ctx, tc.path, tc.key, opts)
			if err == nil {
				v.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open err = %v, want %v", err, tc.want)
			}
		})
	}
	// An empty file, as a crash before a new vault's first pages leaves
	// it: read-only, it is said to be empty, not bbolt's failed write.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, empty, Passphrase(testPassphrase), Options{Argon2: fastArgon2, ReadOnly: true}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty file read-only: %v, want ErrCorrupt saying it is empty", err)
	}
	// The right keys still work after all those failures.
	openAt(t, passPath, Passphrase(testPassphrase), Options{})
	openAt(t, filePath, KeyFile(keyPath), Options{})
}

// TestDamagedFile opens copies of a vault cut short or with a page header
// changed, as a bad copy, a restore or a failing disk leaves them, and reads
// everything: the damage must come back as ErrCorrupt (or a record that
// fails authentication), never kill the process. Before, a file cut short
// opened, and the first read of a missing page died of SIGBUS; a damaged
// page header made bbolt panic.
func TestDamagedFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.db")
	v := openAt(t, path, Passphrase(testPassphrase), Options{})
	for i := range 40 {
		if err := v.PutSubmission(ctx, testSubmission(fmt.Sprintf("sub-%02d", i), 20<<10)); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
	orig := rawFile(t, path)
	const page = 4096 // bbolt's page size where the tests run

	// readAll opens the copy and reads every record; it returns the first
	// error.
	readAll := func(data []byte) error {
		p := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		v, err := Open(ctx, p, Passphrase(testPassphrase), Options{Argon2: fastArgon2})
		if err != nil {
			return err
		}
		defer v.Close()
		entries, err := v.Outbox(ctx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := v.GetSubmission(ctx, e.SubmissionID); err != nil {
				return err
			}
		}
		return v.PutSubmission(ctx, testSubmission("sub-after", 1000))
	}

	if err := readAll(orig[:len(orig)/2]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a file cut to half: %v, want ErrCorrupt", err)
	}
	corrupt, panicked := 0, 0
	for p := 2; p < len(orig)/page; p += 8 {
		data := bytes.Clone(orig)
		data[p*page] ^= 0x01 // the page's id
		err := readAll(data)
		// A recovered panic keeps Go's text of it out of the message.
		if d := (*DamagedError)(nil); errors.As(err, &d) {
			panicked++
			if d.Cause == "" || strings.Contains(err.Error(), d.Cause) {
				t.Errorf("page %d's id changed: %q, cause %q: want the cause kept apart from the message", p, err, d.Cause)
			}
		}
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil && !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrNotFound):
			t.Errorf("page %d's id changed: %v, want ErrCorrupt or ErrAuthentication", p, err)
		}
	}
	if corrupt == 0 || panicked == 0 {
		t.Errorf("%d changed page headers found damaged, %d of them by a panic; the test proves nothing", corrupt, panicked)
	}

	// A branch page whose child leads back to it: bbolt's search recursed
	// until the stack overflowed, a crash no recover catches.
	db, err := bbolt.Open(path, 0o600, nil) // read-only, it would not load the free list Page needs
	if err != nil {
		t.Fatal(err)
	}
	var branch uint64
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			root := tx.Bucket([]byte(name)).Root()
			if info, err := tx.Page(int(root)); err == nil && info != nil && info.Type == "branch" {
				branch = uint64(root)
			}
		}
		return nil
	})
	db.Close()
	if err != nil || branch == 0 {
		t.Fatalf("no bucket's root is a branch page (%v): the test proves nothing", err)
	}
	data := bytes.Clone(orig)
	binary.LittleEndian.PutUint64(data[branch*page+16+8:], branch) // the first element's child
	if err := readAll(data); !errors.Is(err, ErrCorrupt) {
		t.Errorf("branch page %d made its own child: %v, want ErrCorrupt", branch, err)
	}
}

func TestTamperedHeader(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	path := v.Path()
	// Lower the Argon2 cost in the plaintext header: the master secret's AAD
	// covers the header, so even a header edit is caught.
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		h, err := parseHeader(meta.Get([]byte(metaHeader)))
		if err != nil {
			return err
		}
		h.Time++
		raw, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return meta.Put([]byte(metaHeader), raw)
	})
	v.Close()
	if _, err := Open(ctx, path, Passphrase(testPassphrase), Options{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open after header edit: err = %v, want ErrWrongKey", err)
	}
}

func TestLockedByOtherHandle(t *testing.T) {
	v := openTest(t, Options{})
	_, err := Open(context.Background(), v.Path(), Passphrase(testPassphrase), Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
}

func TestReadOnlyVault(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	path := v.Path()
	want := testSubmission("s1", 128)
	if err := v.PutSubmission(ctx, want); err != nil {
		t.Fatal(err)
	}
	v.Close()
	before := rawFile(t, path)

	ro := openAt(t, path, Passphrase(testPassphrase), Options{ReadOnly: true})
	got, err := ro.GetSubmission(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	assertSameSubmission(t, got, want)
	writes := map[string]func() error{
		"PutSubmission": func() error { return ro.PutSubmission(ctx, testSubmission("s2", 0)) },
		"MarkState":     func() error { return ro.MarkState(ctx, "s1", StateSending, "") },
		"Shred":         func() error { return ro.Shred(ctx, "s1") },
		"Rotate":        func() error { return ro.Rotate(ctx, Passphrase("new")) },
		"Compact":       func() error { return ro.Compact(ctx) },
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on read-only vault: err = %v, want ErrReadOnly", name, err)
		}
	}
	ro.Close()
	if !bytes.Equal(before, rawFile(t, path)) {
		t.Fatal("read-only vault changed the file")
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := v.PutSubmission(ctx, testSubmission("s", 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("PutSubmission after Close: %v", err)
	}
	if _, err := v.ListSubmissions(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListSubmissions after Close: %v", err)
	}
	if err := v.Compact(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Compact after Close: %v", err)
	}
}

// TestConcurrentUse runs writers, readers, a rotation and a compaction at
// once (meaningful under -race) and checks nothing was lost.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	const writers, perWriter = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter+2)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := v.PutSubmission(ctx, testSubmission(id, 256)); err != nil {
					errs <- err
					return
				}
				if _, err := v.GetSubmission(ctx, id); err != nil {
					errs <- err
					return
				}
				if _, _, err := v.NextPending(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() { errs <- v.Rotate(ctx, Passphrase("rotated during writes")) })
	wg.Go(func() { errs <- v.Compact(ctx) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	path := v.Path()
	v.Close()
	v = openAt(t, path, Passphrase("rotated during writes"), Options{})
	list, err := v.ListSubmissions(ctx)
	if err != nil || len(list) != writers*perWriter {
		t.Fatalf("after concurrent use: %d submissions, %v; want %d", len(list), err, writers*perWriter)
	}
}
