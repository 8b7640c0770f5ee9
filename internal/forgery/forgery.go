// Package forgery builds the document forgery benchmark of `kyc eval
// documents` from the PassportEye specimens in ../shared/data/mrz: each
// specimen unchanged, re-saved as a phone, a messenger or a webcam would,
// and forged as a fraudster would (portrait substitution, glyph-cloned
// dates in the visual zone and the MRZ with check digits recomputed, a
// pasted field, the full digital forgery of issue 16), and reproduced on
// paper or a screen (simulated, and labelled so). Every sample follows
// from the seed alone and is rendered into a folder the caller gives (a
// temporary one, never the repository).
//
// It lives under internal/ because it is test tooling, not a part of the
// product: the engine detects forgeries, this makes them, and only the
// CLI's evaluation and tests link it. The specimens are split by document
// (a file and its other encoding stay together) into a calibration half,
// on which thresholds may be chosen, and a report half, which only reports.
package forgery

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ocr"
)

// Group is the kind of a category: genuine ones and the attacks.
type Group string

const (
	GroupGenuine  Group = "genuine, unchanged"
	GroupResaved  Group = "genuine, re-saved"
	GroupPortrait Group = "portrait substitution"
	GroupField    Group = "field edit"
	GroupFull     Group = "full forgery"
	GroupPrint    Group = "print (simulated)"
	GroupScreen   Group = "screen (simulated)"
)

// Groups lists the groups in report order.
func Groups() []Group {
	return []Group{GroupGenuine, GroupResaved, GroupPortrait, GroupField, GroupFull, GroupPrint, GroupScreen}
}

// Genuine reports whether g holds genuine documents (the false-positive
// side of the benchmark).
func (g Group) Genuine() bool { return g == GroupGenuine || g == GroupResaved }

// Category is one way of making a sample.
type Category struct {
	Name  string `json:"name"`
	Group Group  `json:"group"`
}

// The categories, in report order.
var (
	CatUnchanged      = Category{"unchanged", GroupGenuine}
	CatQ75            = Category{"re-saved JPEG q75", GroupResaved}
	CatQ80            = Category{"re-saved JPEG q80", GroupResaved}
	CatQ85            = Category{"re-saved JPEG q85", GroupResaved}
	CatQ90            = Category{"re-saved JPEG q90", GroupResaved}
	CatQ95            = Category{"re-saved JPEG q95", GroupResaved}
	CatQ95Q75         = Category{"re-saved q95 then q75", GroupResaved}
	CatWebcam         = Category{"webcam MJPEG frame, re-encoded q90 (simulated)", GroupResaved}
	CatPhotoHard      = Category{"portrait from a photo, hard edge, q90", GroupPortrait}
	CatPhotoBlend     = Category{"portrait from a photo, blended, q90", GroupPortrait}
	CatDocHard        = Category{"portrait from another document, hard edge, q90", GroupPortrait}
	CatDocBlend       = Category{"portrait from another document, blended, q90", GroupPortrait}
	CatVIZClone       = Category{"expiry year cloned from the page's glyphs (visual zone), q90", GroupField}
	CatMRZClone       = Category{"MRZ expiry cloned, check digits recomputed, q90", GroupField}
	CatPastedField    = Category{"expiry year pasted on another background, q90", GroupField}
	CatFullPNG        = Category{"portrait + expiry (VIZ and MRZ), PNG", GroupFull}
	CatFullQ90        = Category{"portrait + expiry (VIZ and MRZ), JPEG q90", GroupFull}
	CatFullQ95Q75     = Category{"portrait + expiry (VIZ and MRZ), q95 then q75", GroupFull}
	CatPrintHalftone  = Category{"colour halftone print, photographed", GroupPrint}
	CatPrintInkjet    = Category{"inkjet error-diffusion print, photographed", GroupPrint}
	CatPhotocopy      = Category{"black-and-white photocopy, photographed", GroupPrint}
	CatScreenReplayed = Category{"shown on a display, photographed", GroupScreen}
)

// Categories lists every category in report order.
func Categories() []Category {
	return []Category{CatUnchanged, CatQ75, CatQ80, CatQ85, CatQ90, CatQ95, CatQ95Q75, CatWebcam,
		CatPhotoHard, CatPhotoBlend, CatDocHard, CatDocBlend, CatVIZClone, CatMRZClone, CatPastedField,
		CatFullPNG, CatFullQ90, CatFullQ95Q75, CatPrintHalftone, CatPrintInkjet, CatPhotocopy, CatScreenReplayed}
}

// Sample is one rendered file of the benchmark.
type Sample struct {
	Specimen    string   `json:"specimen"`
	Category    Category `json:"category"`
	Calibration bool     `json:"calibration"`
	// Path is the rendered file (the specimen itself when unchanged).
	Path string `json:"path"`
	// Note says what was changed (the edited characters, the donor).
	Note string `json:"note,omitempty"`
	// Donor is the photo whose face replaced the portrait, when one did:
	// the fraudster's own selfie matches it.
	Donor string `json:"donor,omitempty"`
}

