package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/protocol"
)

// site is a serving central on a bbolt store with the backup endpoint.
type site struct {
	c       *centraltest.Central
	raw     *boltstore.Store
	keyring *seal.FileKeyring
	stage   string
}

// newSite serves a central whose backup source is src (nil: the store).
func newSite(t *testing.T, wrap func(backup.Source) backup.Source) *site {
	t.Helper()
	dir := t.TempDir()
	raw, err := boltstore.Open(filepath.Join(dir, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	s := &site{raw: raw, keyring: kr, stage: filepath.Join(dir, "stage")}
	if err := os.Mkdir(s.stage, 0o700); err != nil {
		t.Fatal(err)
	}
	// A copy a central killed mid-copy left staged: gone once it mounts.
	if err := os.WriteFile(filepath.Join(s.stage, ".backup-1234"), []byte("a stale copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.c = centraltest.New(t, raw, centraltest.Options{Keyring: kr})
	var src backup.Source = raw
	if wrap != nil {
		src = wrap(raw) // nil: a store backed up with its own tools
	}
	if !backup.Mount(s.c.Server, backup.Config{Source: src, Store: s.c.Store, StageDir: s.stage}) {
		t.Fatal("backup not mounted")
	}
	s.c.Serve(t)
	return s
}

func (s *site) client(t *testing.T) *http.Client { return apitest.Client(t, s.c.Transport()) }

// submit stores a complete submission with one image and returns its image.
func (s *site) submit(t *testing.T, id string) []byte {
	t.Helper()
	now := time.Now().UTC()
	img := centraltest.JPEG(t, 64, 48)
	centraltest.StoreSubmission(t, s.c.Store, central.Submission{DeviceID: "dev-1", Key: protocol.SubmissionKey(id), ID: id,
		ManifestHash: []byte(id), CreatedAt: now, ReceivedAt: now, Verdict: "ok", Payload: json.RawMessage(`{"name":"` + id + `"}`)},
		map[string][]byte{"selfie.jpg": img}, protocol.MaxChunkSize)
	return img
}

// TestBackupAndRestore takes a copy of a serving central while writes go
// on, restores it into another folder and reads a submission back through
// the same keys: payload and image decrypt as they were stored.
func TestBackupAndRestore(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	img := s.submit(t, "sub-1")
	s.submit(t, "sub-2")

	if err := s.c.Store.AppendAudit(ctx, central.AuditEvent{ID: "w", At: time.Now(), Actor: "test", Action: "write", Count: 1}); err != nil {
		t.Fatal(err)
	}
	// Writes while the copy is taken: the copy is one transaction's view.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := central.AuditEvent{ID: fmt.Sprintf("w-%d", i), At: time.Now(), Actor: "test", Action: "write", Count: 1}
			if err := s.c.Store.AppendAudit(ctx, ev); err != nil {
				t.Error(err)
				return
			}
		}
	})
	out := filepath.Join(t.TempDir(), "copy.db")
	sum, err := backup.Fetch(ctx, s.client(t), s.c.Base, s.c.Admin, out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Submissions != 2 || sum.AuditEvents == 0 {
		t.Errorf("copy holds %+v, want 2 submissions and the audit trail", sum)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the copy: %v, %v; want a file private to its owner (0600)", fi, err)
	}
	if entries, _ := os.ReadDir(s.stage); len(entries) != 0 {
		t.Errorf("staging folder keeps %d files after the copy was sent (a stale copy left staged before start included)", len(entries))
	}
	evs, err := s.c.Store.Audit(ctx, central.AuditFilter{Action: backup.AuditBackup})
	if err != nil || len(evs) != 1 || evs[0].Actor == "" || !bytes.Contains(evs[0].After, []byte(`"sha256"`)) {
		t.Fatalf("audit of the copy = %+v, %v", evs, err)
	}

	// Another central's keyring cannot open the copy: it is refused and
	// nothing is left where the store would be.
	db := filepath.Join(t.TempDir(), "central.db")
	other, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := backup.Restore(ctx, out, db, false, time.Now(), other); !errors.Is(err, seal.ErrForeignKeys) {
		t.Errorf("Restore beside another keyring = %v, want ErrForeignKeys", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(db)); len(entries) != 0 {
		t.Errorf("a refused restore left %d files", len(entries))
	}
	// Restore into a new folder, as after losing the machine, and read
	// through the same keyring.
	got, kept, err := backup.Restore(ctx, out, db, false, time.Now(), s.keyring)
	if err != nil || kept != "" || got.Submissions != 2 {
		t.Fatalf("Restore = %+v, %q, %v", got, kept, err)
	}
	if fi, err := os.Stat(db); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the restored store: %v, %v; want 0600", fi, err)
	}
	restored, err := boltstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st := seal.New(restored, s.keyring, s.keyring)
	defer st.Close()
	sub, err := st.Upload(ctx, "dev-1", protocol.SubmissionKey("sub-1"))
	if err != nil || string(sub.Payload) != `{"name":"sub-1"}` {
		t.Fatalf("restored submission = %s, %v", sub.Payload, err)
	}
	data, err := st.ImageData(ctx, "dev-1", protocol.SubmissionKey("sub-1"), "selfie.jpg")
	if err != nil || !bytes.Equal(data, img) {
		t.Errorf("restored image: %d bytes, %v; want the %d stored", len(data), err, len(img))
	}
	// The copy's own audit trail verifies, chain and all.
	if chk, err := central.VerifyAuditChain(ctx, st, s.c.Server.AuditKey()); err != nil || chk.Events != sum.AuditEvents {
		t.Errorf("restored audit chain: %+v, %v; the copy counted %d events", chk, err, sum.AuditEvents)
	}
	// Replacing the store with a copy another keyring's is refused too,
	// and leaves the folder as it was: the store, no second name of it
	// kept aside (a retry in the same second would find it in its way).
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, kept, err := backup.Restore(ctx, out, db, true, time.Now(), other); !errors.Is(err, seal.ErrForeignKeys) || kept != "" {
		t.Errorf("Restore with --replace beside another keyring = %q, %v; want ErrForeignKeys, nothing kept", kept, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(db)); len(entries) != 1 || entries[0].Name() != "central.db" {
		t.Errorf("a refused restore over a store left %v, want the store alone", entries)
	}
}

// TestBackupRefusals: no token, a second copy at once.
func TestBackupRefusals(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := newSite(t, func(src backup.Source) backup.Source {
		return gatedSource{src, entered, release}
	})
	get := func(token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.c.Base+backup.Path, nil)
		if token == "" {
			req = apitest.Invalid(req)
		} else {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := s.client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %s", resp.Status)
	}
	first := make(chan error, 1)
	go func() {
		_, err := backup.Fetch(context.Background(), s.client(t), s.c.Base, s.c.Admin, filepath.Join(t.TempDir(), "a.db"))
		first <- err
	}()
	<-entered // the first copy is being staged
	resp := get(s.c.Admin)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !bytes.Contains(body, []byte("backup_running")) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second copy at once: %s %s", resp.Status, body)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first copy: %v", err)
	}
}

// TestBackupUnsupported: a central without a source (PostgreSQL) says how
// it is backed up instead.
func TestBackupUnsupported(t *testing.T) {
	s := newSite(t, func(backup.Source) backup.Source { return nil })
	_, err := backup.Fetch(context.Background(), s.client(t), s.c.Base, s.c.Admin, filepath.Join(t.TempDir(), "copy.db"))
	if err == nil || !strings.Contains(err.Error(), "501") || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Fetch from a central on PostgreSQL = %v", err)
	}
}

