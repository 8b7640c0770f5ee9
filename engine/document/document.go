// Package document runs the document half of the engine on a captured ID
// photo: it finds and rectifies the document, reads it (OCR, the MRZ),
// classifies it and extracts its fields, runs forensics and document
// liveness, and finds the printed portrait for the face match. The
// independent pipelines run in parallel; the text-level steps that need
// their results run after.
//
// Four checks need the reading or a face model, so this package runs them
// beside package forensics: mrz_visual_consistency (a birth or expiry date on
// which the visual zone and the MRZ disagree, not by a day/month swap or a
// century, where the MRZ's check digit validates; a differing document
// number is shown but never fires), date_logic (dates that cannot all be
// true: an issue before the birth or after the expiry, a passport valid
// longer than 11 years), portrait_missing (a passport data page,
// TD3, with no face on the page or the photo: review only, since glare
// hides a face too) and portrait_ghost_identity (forensics.GhostIdentity:
// a ghost image of 40 pixels and more compared with the portrait through
// the FaceEmbedder the caller hands in; this package runs no face model of
// its own). The portrait's face is handed on as found, for the match to
// embed without detecting it again.
package document

import (
	"context"
	"errors"
	"fmt"
	"image"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/document/locate"
	"github.com/openkyc/kyc/engine/document/mrz"
	"github.com/openkyc/kyc/engine/document/mrzread"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/internal/timing"
	"github.com/openkyc/kyc/engine/ocr"
)

// ErrNoOCR is returned by New without an OCR engine.
var ErrNoOCR = errors.New("document: an OCR engine is required")

// Config wires the components an Analyzer uses; the caller owns them.
type Config struct {
	OCR *ocr.Engine
	// MRZ reads machine readable zones; nil means mrzread.New(OCR).
	MRZ *mrzread.Reader
	// Faces finds the printed portrait; nil skips the portrait.
	Faces face.Detector
	// Embedder describes faces for the ghost image's identity check
	// (forensics.GhostIdentity); nil skips that check.
	Embedder FaceEmbedder
	// AgeGender judges the portrait's apparent sex against the MRZ's
	// (forensics.PortraitSex); nil skips that check.
	AgeGender AgeGenderEstimator
	// Forensics tunes the forensic and liveness checks; nil means
	// forensics.DefaultOptions().
	Forensics *forensics.Options
	// RectifyWidth is the width of the rectified document (800 pixels,
	// about 240 DPI for an ID-1 card: text stays well above the size the
	// recogniser reads best at, and detection costs less than at 1000).
	RectifyWidth int
	// Now is the clock expiry is judged by; nil means time.Now.
	Now func() time.Time
}

// Analyzer runs the document pipelines. It is safe for concurrent use when
// its components are.
type Analyzer struct {
	cfg Config
}

