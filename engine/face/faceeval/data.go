package faceeval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Image is one photo of a known identity.
type Image struct {
	Path     string
	Identity string
}

// Pair is two photos and whether they show the same person.
type Pair struct {
	A, B string
	Same bool
}

// imageExts are the files LoadFolders takes as photos.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".pgm": true, ".bmp": true, ".tif": true, ".tiff": true, ".webp": true}

// LoadFolders reads a folder-per-identity set: every sub-folder of dir is an
// identity and its image files are its photos. When patterns is not empty
// only identities matching one of them (path.Match syntax, e.g. "s1?") are
// kept, so one set can be split into a calibration and a test part.
func LoadFolders(dir string, patterns []string) ([]Image, error) {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("identity pattern %q: %w", p, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading face set %s: %w", dir, err)
	}
	var out []Image
	for _, e := range entries {
		if !e.IsDir() || !matchAny(patterns, e.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading face set %s: %w", dir, err)
		}
		for _, f := range files {
			if !f.IsDir() && imageExts[strings.ToLower(filepath.Ext(f.Name()))] {
				out = append(out, Image{Path: filepath.Join(dir, e.Name(), f.Name()), Identity: e.Name()})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("face set %s: no images in identity folders", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func matchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// AllPairs compares every image with every other once.
func AllPairs(images []Image) []Pair {
	var out []Pair
	for i := range images {
		for j := i + 1; j < len(images); j++ {
			out = append(out, Pair{A: images[i].Path, B: images[j].Path, Same: images[i].Identity == images[j].Identity})
		}
	}
	return out
}

// ReadPairsCSV reads a pairs file with the header file_x,file_y,Decision
// (the layout of common face-verification benchmarks); relative file names
// are taken from baseDir. Decision is 1/0, true/false, same/different or
// match/no_match.
func ReadPairsCSV(r io.Reader, baseDir string) ([]Pair, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading pairs header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	ix, okx := col["file_x"]
	iy, oky := col["file_y"]
	id, okd := col["decision"]
	if !okx || !oky || !okd {
		return nil, fmt.Errorf("pairs header %q: want columns file_x, file_y, Decision", strings.Join(header, ","))
	}
	var out []Pair
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading pairs line %d: %w", line, err)
		}
		if len(rec) <= max(ix, iy, id) {
			return nil, fmt.Errorf("pairs line %d: %d fields", line, len(rec))
		}
		same, err := parseDecision(rec[id])
		if err != nil {
			return nil, fmt.Errorf("pairs line %d: %w", line, err)
		}
		a, b := strings.TrimSpace(rec[ix]), strings.TrimSpace(rec[iy])
		if a == "" || b == "" {
			return nil, fmt.Errorf("pairs line %d: empty file name", line)
		}
		out = append(out, Pair{A: resolve(baseDir, a), B: resolve(baseDir, b), Same: same})
	}
	if len(out) == 0 {
		return nil, errors.New("pairs file has no pairs")
	}
	return out, nil
}

func resolve(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

func parseDecision(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "same", "match", "yes":
		return true, nil
	case "different", "no_match", "no":
		return false, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("decision %q: want 1/0, true/false, same/different", s)
	}
	return b, nil
}

// CrossPairs compares every image with every other both ways: when the A
// side is taken differently from the B side (a photo printed on a card
// against a selfie), (i, j) and (j, i) are different comparisons.
func CrossPairs(images []Image) []Pair {
	var out []Pair
	for i := range images {
		for j := range images {
			if i != j {
				out = append(out, Pair{A: images[i].Path, B: images[j].Path, Same: images[i].Identity == images[j].Identity})
			}
		}
	}
	return out
}