// gatedSource holds a copy until released, to overlap two requests.
type gatedSource struct {
	backup.Source
	entered chan<- struct{}
	release <-chan struct{}
}

func (g gatedSource) Backup(ctx context.Context, w io.Writer) (int64, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Source.Backup(ctx, w)
}

// TestFetchKeepsNothingBroken: an answer cut short, a digest that does
// not match or a body that is not a store never replace the file there.
func TestFetchKeepsNothingBroken(t *testing.T) {
	good := storeFile(t)
	copyBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(b []byte) string { return "sha-256=:" + b64sum(b) + ":" }
	for _, tc := range []struct {
		name    string
		serve   func(w http.ResponseWriter)
		wantErr error
	}{
		{"digest differs", func(w http.ResponseWriter) {
			w.Header().Set("Repr-Digest", digest([]byte("something else")))
			w.Write(copyBytes)
		}, backup.ErrDigest},
		{"no digest", func(w http.ResponseWriter) { w.Write(copyBytes) }, backup.ErrDigest},
		{"cut short", func(w http.ResponseWriter) {
			w.Header().Set("Repr-Digest", digest(copyBytes))
			w.Header().Set("Content-Length", fmt.Sprint(len(copyBytes)))
			w.Write(copyBytes[:len(copyBytes)/2])
			panic(http.ErrAbortHandler)
		}, nil},
		{"not a store", func(w http.ResponseWriter) {
			junk := bytes.Repeat([]byte("kyc"), 10000)
			w.Header().Set("Repr-Digest", digest(junk))
			w.Write(junk)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.serve(w) }))
			defer srv.Close()
			out := filepath.Join(t.TempDir(), "copy.db")
			if err := os.WriteFile(out, []byte("the previous copy"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := backup.Fetch(context.Background(), srv.Client(), srv.URL, "token", out)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("Fetch = %v, want an error (%v)", err, tc.wantErr)
			}
			if b, _ := os.ReadFile(out); string(b) != "the previous copy" {
				t.Errorf("the previous copy was replaced")
			}
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
				t.Errorf("%d files left beside the copy", len(entries))
			}
		})
	}
}