// New checks cfg and returns an Analyzer.
func New(cfg Config) (*Analyzer, error) {
	if cfg.OCR == nil {
		return nil, ErrNoOCR
	}
	if cfg.MRZ == nil {
		cfg.MRZ = mrzread.New(cfg.OCR)
	}
	if cfg.Forensics == nil {
		o := forensics.DefaultOptions()
		cfg.Forensics = &o
	}
	if cfg.RectifyWidth <= 0 {
		cfg.RectifyWidth = 800
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Analyzer{cfg: cfg}, nil
}

// Image is one side of the document as captured: its file bytes (for the
// JPEG and metadata forensics) and its decoded BGR pixels.
type Image struct {
	Raw []byte
	Mat gocv.Mat
}

// Side describes where the document was found on one image.
type Side struct {
	Found  bool        `json:"found"`
	Quad   locate.Quad `json:"quad,omitempty"`
	Format string      `json:"format"`
	// Rotation is the turn, in degrees clockwise (0, 90, 180 or 270),
	// applied to the rectified page (to the photo when no outline was
	// found) to bring the text upright; the portrait's box is on the page
	// so turned.
	Rotation int `json:"rotation"`
	// Lines is the number of text lines read.
	Lines int `json:"lines"`
	// Text holds the lines read, top to bottom, for the operator view.
	Text []string `json:"text"`
}

// Portrait is the face printed on the document, in the rectified front.
type Portrait struct {
	Box   face.Box `json:"box"`
	Score float64  `json:"score"`
}

// PortraitCrop is the printed portrait as the face match takes it: a crop
// of the rectified front around the face, and the face found on the page,
// in the crop's coordinates. Its landmarks serve the match as they are:
// detecting the face again in the crop costs a detector run and matched no
// better (on 40 portraits of 8 people against 160 genuine photos, mean
// similarity 0.571 detected again, 0.577 as found on the page).
type PortraitCrop struct {
	Image gocv.Mat
	Face  face.Face
}

// Result is the document half of a verification.
type Result struct {
	Type       fields.DocType          `json:"type"`
	Country    string                  `json:"country"`
	Confidence float64                 `json:"confidence"`
	Fields     map[string]fields.Field `json:"fields"`
	MRZ        *mrz.Result             `json:"mrz"`
	Mismatches []fields.Mismatch       `json:"mismatches"`
	Expired    bool                    `json:"expired"`
	NIK        *fields.NIK             `json:"nik,omitempty"`
	Age        *fields.Age             `json:"age,omitempty"`
	Forensics  forensics.Authenticity  `json:"forensics"`
	Liveness   forensics.Liveness      `json:"liveness"`
	Portrait   *Portrait               `json:"portrait"`
	Front      Side                    `json:"front"`
	Back       *Side                   `json:"back,omitempty"`
	TimingsMS  map[string]float64      `json:"timings_ms"`

	// PortraitCrop is the portrait cut from the rectified front, for the
	// face match; its Image is empty when no portrait was found. Close
	// releases it.
	PortraitCrop PortraitCrop `json:"-"`
}

// Close releases the portrait image.
func (r *Result) Close() error {
	if r != nil && r.PortraitCrop.Image.Ptr() != nil {
		return r.PortraitCrop.Image.Close()
	}
	return nil
}

// page is one side after finding, rectifying and reading it.
type page struct {
	side  Side
	img   gocv.Mat // rectified and upright (or the whole photo)
	lines []ocr.Line
	mrz   *mrz.Result
	// portrait and portraitCrop are the printed face, looked for on the
	// front only; the box is on img once the page is read.
	portrait     *Portrait
	portraitCrop PortraitCrop
	// ghost compares the ghost image with the portrait, when the page
	// shows one (AnalyzeGhost, and GhostIdentity when it is large enough).
	ghost []forensics.Check
	// portraitChecks are the portrait's forensics, run on the photo as
	// soon as the portrait is found (nil until then).
	portraitChecks []forensics.Check
	// mrzOutside says the page showed no MRZ while the photo around it
	// did: the outline is not the whole document.
	mrzOutside bool
}

func (p *page) close() {
	p.img.Close()
	if p.portraitCrop.Image.Ptr() != nil {
		p.portraitCrop.Image.Close()
	}
}

// Analyze runs every pipeline on the front and, when given, the back.
// onPortrait, when not nil, is called as soon as the printed portrait is
// cut out, from a goroutine of its own and while the text is still being
// read, so that a face match need not wait for the OCR; the crop's Mat is
// valid only during the call.
func (a *Analyzer) Analyze(ctx context.Context, front Image, back *Image, onPortrait func(PortraitCrop)) (*Result, error) {
	if front.Mat.Empty() {
		return nil, fmt.Errorf("document: %w", ocr.ErrBadImage)
	}
	// Every stage reads 8-bit BGR; OpenCV aborts the process on some
	// other depths (a 16-bit photo decoded as such, its edges found).
	for _, side := range []*Image{&front, back} {
		if side != nil && !side.Mat.Empty() && side.Mat.Type() != gocv.MatTypeCV8UC3 {
			return nil, fmt.Errorf("document: %w (got %dx%d type %v)", ocr.ErrBadImage, side.Mat.Cols(), side.Mat.Rows(), side.Mat.Type())
		}
	}
	// A photo forensics would refuse is refused before the page is read:
	// otherwise every model ran on it first, for seconds.
	// A strip also costs the MRZ search a page scaled up to its width.
	for _, side := range []*Image{&front, back} {
		if side != nil && forensics.Narrow(side.Mat.Cols(), side.Mat.Rows()) {
			return nil, fmt.Errorf("document: %w: a %dx%d photo, need %d pixels on each side and at most %d times as long as wide",
				forensics.ErrTooSmall, side.Mat.Cols(), side.Mat.Rows(), forensics.MinSide, forensics.MaxAspect)
		}
	}
	start := time.Now()
	t := timing.New()
	res := &Result{TimingsMS: t.Map()}

	var (
		wg                 sync.WaitGroup
		fr                 forensics.Report
		frontPage          *page
		backPage           *page
		frErr, fpErr, bErr error
	)
	// The front is found first: forensics then looks at the document
	// alone, not at the desk around it.
	s := time.Now()
	loc, err := locate.Find(front.Mat, locate.Options{})
	if err != nil {
		return nil, fmt.Errorf("finding the document (front): %w", err)
	}
	t.Since("front_locate", s)
	fopt := *a.cfg.Forensics
	// The portrait's checks read the photo, whose JPEG grid a turn by its
	// EXIF orientation may have moved.
	fopt.GridOrigin = forensics.GridOrigin(front.Raw)
	photo := image.Pt(front.Mat.Cols(), front.Mat.Rows())
	outline := outlineOf(loc)
	covers, _ := forensics.PageCoverage(outline, photo, fopt)
	if covers {
		fopt.Region = loc.Quad.Bounds()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := time.Now()
		fr, frErr = forensics.Analyze(ctx, front.Raw, front.Mat, fopt)
		t.Since("forensics", s)
	}()
	if back != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			backPage, bErr = a.readPage(ctx, back.Mat, nil, "back", t, nil, fopt)
		}()
	}
	if onPortrait == nil {
		onPortrait = func(PortraitCrop) {}
	}
	frontPage, fpErr = a.readPage(ctx, front.Mat, &loc, "front", t, onPortrait, fopt)
	wg.Wait()
	defer func() {
		for _, p := range []*page{frontPage, backPage} {
			if p != nil {
				p.close()
			}
		}
	}()
	if err := errors.Join(fpErr, bErr); err != nil {
		return nil, err
	}
	if frErr != nil {
		return nil, fmt.Errorf("document forensics: %w", frErr)
	}
	// The outline may turn out not to be the page once it is read: the
	// MRZ found on the photo but not on the page, the page the portrait
	// alone, or next to no text on it. The photo as a whole is then
	// examined again and, below, read again as the page, as a scan is: its
	// text and portrait are the document's, not those of the part taken
	// for it.
	outline.MRZOutside = loc.Found && frontPage.mrzOutside
	outline.NoText = loc.Found && textChars(frontPage.lines) < pageMinChars
	outline.PortraitFills = loc.Found && frontPage.portrait != nil &&
		frontPage.portrait.Box.Area() > portraitFillsPage*float64(frontPage.img.Cols()*frontPage.img.Rows())
	stillCovers, coverage := forensics.PageCoverage(outline, photo, fopt)
	if covers && !stillCovers {
		s := time.Now()
		fopt.Region = image.Rectangle{}
		if fr, err = forensics.Analyze(ctx, front.Raw, front.Mat, fopt); err != nil {
			return nil, fmt.Errorf("document forensics: %w", err)
		}
		t.Since("forensics_whole_photo", s)
	}
	// Read again when what the outline holds says it is not the page, or
	// when it has no document's shape and no portrait (the text block
	// beside the portrait taken for the card): an outline of an odd shape
	// with the portrait on it (a card seen at an angle) is the page, read
	// better rectified.
	notPage := outline.MRZOutside || outline.NoText || outline.PortraitFills
	if loc.Found && (notPage || !stillCovers && frontPage.portrait == nil) {
		again := onPortrait
		if frontPage.portrait != nil {
			again = func(PortraitCrop) {} // handed on already, from the outline
		}
		whole := locate.Result{}
		wp, err := a.readPage(ctx, front.Mat, &whole, "front_whole", t, again, fopt)
		if err != nil {
			return nil, err
		}
		if frontPage.portrait != nil && wp.portrait == nil {
			wp.close() // the outline's face stays the portrait, with its page
		} else {
			frontPage.close()
			frontPage, loc = wp, whole
		}
	}
	res.Forensics, res.Liveness = fr.Authenticity, fr.Liveness
	res.Forensics.Add(coverage)
	res.Forensics.Add(a.pageChecks(ctx, front.Mat, loc, stillCovers, frontPage, fopt, t)...)

	// The MRZ may be on either side (a TD1 card carries it on the back).
	res.MRZ = frontPage.mrz
	if backPage != nil && backPage.mrz != nil && (res.MRZ == nil || backPage.mrz.ValidScore > res.MRZ.ValidScore) {
		res.MRZ = backPage.mrz
	}
	s = time.Now()
	lines := toFieldLines(frontPage.lines)
	if backPage != nil {
		// Back lines go below the front's, so reading order stays natural.
		off := frontPage.img.Rows()
		for _, l := range toFieldLines(backPage.lines) {
			l.Box = l.Box.Add(image.Pt(0, off))
			lines = append(lines, l)
		}
	}
	size := image.Pt(frontPage.img.Cols(), frontPage.img.Rows())
	ext := fields.Extract(lines, size, res.MRZ, a.cfg.Now())
	t.Since("fields", s)
	res.Type, res.Country, res.Confidence = ext.Type, ext.Country, ext.Confidence
	res.Fields, res.Mismatches, res.Expired, res.NIK, res.Age = ext.Fields, ext.Mismatches, ext.Expired, ext.NIK, ext.Age
	res.Forensics.Add(fieldConsistency(res.MRZ, ext.Mismatches), dateLogic(ext.Type, ext.Fields))
	if c, ok := a.portraitSex(ctx, frontPage, res.MRZ, pageToPhoto(loc, size, frontPage.side.Rotation)); ok {
		res.Forensics.Add(c)
		// The same estimate's age (absent when the sex check did not
		// apply: no M or F in the MRZ, or a child's face).
		if age, ok := c.Evidence["apparent_age"].(float64); ok {
			res.Forensics.Add(portraitAge(ext.Fields, age, a.cfg.Now()))
		}
	}
	if c, ok := a.portraitMissing(frontPage, res.Forensics.Checks); ok {
		res.Forensics.Add(c)
	}
	res.Front = frontPage.side
	if backPage != nil {
		res.Back = &backPage.side
	}

	if frontPage.portrait != nil {
		res.Portrait = frontPage.portrait
		res.PortraitCrop, frontPage.portraitCrop = frontPage.portraitCrop, PortraitCrop{}
	}
	t.Since("total", start)
	return res, nil
}

