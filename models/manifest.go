// Package models is the product's model manifest and installer: which model
// files (and the ONNX Runtime library) the engine uses, where each comes
// from, and a store that installs them into a cache directory outside git,
// checks every sha256 and hands out verified paths. Weights are installed,
// never committed.
package models

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

//go:embed manifest.json
var manifestJSON []byte

// Kind says what an entry is used for.
type Kind string

// Entry kinds.
const (
	KindModel   Kind = "model"
	KindRuntime Kind = "runtime"
	KindData    Kind = "data"
)

// Source says where an entry's bytes are published: either a file inside an
// npm package (fetched with the npm client), or an upstream URL that a
// configured mirror may stand in for.
type Source struct {
	NPM        string `json:"npm,omitempty"`  // package@version, or a local package folder in tests
	Path       string `json:"path,omitempty"` // file path inside the npm package
	URL        string `json:"url,omitempty"`
	MirrorPath string `json:"mirror_path,omitempty"` // path below the mirror root
}

// Entry is one installable file.
type Entry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Kind    Kind   `json:"kind"`
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	License string `json:"license"`
	Purpose string `json:"purpose"`
	Source  Source `json:"source"`
}

// Manifest is the list of everything the product installs.
type Manifest struct {
	Format  int     `json:"format"`
	Entries []Entry `json:"entries"`
}

// ErrUnknownModel is returned when a name is not in the manifest.
var ErrUnknownModel = errors.New("model not in manifest")

// Default returns the manifest compiled into the binary.
func Default() *Manifest {
	m, err := ParseManifest(manifestJSON)
	if err != nil {
		// The embedded manifest is checked by the package tests; a broken
		// one is a build defect, not a run-time condition.
		panic(fmt.Sprintf("embedded model manifest: %v", err))
	}
	return m
}

var (
	hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	safeName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// ParseManifest decodes and validates a manifest.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding model manifest: %w", err)
	}
	if m.Format != 1 {
		return nil, fmt.Errorf("model manifest format %d not supported", m.Format)
	}
	seen := map[string]bool{}
	for i, e := range m.Entries {
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("model manifest entry %d (%s): %w", i, e.Name, err)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("model manifest: %s listed twice", e.Name)
		}
		seen[e.Name] = true
	}
	return &m, nil
}

func (e Entry) validate() error {
	switch {
	case !safeName.MatchString(e.Name), !safeName.MatchString(e.Version), !safeName.MatchString(e.File):
		return errors.New("name, version and file must be plain file-name words")
	case e.Kind != KindModel && e.Kind != KindRuntime && e.Kind != KindData:
		return fmt.Errorf("unknown kind %q", e.Kind)
	case !hexSHA256.MatchString(e.SHA256):
		return errors.New("sha256 must be 64 lowercase hex digits")
	case e.Size <= 0:
		return errors.New("size must be positive")
	case e.License == "":
		return errors.New("license missing")
	case (e.Source.NPM == "") == (e.Source.URL == ""):
		return errors.New("source needs exactly one of npm or url")
	case e.Source.NPM != "" && e.Source.Path == "":
		return errors.New("npm source needs the path inside the package")
	}
	return nil
}

// Lookup returns the entry called name.
func (m *Manifest) Lookup(name string) (Entry, error) {
	for _, e := range m.Entries {
		if e.Name == name {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: %s", ErrUnknownModel, name)
}