func b64sum(b []byte) string {
	h := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(h[:])
}

// TestCopyAndRestoreGuards: a store a running central holds is neither
// copied from here nor replaced; a store in place is kept aside, byte for
// byte, only when replacing is asked for; a damaged copy is never
// restored.
func TestCopyAndRestoreGuards(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "central.db")
	running, err := boltstore.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Copy(ctx, db, filepath.Join(dir, "copy.db")); !errors.Is(err, boltstore.ErrInUse) {
		t.Errorf("Copy of a store in use = %v, want ErrInUse", err)
	}
	src := storeFile(t)
	if _, _, err := backup.Restore(ctx, src, db, true, time.Now(), nil); !errors.Is(err, boltstore.ErrInUse) {
		t.Errorf("Restore over a store in use = %v, want ErrInUse", err)
	}
	running.Close()
	before, _ := os.ReadFile(db)

	out := filepath.Join(dir, "copy.db")
	if sum, err := backup.Copy(ctx, db, out); err != nil || sum.Bytes == 0 {
		t.Fatalf("Copy of a stopped store = %+v, %v", sum, err)
	}
	if _, _, err := backup.Restore(ctx, src, db, false, time.Now(), nil); !errors.Is(err, backup.ErrExists) {
		t.Errorf("Restore over a store without replace = %v, want ErrExists", err)
	}
	b, _ := os.ReadFile(src)
	const page = 4096
	// The page holding the image's first bytes (a bucket Inspect does not
	// count, so only reading every bucket finds it) made to name another
	// page, as a misplaced write would.
	img := bytes.Index(b, imagePattern)
	if img < 0 || b[img/page*page+8] != 0x02 { // a leaf page's flag
		t.Fatalf("image at %d, not on a leaf page", img)
	}
	misplaced := slices.Clone(b)
	misplaced[img/page*page] ^= 0x5a
	for name, data := range map[string][]byte{"cut short": b[:2*page], "with a misplaced page": misplaced} {
		damaged := filepath.Join(t.TempDir(), "damaged.db")
		if err := os.WriteFile(damaged, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := backup.Restore(ctx, damaged, db, true, time.Now(), nil); !errors.Is(err, boltstore.ErrDamaged) {
			t.Errorf("Restore of a copy %s = %v, want ErrDamaged", name, err)
		}
	}
	at := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	sum, kept, err := backup.Restore(ctx, src, db, true, at, nil)
	if err != nil || sum.Submissions != 1 {
		t.Fatalf("Restore = %+v, %v", sum, err)
	}
	if kept != db+".replaced-20261204T060000Z" {
		t.Errorf("kept %q", kept)
	}
	if k, _ := os.ReadFile(kept); !bytes.Equal(k, before) {
		t.Error("the replaced store was not kept byte for byte")
	}
	if got, err := boltstore.Inspect(ctx, db); err != nil || got.Submissions != 1 {
		t.Errorf("restored store = %+v, %v", got, err)
	}
}