// readPage finds (unless found is given) and rectifies the document, turns
// it upright, and reads its text and MRZ. opts are the forensics options of
// the portrait's checks.
// onPortrait, when not nil, asks for the printed portrait: it is looked for
// on the rectified page while the text is read.
func (a *Analyzer) readPage(ctx context.Context, img gocv.Mat, found *locate.Result, name string, t *timing.Recorder, onPortrait func(PortraitCrop), opts forensics.Options) (*page, error) {
	s := time.Now()
	stage := name + "_rectify"
	if found == nil {
		loc, err := locate.Find(img, locate.Options{})
		if err != nil {
			return nil, fmt.Errorf("finding the document (%s): %w", name, err)
		}
		found, stage = &loc, name+"_locate" // finding and rectifying
	}
	loc := *found
	var err error
	p := &page{side: Side{Found: loc.Found, Format: string(loc.Format), Text: []string{}}}
	if loc.Found {
		p.side.Quad = loc.Quad
		if p.img, err = locate.Rectify(img, loc, a.cfg.RectifyWidth); err != nil {
			return nil, fmt.Errorf("rectifying the document (%s): %w", name, err)
		}
	} else {
		// A scan or a tight crop: the whole image is the document.
		p.img = img.Clone()
	}
	t.Since(stage, s)

	var portraitDone chan error
	if onPortrait != nil && a.cfg.Faces != nil {
		// Its own copy: reading the text may turn p.img upside down.
		rect := p.img.Clone()
		portraitDone = make(chan error, 1)
		go func() {
			defer rect.Close()
			s := time.Now()
			pr, crop, ghost, err := a.findPortrait(ctx, rect)
			if err == nil && pr != nil && !upright(crop.Face) {
				// A face found turned is found poorly (a box too small or
				// too large, or a pattern of the page taken for one): it is
				// looked for again once the page is upright.
				crop.Image.Close()
				pr = nil
			}
			if err == nil && pr != nil {
				p.portrait, p.portraitCrop, p.ghost = pr, crop, ghost
				onPortrait(crop)
			}
			t.Since(name+"_portrait", s)
			if err == nil && pr != nil {
				// The portrait's forensics, while the text is still read.
				s := time.Now()
				p.portraitChecks = a.portraitChecks(ctx, img, loc, image.Pt(rect.Cols(), rect.Rows()), p, 0, opts)
				t.Since("forensics_portrait", s)
			}
			portraitDone <- err
		}()
	}

	s = time.Now()
	lines, rot, err := a.readUpright(ctx, &p.img)
	if err != nil {
		if portraitDone != nil {
			<-portraitDone
		}
		p.close()
		return nil, fmt.Errorf("reading the document text (%s): %w", name, err)
	}
	p.lines, p.side.Rotation, p.side.Lines = lines, rot, len(lines)
	for _, l := range lines {
		p.side.Text = append(p.side.Text, l.Text)
	}
	t.Since(name+"_ocr", s)

	// The MRZ reader reads with the MRZ alphabet and lengths, which the
	// page reading does not. When the page shows a zone, its lines are read
	// again; when it shows none, the zone is looked for only on a document
	// that may carry one (a passport or identity card, or a page the text
	// does not tell), as looking for one that is not there costs a second.
	// The outline found may cut the zone off (a passport page's lower edge
	// lost against the desk, or an inner frame taken for the card), so an
	// imperfect or missing zone is looked for on the whole photo too.
	evidence := hasMRZEvidence(lines)
	if !evidence && !mayCarryMRZ(lines, p.img, a.cfg.Now()) {
		return p, a.finishPortrait(ctx, p, portraitDone, onPortrait, img, loc, opts, t)
	}
	s = time.Now()
	var m *mrz.Result
	err = mrzread.ErrNoMRZ
	if evidence {
		m, err = a.cfg.MRZ.ReadLines(ctx, p.img, lines)
	}
	if err == nil && m.ValidScore < 100 || errors.Is(err, mrzread.ErrNoMRZ) {
		// One search of the whole photo, which holds the page too.
		switch whole, werr := a.cfg.MRZ.Read(ctx, img); {
		case werr == nil && (m == nil || whole.ValidScore > m.ValidScore):
			m, err = whole, nil
			p.mrzOutside = loc.Found && !evidence && whole.ValidScore >= 50
		case werr != nil && !errors.Is(werr, mrzread.ErrNoMRZ):
			err = werr
		}
	}
	switch {
	case err == nil:
		p.mrz = m
	case errors.Is(err, mrzread.ErrNoMRZ):
	default:
		if portraitDone != nil {
			<-portraitDone
		}
		p.close()
		return nil, fmt.Errorf("reading the MRZ (%s): %w", name, err)
	}
	t.Since(name+"_mrz", s)
	return p, a.finishPortrait(ctx, p, portraitDone, onPortrait, img, loc, opts, t)
}

