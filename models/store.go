package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Environment variables that locate installed files.
const (
	// HomeEnv is the root of the product's cache (default
	// $XDG_CACHE_HOME/openkyc, or ~/.cache/openkyc).
	HomeEnv = "KYC_HOME"
	// DirEnv overrides the model directory (default $KYC_HOME/models).
	DirEnv = "KYC_MODELS_DIR"
	// MirrorEnv names a folder or http(s) base URL that mirrors upstream
	// model URLs (in this workplace: ../shared/models).
	MirrorEnv = "KYC_MODEL_MIRROR"
	// RuntimeEnv overrides the ONNX Runtime library path.
	RuntimeEnv = "KYC_ORT_LIB"
)

var (
	// ErrNotInstalled is returned when an entry's file is absent: run
	// `kyc models install`.
	ErrNotInstalled = errors.New("model not installed")
	// ErrCorrupt is returned when an installed file's size or sha256 does
	// not match the manifest: it was altered or damaged, and is refused.
	ErrCorrupt = errors.New("model file corrupt or altered")
)

// Store is an installation directory for a manifest's entries.
type Store struct {
	Dir      string
	Manifest *Manifest
	// RuntimeOverride, when set, is used as the ONNX Runtime library path
	// instead of the installed one (and is not hash-checked: it is the
	// operator's explicit choice).
	RuntimeOverride string

	mu       sync.Mutex
	verified map[string]string // name -> verified path, so a process hashes each file once
}

// DefaultDir returns the model directory from the environment.
func DefaultDir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return d, nil
	}
	home, err := Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "models"), nil
}

// Home returns the product's cache root from the environment.
func Home() (string, error) {
	if d := os.Getenv(HomeEnv); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory (set %s): %w", HomeEnv, err)
	}
	return filepath.Join(c, "openkyc"), nil
}

// DefaultStore returns the store the binaries use: the embedded manifest in
// the default directory, with the runtime override from the environment.
func DefaultStore() (*Store, error) {
	dir, err := DefaultDir()
	if err != nil {
		return nil, err
	}
	return &Store{Dir: dir, Manifest: Default(), RuntimeOverride: os.Getenv(RuntimeEnv)}, nil
}

// FilePath is where entry e is installed.
func (s *Store) FilePath(e Entry) string {
	return filepath.Join(s.Dir, e.Name, e.Version, e.File)
}

// Status of one entry on disk.
type Status struct {
	Entry
	Path      string `json:"path"`
	Installed bool   `json:"installed"`
	Verified  bool   `json:"verified"`
	Problem   string `json:"problem,omitempty"`
}

// Verify hashes every installed entry and reports each one's status; the
// error is non-nil (and names the files) when any entry is missing or
// corrupt.
func (s *Store) Verify() ([]Status, error) {
	var out []Status
	var bad []error
	for _, e := range s.Manifest.Entries {
		st := Status{Entry: e, Path: s.FilePath(e)}
		err := checkFile(st.Path, e)
		switch {
		case err == nil:
			st.Installed, st.Verified = true, true
		case errors.Is(err, ErrNotInstalled):
			st.Problem = err.Error()
			bad = append(bad, err)
		default:
			st.Installed = true
			st.Problem = err.Error()
			bad = append(bad, err)
		}
		out = append(out, st)
	}
	return out, errors.Join(bad...)
}

// List reports each entry's status by file size only (no hashing), for a
// quick overview; Verify is the real check.
func (s *Store) List() []Status {
	var out []Status
	for _, e := range s.Manifest.Entries {
		st := Status{Entry: e, Path: s.FilePath(e)}
		if fi, err := os.Stat(st.Path); err == nil {
			st.Installed = true
			if fi.Size() != e.Size {
				st.Problem = fmt.Sprintf("size %d, manifest says %d", fi.Size(), e.Size)
			}
		}
		out = append(out, st)
	}
	return out
}

// Path returns the installed, verified path of the named entry. Each file
// is hashed once per Store: a model swapped on disk is a way to defeat a
// liveness check, so nothing is loaded unchecked.
func (s *Store) Path(name string) (string, error) {
	e, err := s.Manifest.Lookup(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.verified[name]; ok {
		return p, nil
	}
	p := s.FilePath(e)
	if err := checkFile(p, e); err != nil {
		return "", err
	}
	if s.verified == nil {
		s.verified = map[string]string{}
	}
	s.verified[name] = p
	return p, nil
}

// RuntimeLibrary returns the ONNX Runtime library path: the override when
// one is set, else the verified installed runtime.
func (s *Store) RuntimeLibrary() (string, error) {
	if s.RuntimeOverride != "" {
		return s.RuntimeOverride, nil
	}
	for _, e := range s.Manifest.Entries {
		if e.Kind == KindRuntime {
			return s.Path(e.Name)
		}
	}
	return "", fmt.Errorf("%w: no runtime entry", ErrUnknownModel)
}

// checkFile verifies size and sha256 of the file at path against e.
func checkFile(path string, e Entry) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s (%s): run `kyc models install`", ErrNotInstalled, e.Name, path)
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	defer f.Close()
	sum, n, err := hashReader(f)
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if n != e.Size || sum != e.SHA256 {
		return fmt.Errorf("%w: %s (%s): sha256 %s, %d bytes; manifest says %s, %d bytes",
			ErrCorrupt, e.Name, path, sum, n, e.SHA256, e.Size)
	}
	return nil
}

func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