// imagePattern makes up the image of storeFile's submission.
var imagePattern = []byte("KYC-PAGE")

// storeFile is a stopped store file holding one submission.
func storeFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "central.db")
	st, err := boltstore.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	centraltest.StoreSubmission(t, st, central.Submission{DeviceID: "dev-1", Key: protocol.SubmissionKey("s"), ID: "s",
		ManifestHash: []byte("s"), CreatedAt: now, ReceivedAt: now, Verdict: "ok", Payload: json.RawMessage(`{}`)},
		map[string][]byte{"a.jpg": bytes.Repeat(imagePattern, 2500)}, protocol.MaxChunkSize)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveCopy answers every request with the copy b and its Repr-Digest,
// as central's backup endpoint does, until the test ends.
func serveCopy(t *testing.T, b []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Repr-Digest", "sha-256=:"+b64sum(b)+":")
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchDiskFull: a disk that fills mid-download (the process's file
// size limit, which makes a write fail as a full disk does) fails the
// fetch, saying so, and leaves the previous copy and nothing beside it.
func TestFetchDiskFull(t *testing.T) {
	b, err := os.ReadFile(storeFile(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveCopy(t, b)
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(out, []byte("the previous copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Over the limit a write fails with EFBIG instead of killing the
	// process (SIGXFSZ ignored); both are put back before the test ends.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	limit := was
	limit.Cur = uint64(len(b) / 2)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot limit file sizes: %v", err)
	}
	_, err = backup.Fetch(context.Background(), srv.Client(), srv.URL, "token", out)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("Fetch onto a full disk = %v, want the write's error", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "the previous copy" {
		t.Error("the previous copy was replaced")
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
		t.Errorf("%d files left beside the copy", len(entries))
	}
}

// TestRestoreNotAFile: a copy named by a FIFO or a device is refused at
// once (opening a FIFO would wait for a writer without end), and one
// named by a symbolic link to a copy is restored (the copy is read once,
// into the file checked and renamed into place).
func TestRestoreNotAFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "copy.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "central.db")
	for _, from := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() {
			_, _, err := backup.Restore(ctx, from, db, false, time.Now(), nil)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, boltstore.ErrDamaged) {
				t.Errorf("Restore from %s = %v, want ErrDamaged", from, err)
			}
		case <-time.After(30 * time.Second): // a bound on a hang, not a wait
			// Unblock the open so the goroutine ends.
			if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				f.Close()
			}
			t.Fatalf("Restore from %s still running after 30 s", from)
		}
	}
	link := filepath.Join(dir, "copy.db")
	if err := os.Symlink(storeFile(t), link); err != nil {
		t.Fatal(err)
	}
	if sum, _, err := backup.Restore(ctx, link, db, false, time.Now(), nil); err != nil || sum.Submissions != 1 {
		t.Errorf("Restore from a symbolic link to a copy = %+v, %v", sum, err)
	}
	if fi, err := os.Lstat(db); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the restored store: %v, %v; want a regular file", fi, err)
	}
}

// TestSharedStageKept: with no StageDir, copies are staged in the system's
// temporary folder, shared with other programs and centrals, so Mount
// removes nothing there (it looked in the working folder).
func TestSharedStageKept(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	other := filepath.Join(dir, ".backup-1234")
	if err := os.WriteFile(other, []byte("not this central's"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := boltstore.Open(filepath.Join(dir, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := centraltest.New(t, raw, centraltest.Options{})
	if !backup.Mount(c.Server, backup.Config{Source: raw, Store: c.Store}) {
		t.Fatal("backup not mounted")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file of the working folder: %v", err)
	}
}