// finishPortrait waits for the portrait search on the page as rectified,
// which takes an upright face only. When the page turned out not to be
// upright, the face is looked for again on the page as the text turned
// it: the detector finds a face upside down poorly (a box too small or too
// large), so the one found there replaces the first; none found, the first
// is moved onto the page as turned. When no face was found at all, the
// text may have misread the page's orientation: the page is searched
// turned by each other quarter, for a face found surely (turnedFaceScore),
// unless the outline is not the whole page, when pageChecks searches the
// photo.
// onPortrait is called once, with the first face taken.
func (a *Analyzer) finishPortrait(ctx context.Context, p *page, done chan error, onPortrait func(PortraitCrop), photo gocv.Mat, loc locate.Result, opts forensics.Options, t *timing.Recorder) error {
	if done == nil {
		return nil
	}
	if err := <-done; err != nil {
		return err
	}
	if p.portrait != nil && p.side.Rotation == 0 {
		return nil
	}
	handed := p.portrait != nil
	var (
		pr    *Portrait
		crop  PortraitCrop
		ghost []forensics.Check
		err   error
	)
	if p.side.Rotation != 0 {
		if pr, crop, ghost, err = a.findUprightPortrait(ctx, p.img, []int{0}, 0); err != nil {
			return err
		}
	}
	switch {
	case pr == nil && handed:
		b := p.portrait.Box
		r := turnRect(rect{b.X, b.Y, b.X + b.W, b.Y + b.H}, unturnedSize(image.Pt(p.img.Cols(), p.img.Rows()), p.side.Rotation), p.side.Rotation)
		p.portrait.Box = face.Box{X: r.x0, Y: r.y0, W: r.x1 - r.x0, H: r.y1 - r.y0}
		return nil
	case pr == nil && loc.Found && !covers(loc, photo, opts):
		// The outline is not the whole page: the photo is searched
		// instead (pageChecks).
		return nil
	case pr == nil:
		// The page as first searched is p.img turned back by the
		// rotation, and p.img itself was searched above.
		var turns []int
		for _, turn := range []int{90, 180, 270} {
			if turn != (360-p.side.Rotation)%360 {
				turns = append(turns, turn)
			}
		}
		if pr, crop, ghost, err = a.findUprightPortrait(ctx, p.img, turns, turnedFaceScore); err != nil || pr == nil {
			return err
		}
	}
	if handed {
		p.portraitCrop.Image.Close()
	}
	p.portrait, p.portraitCrop, p.ghost = pr, crop, ghost
	if !handed {
		onPortrait(crop)
	}
	s := time.Now()
	p.portraitChecks = a.portraitChecks(ctx, photo, loc, image.Pt(p.img.Cols(), p.img.Rows()), p, p.side.Rotation, opts)
	t.Since("forensics_portrait", s)
	return nil
}