// Skipped is a sample that could not be made from a specimen (no
// portrait found, no MRZ read, no glyph to clone).
type Skipped struct {
	Specimen string   `json:"specimen"`
	Category Category `json:"category"`
	Why      string   `json:"why"`
}

// Tools are the models the generator uses to find where to forge: the
// printed portrait and the text lines, on the photo as it is.
type Tools struct {
	OCR interface {
		Read(ctx context.Context, img gocv.Mat, opt ocr.DecodeOptions) ([]ocr.Line, error)
	}
	Faces face.Detector
}

// Options select what is built.
type Options struct {
	// Data is the shared data folder (mrz/passporteye, liveness/interfaces_cc0).
	Data string
	// Dir receives the rendered files.
	Dir string
	// Seed makes every random choice; the same seed renders the same files.
	Seed uint64
	// Split is "calibration", "report" or "" (both).
	Split string
	// Limit keeps the first Limit specimens of each half (0: all).
	Limit int
	// Only, when not empty, keeps the specimens of these file names.
	Only []string
}

// Set is the benchmark.
type Set struct {
	Samples []Sample  `json:"samples"`
	Skipped []Skipped `json:"skipped"`
}

// Specimens lists the specimen files and whether each is in the
// calibration half: documents (file names without extension) sorted, every
// other one for calibration, so a specimen's JPEG and PNG stay together.
func Specimens(data string) ([]string, map[string]bool, error) {
	dir := filepath.Join(data, "mrz", "passporteye")
	var files []string
	for _, ext := range []string{"*.jpg", "*.png"} {
		m, _ := filepath.Glob(filepath.Join(dir, ext))
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no specimens in %s", dir)
	}
	sort.Strings(files)
	var docs []string
	for _, f := range files {
		d := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		if len(docs) == 0 || docs[len(docs)-1] != d {
			docs = append(docs, d)
		}
	}
	calib := map[string]bool{}
	for i, d := range docs {
		calib[d] = i%2 == 0
	}
	return files, calib, nil
}

// specimen is one document as loaded, with where its parts are.
type specimen struct {
	name  string // file name
	path  string
	raw   []byte
	img   gocv.Mat
	calib bool
	// pos is the file's place among all specimens: its samples' seed, so
	// they are the same whichever half or subset is built.
	pos    int
	layout layout
}

// Build renders the benchmark. The caller removes opts.Dir.
func Build(ctx context.Context, opts Options, tools Tools, progress func(string)) (*Set, error) {
	if progress == nil {
		progress = func(string) {}
	}
	files, calib, err := Specimens(opts.Data)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	var specs []*specimen
	taken := map[bool]int{}
	for pos, f := range files {
		c := calib[strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))]
		if (opts.Split == "calibration" && !c) || (opts.Split == "report" && c) {
			continue
		}
		if opts.Limit > 0 && taken[c] >= opts.Limit {
			continue
		}
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, filepath.Base(f)) {
			continue
		}
		taken[c]++
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		img, err := imageio.Decode(raw, imageio.DefaultMaxPixels)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		s := &specimen{name: filepath.Base(f), path: f, raw: raw, img: img, calib: c, pos: pos}
		if s.layout, err = findLayout(ctx, img, tools); err != nil {
			closeAll(specs)
			img.Close()
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		specs = append(specs, s)
		progress(fmt.Sprintf("layout %s: portrait %v, %d text lines, MRZ %v", s.name, s.layout.portrait != image.Rectangle{}, len(s.layout.lines), s.layout.mrz != nil))
	}
	defer closeAll(specs)
	donors, err := photoDonors(opts.Data)
	if err != nil {
		return nil, err
	}
	set := &Set{}
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rng := rand.New(rand.NewPCG(opts.Seed, uint64(s.pos)*7919+1))
		g := &gen{s: s, rng: rng, dir: opts.Dir, set: set, specs: specs, donors: donors}
		if err := g.all(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		progress(fmt.Sprintf("rendered %s", s.name))
	}
	return set, nil
}

func closeAll(specs []*specimen) {
	for _, s := range specs {
		s.img.Close()
	}
}

// photoDonors lists the interfaces_cc0 portraits, the faces pasted as
// "a photo".
func photoDonors(data string) ([]string, error) {
	m, _ := filepath.Glob(filepath.Join(data, "liveness", "interfaces_cc0", "*.jpg"))
	if len(m) == 0 {
		return nil, fmt.Errorf("no portraits in %s", filepath.Join(data, "liveness", "interfaces_cc0"))
	}
	sort.Strings(m)
	return m, nil
}