// outlineOf is what PageCoverage judges of the outline found.
// pageMinChars is the least printed text, in characters, a document page
// shows: an identity document prints its holder's data on every side (a
// KTP some 300 characters, a passport page 150 and more). Fewer, such as a
// letter read in a photo's background, say the locator took something
// else for the page.
const pageMinChars = 8

// textChars counts the characters of the lines read, spaces aside.
func textChars(lines []ocr.Line) int {
	n := 0
	for _, l := range lines {
		n += len(strings.ReplaceAll(l.Text, " ", ""))
	}
	return n
}

func outlineOf(loc locate.Result) forensics.Outline {
	return forensics.Outline{Found: loc.Found, Aspect: loc.Aspect, Bounds: loc.Quad.Bounds()}
}

// covers reports whether the outline found is the whole document, as far
// as its shape tells (forensics.PageCoverage).
func covers(loc locate.Result, photo gocv.Mat, opts forensics.Options) bool {
	c, _ := forensics.PageCoverage(outlineOf(loc), image.Pt(photo.Cols(), photo.Rows()), opts)
	return c
}

// turnedFaceScore is the least detector score of a face found on the page
// turned from the orientation its text was read in. Genuine portraits so
// found (the PassportEye specimens turned 90, 180 and 270 degrees, their
// text misread) scored 0.84 to 0.91; the Czech specimen's page, upright,
// showed a pattern taken for a face at 0.64 when turned.
const turnedFaceScore = 0.8

// findUprightPortrait looks for the printed portrait on img turned by
// each of turns (clockwise degrees) in order, and takes the first face
// found upright with a score of at least minScore. The portrait's box and
// the ghost's regions are in img's coordinates; the crop is of the
// upright face.
func (a *Analyzer) findUprightPortrait(ctx context.Context, img gocv.Mat, turns []int, minScore float64) (*Portrait, PortraitCrop, []forensics.Check, error) {
	for _, turn := range turns {
		src := img
		if turn != 0 {
			var err error
			if src, err = imageio.Turn(img, turn); err != nil {
				return nil, PortraitCrop{}, nil, fmt.Errorf("turning the page for its portrait: %w", err)
			}
		}
		pr, crop, ghost, err := a.findPortrait(ctx, src)
		turned := image.Pt(src.Cols(), src.Rows())
		if turn != 0 {
			src.Close()
		}
		if err != nil {
			return nil, PortraitCrop{}, nil, err
		}
		if pr == nil {
			continue
		}
		if !upright(crop.Face) || pr.Score < minScore {
			crop.Image.Close()
			continue
		}
		if turn != 0 {
			// Back onto img: the turn undone.
			back := func(r rect) rect { return turnRect(r, turned, 360-turn) }
			b := back(rect{pr.Box.X, pr.Box.Y, pr.Box.X + pr.Box.W, pr.Box.Y + pr.Box.H})
			pr.Box = face.Box{X: b.x0, Y: b.y0, W: b.x1 - b.x0, H: b.y1 - b.y0}
			for i, g := range ghost {
				ev := maps.Clone(g.Evidence)
				for k, v := range ev {
					if r, ok := v.(forensics.Region); ok {
						m := back(rect{float64(r.X), float64(r.Y), float64(r.X + r.W), float64(r.Y + r.H)})
						ev[k] = forensics.Region{X: int(m.x0), Y: int(m.y0), W: int(m.x1 - m.x0), H: int(m.y1 - m.y0)}
					}
				}
				ghost[i].Evidence = ev
			}
		}
		return pr, crop, ghost, nil
	}
	return nil, PortraitCrop{}, nil, nil
}

// upright reports whether a face stands upright on its image, by its
// landmarks: the mouth below the eyes, within 45 degrees of straight down.
func upright(f face.Face) bool {
	lm := f.Landmarks
	dx := (lm[face.RightMouth].X+lm[face.LeftMouth].X)/2 - (lm[face.RightEye].X+lm[face.LeftEye].X)/2
	dy := (lm[face.RightMouth].Y+lm[face.LeftMouth].Y)/2 - (lm[face.RightEye].Y+lm[face.LeftEye].Y)/2
	return dy > math.Abs(dx)
}

// hasMRZEvidence reports whether the page reading holds a line that looks
// like part of a machine readable zone.
func hasMRZEvidence(lines []ocr.Line) bool {
	return slices.ContainsFunc(lines, func(l ocr.Line) bool { return mrzread.LooksLikeMRZ(l.Text) })
}

// mayCarryMRZ reports whether the page's printed words make it a passport
// or an identity card, documents that carry a machine readable zone, or
// tell nothing.
func mayCarryMRZ(lines []ocr.Line, img gocv.Mat, now time.Time) bool {
	switch fields.Extract(toFieldLines(lines), image.Pt(img.Cols(), img.Rows()), nil, now).Type {
	case fields.TypePassport, fields.TypeIDCard, fields.TypeUnknown:
		return true
	}
	return false
}

// readUpright OCRs the page and turns it upright: by a quarter turn when
// its text runs down the page (a landscape card photographed by a phone
// held upright, with no outline found or rectified on its side), and by
// 180 degrees when the orientation classifier reads most of it upside down
// or, the first reading being poor, the page turned reads better. It
// returns the clockwise turn applied, and leaves img turned to match the
// lines. Upright, it costs one detection and one recognition, as a plain
// reading does; a quarter turn costs a second detection.
func (a *Analyzer) readUpright(ctx context.Context, img *gocv.Mat) ([]ocr.Line, int, error) {
	boxes, err := a.cfg.OCR.Detect(ctx, *img)
	if err != nil {
		return nil, 0, err
	}
	rot := 0
	if standing(boxes) {
		turned, err := imageio.Turn(*img, 90)
		if err != nil {
			return nil, 0, err
		}
		tb, err := a.cfg.OCR.Detect(ctx, turned)
		if err != nil {
			turned.Close()
			return nil, 0, err
		}
		img.Close()
		*img, boxes, rot = turned, tb, 90
	}
	lines, err := a.cfg.OCR.Recognize(ctx, *img, boxes, ocr.DecodeOptions{})
	if err != nil {
		return nil, 0, err
	}
	if mostlyTurned(lines) {
		// The orientation classifier read most of the text upside down:
		// the page is, and turning it (and the boxes) needs no re-reading.
		turned, err := imageio.Turn(*img, 180)
		if err != nil {
			return nil, 0, err
		}
		img.Close()
		*img = turned
		return turnLines(lines, img.Cols(), img.Rows()), rot + 180, nil
	}
	conf := meanConf(lines)
	// Upright text reads at high confidence; below this the page may be
	// upside down (a card held the wrong way round).
	const uprightConf = 0.75
	if conf >= uprightConf {
		return lines, rot, nil
	}
	turned, err := imageio.Turn(*img, 180)
	if err != nil {
		return nil, 0, err
	}
	alt, err := a.cfg.OCR.Read(ctx, turned, ocr.DecodeOptions{})
	if err != nil {
		turned.Close()
		return nil, 0, err
	}
	if meanConf(alt) > conf+0.05 {
		img.Close()
		*img = turned
		return alt, rot + 180, nil
	}
	turned.Close()
	return lines, rot, nil
}

// standing reports whether most of the text the detector found runs down
// the page rather than across it: weighed by how many characters each box
// may hold (its long side over its short side), boxes at least twice as
// tall as wide outweigh those at least twice as wide as tall. The
// detector's boxes read along their more horizontal side, so a line
// tilted by less than 45 degrees lies, and one turned by a quarter stands.
func standing(boxes []ocr.Quad) bool {
	var up, across float64
	for _, q := range boxes {
		w, h := q.Width(), q.Height()
		switch {
		case w <= 0 || h <= 0:
		case h >= 2*w:
			up += h / w
		case w >= 2*h:
			across += w / h
		}
	}
	return up > across
}

// mostlyTurned reports whether more than half the text, by length, was
// read from lines the orientation classifier turned.
func mostlyTurned(lines []ocr.Line) bool {
	var turned, all int
	for _, l := range lines {
		n := len([]rune(l.Text))
		all += n
		if l.Turned {
			turned += n
		}
	}
	return turned*2 > all
}

// turnLines maps lines read on a w x h page to the page turned by 180
// degrees: each box turned with it, corners still in reading order, lines
// in reading order again, and the lines the classifier had turned now
// upright while the others are now upside down.
func turnLines(lines []ocr.Line, w, h int) []ocr.Line {
	out := make([]ocr.Line, len(lines))
	turn := func(p ocr.Point) ocr.Point { return ocr.Point{X: float64(w) - p.X, Y: float64(h) - p.Y} }
	for i, l := range lines {
		q := l.Box
		l.Box = ocr.Quad{turn(q[2]), turn(q[3]), turn(q[0]), turn(q[1])}
		l.Turned = !l.Turned
		out[len(lines)-1-i] = l
	}
	return out
}

// meanConf is the mean confidence of the lines, weighted by length.
func meanConf(lines []ocr.Line) float64 {
	var sum, n float64
	for _, l := range lines {
		w := float64(len([]rune(l.Text)))
		sum += float64(l.Conf) * w
		n += w
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

func toFieldLines(lines []ocr.Line) []fields.Line {
	out := make([]fields.Line, 0, len(lines))
	for _, l := range lines {
		out = append(out, fields.Line{Text: l.Text, Box: l.Box.Bounds(), Conf: l.Conf})
	}
	return out
}

// findPortrait detects the printed face on the rectified front and cuts a
// generous crop around it for the face match; no face is (nil, empty, nil).
func (a *Analyzer) findPortrait(ctx context.Context, img gocv.Mat) (*Portrait, PortraitCrop, []forensics.Check, error) {
	faces, err := a.cfg.Faces.Detect(ctx, img)
	if err != nil {
		return nil, PortraitCrop{}, nil, fmt.Errorf("finding the portrait: %w", err)
	}
	f, err := face.Largest(faces)
	if errors.Is(err, face.ErrNoFace) {
		return nil, PortraitCrop{}, nil, nil
	}
	if err != nil {
		return nil, PortraitCrop{}, nil, fmt.Errorf("finding the portrait: %w", err)
	}
	ghost := a.ghostCheck(ctx, img, f, faces)
	// Half a face of margin on each side keeps the landmarks and the
	// context the embedding's alignment needs.
	r := image.Rect(int(f.Box.X-f.Box.W/2), int(f.Box.Y-f.Box.H/2), int(f.Box.X+f.Box.W*1.5), int(f.Box.Y+f.Box.H*1.5)).
		Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Empty() {
		return nil, PortraitCrop{}, nil, nil
	}
	crop := img.Region(r)
	defer crop.Close()
	return &Portrait{Box: f.Box, Score: f.Score}, PortraitCrop{Image: crop.Clone(), Face: f.Translate(-float64(r.Min.X), -float64(r.Min.Y))}, ghost, nil
}
