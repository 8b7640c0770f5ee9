package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // image dimensions for the evidence overlay
	"image/png"
	"net/http"
	"slices"
	"time"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Audit actions of reads of personal data.
const (
	AuditCaseView  = "case_view"
	AuditImageView = "image_view"
)

// routeCase registers the case view, its images and the decisions
// (decide.go).
func (c *Console) routeCase() {
	c.route("GET /console/cases/{device}/{key}", central.RoleAuditor, c.casePage)
	c.route("GET /console/cases/{device}/{key}/images/{name}", central.RoleAuditor, c.caseImage)
	c.routeDecide()
	c.routeOverride()
}

// caseRef reads and checks a case's path, and its scope for v: reading a
// case outside v's scope is 404, as one that does not exist; changing one
// is 403.
func (c *Console) caseRef(r *http.Request, v *Viewer) (central.SubmissionRef, error) {
	ref := central.SubmissionRef{DeviceID: r.PathValue("device"), Key: r.PathValue("key")}
	if !protocol.ValidName(ref.DeviceID) || !protocol.ValidKey(ref.Key) {
		return ref, fail(http.StatusNotFound, "not_found")
	}
	err := c.checkScope(r.Context(), v, ref.DeviceID)
	if err != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		if e, ok := errors.AsType[*httpx.Error](err); ok && e.Status == http.StatusNotFound {
			return ref, fail(http.StatusForbidden, "out_of_scope")
		}
	}
	return ref, err
}

// imageNames are the images a submission carries, in the order shown
// (internal/submission's names).
var imageNames = []string{"front", "back", "selfie"}

type caseData struct {
	Case   central.Case
	Href   string
	Device central.Device
	P      *payloadView
	Erased bool // the payload was removed by retention
	Images []string
	FrontW int
	FrontH int
	// FrontAsStored asks the browser to show the front's pixels as stored:
	// the engine did not turn them (imageio.Orientation), though a browser
	// may read an orientation elsewhere in the file (an Exif segment after
	// an XMP one) and would turn the picture under the engine's boxes.
	FrontAsStored bool
	Shapes        []shape
	// The evidence in words (the drawing's text alternative), the
	// screen/print verdicts shown beside it, and whether the front is a
	// JPEG whose error level analysis is shown (evidence.go).
	Evidence []evidenceItem
	Verdicts []reproductionVerdict
	ELA      bool
	ShowELA  bool    // asked for (?ela=1): computed and audited only then
	DotR     float64 // the radius of a copy-move pair's end points, in the photo's pixels
	History  []central.Case
	Linked   linkedData // the same person elsewhere (linked.go)
	// Distrust says why central sent the case to review instead of taking
	// the device's decision, DistrustCode its reason code (distrust.go).
	Distrust, DistrustCode string
	// ClockAhead and ClockBehind flag a device clock found wrong when it
	// dated the capture (central.ClockSkew): one of them, at most, is set.
	ClockAhead, ClockBehind time.Duration
	// What v may do now.
	CanClaim, CanRelease, CanDecide, CanConfirm, CanResolve bool
	Mine                                                    bool
	RejectReasons                                           []string
	Hits                                                    []hitRow
	Fields                                                  []fieldRow
	FourEyesScore                                           float64
	// FourEyes names the outcomes that go to a second reviewer here
	// (fourEyesOutcomes), "" if none.
	FourEyes string

	// CanOverride: v may propose an override (override.go);
	// CanConfirmOverride: confirm or decline the pending one.
	CanOverride, CanConfirmOverride bool
	OverrideOutcomes                []string // the outcomes an override may give: not the engine's
}

type hitRow struct {
	Index      int
	Hit        hitView
	Resolution *central.HitResolution
	// Proposed is the pending override's verdict on the hit.
	Proposed *central.HitResolution
}

type fieldRow struct {
	Name       string
	F          fieldView
	Mismatch   *mismatchView
	MRZValue   string
	Confidence string
}

// rejectReasons are the reasons a reviewer gives a reject ("reject.<r>"
// in the catalogues).
var rejectReasons = []string{"document_forged", "document_expired", "face_mismatch", "spoof", "sanctions", "data_inconsistent", "other"}

func (c *Console) casePage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	ref, err := c.caseRef(r, v)
	if err != nil {
		return err
	}
	cs, err := c.cfg.Store.Case(ctx, ref)
	if err != nil {
		return fmt.Errorf("reading the case: %w", err)
	}
	sub, err := c.cfg.Store.Upload(ctx, ref.DeviceID, ref.Key)
	if err != nil {
		return fmt.Errorf("reading the submission: %w", err)
	}
	devs, err := c.devices(ctx)
	if err != nil {
		return err
	}
	linked, err := c.linked(ctx, v, cs, sub, devs)
	if err != nil {
		return err
	}
	// Reading a case is reading personal data: audited before it is shown,
	// with the linked submissions listed beside it (compared with it, not
	// shown: opening one is a case view of its own).
	var seen any
	if len(linked.Rows) > 0 {
		seen = map[string][]string{"linked": linked.subjects()}
	}
	if err := c.audit(ctx, v, AuditCaseView, caseSubject(ref), nil, seen); err != nil {
		return err
	}
	d := caseData{Case: cs, Href: caseHref(ref), P: parsePayload(sub.Payload), Erased: !sub.FieldsErasedAt.IsZero(),
		RejectReasons: rejectReasons, FourEyesScore: c.cfg.FourEyesScore, ShowELA: r.URL.Query().Get("ela") == "1", Linked: linked}
	d.Device = devs[ref.DeviceID]
	if d.Distrust, d.DistrustCode, err = c.distrustLine(ctx, v, cs); err != nil {
		return err
	}
	var notBefore time.Time // the challenge the attestation signs, by central's clock
	if d.P != nil && d.P.Attestation != nil && c.cfg.Central != nil {
		notBefore, _ = c.cfg.Central.ChallengeIssued(ref.DeviceID, d.P.Attestation.Nonce)
	}
	if skew := central.ClockSkew(cs.CreatedAt, cs.ReceivedAt, notBefore); skew > 0 {
		d.ClockAhead = skew
	} else {
		d.ClockBehind = -skew
	}
	for _, name := range imageNames {
		if im, ok := sub.Image(name); ok && im.Received > 0 && sub.ImagesErasedAt.IsZero() {
			d.Images = append(d.Images, name)
		}
	}
	if d.P != nil && d.P.Report != nil && d.P.Report.Document != nil && slices.Contains(d.Images, "front") {
		doc := d.P.Report.Document
		if doc.Forensics != nil {
			d.Shapes = overlays(doc.Forensics.Checks)
		}
		// Where the engine found the printed face: on the rectified page,
		// mapped into the photo (evidence.go).
		if s, ok := portraitShape(doc); ok {
			d.Shapes = append(d.Shapes, s)
		}
		d.Evidence = evidenceItems(d.Shapes)
		d.Verdicts = reproductionVerdicts(doc.Liveness)
		if data, err := c.imageHead(ctx, ref, "front"); err == nil {
			// The header only: the size of the drawing's frame.
			if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
				d.FrontW, d.FrontH = cfg.Width, cfg.Height
				o := imageio.Orientation(data)
				if o >= 5 { // shown turned a quarter
					d.FrontW, d.FrontH = d.FrontH, d.FrontW
				}
				d.FrontAsStored = o == 1
				d.DotR = max(2, roundTenth(float64(max(cfg.Width, cfg.Height))/400))
				_, _, d.ELA = jpegSize(data)
			}
		}
		d.Fields = fieldRows(doc)
	}
	if d.P != nil && d.P.Report != nil {
		for i, h := range d.P.Report.Screening.Hits {
			row := hitRow{Index: i, Hit: h}
			for j := range cs.Review.Hits {
				if cs.Review.Hits[j].Index == i {
					row.Resolution = &cs.Review.Hits[j]
				}
			}
			for j := range cs.Review.ProposedHits {
				if cs.Review.ProposedHits[j].Index == i {
					row.Proposed = &cs.Review.ProposedHits[j]
				}
			}
			d.Hits = append(d.Hits, row)
		}
	}
	if d.History, err = c.history(ctx, cs, d.P); err != nil {
		return err
	}
	c.permissions(v, &d)
	return c.render(w, r, v, http.StatusOK, "case.html", d)
}

// fieldRows lists the extracted fields by name, each with the
// MRZ-versus-visual mismatch that concerns it.
func fieldRows(doc *documentView) []fieldRow {
	var rows []fieldRow
	for name, f := range doc.Fields {
		row := fieldRow{Name: name, F: f, Confidence: pct100(f.Confidence)}
		for i := range doc.Mismatches {
			if doc.Mismatches[i].Field == name {
				row.Mismatch = &doc.Mismatches[i]
			}
		}
		rows = append(rows, row)
	}
	// A mismatch on a field not among the fields still shows.
	for i, m := range doc.Mismatches {
		if _, ok := doc.Fields[m.Field]; !ok {
			rows = append(rows, fieldRow{Name: m.Field, F: fieldView{Value: m.Visual, Source: "visual"}, Mismatch: &doc.Mismatches[i]})
		}
	}
	slices.SortFunc(rows, func(a, b fieldRow) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return rows
}

// historyWindow bounds how far around a case its session's other attempts
// are looked for: retries follow each other within minutes, and the
// window keeps the lookup a short range of the queue's time index.
const historyWindow = 6 * time.Hour

// history lists the other attempts of the case's session (retries), from
// the same device within historyWindow, oldest first: one Queue call over
// every state and decision, filtered by session id here (the summary
// carries it).
func (c *Console) history(ctx context.Context, cs central.Case, p *payloadView) ([]central.Case, error) {
	sid := cs.Summary.SessionID
	if sid == "" && p != nil {
		sid = p.SessionID
	}
	if sid == "" {
		return nil, nil
	}
	cases, _, err := c.cfg.Store.Queue(ctx, central.QueueFilter{DeviceIDs: []string{cs.Ref.DeviceID},
		ReceivedAfter: cs.ReceivedAt.Add(-historyWindow), ReceivedBefore: cs.ReceivedAt.Add(historyWindow), Limit: 200})
	if err != nil {
		return nil, fmt.Errorf("reading the session's attempts: %w", err)
	}
	var out []central.Case
	for _, o := range cases {
		if o.Summary.SessionID == sid && o.Ref != cs.Ref && sameOwner(cs, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// permissions fills in what v may do with the case now.
func (c *Console) permissions(v *Viewer, d *caseData) {
	rv := d.Case.Review
	if !v.Can(central.RoleReviewer) {
		return
	}
	state := rv.State
	if state == "" {
		state = central.ReviewOpen
	}
	d.Mine = rv.Assignee == v.User.Name
	d.CanClaim = state == central.ReviewOpen && forReview(d.Case)
	d.CanRelease = state == central.ReviewClaimed && (d.Mine || v.Can(central.RoleAdmin))
	d.CanDecide = state == central.ReviewClaimed && d.Mine
	d.CanResolve = d.CanDecide
	d.CanConfirm = state == central.ReviewSecond && !proposedBy(rv, v.User.Name)
	d.FourEyes = c.fourEyesOutcomes(d.Case)
	if d.CanOverride = overridable(d.Case); d.CanOverride {
		for _, o := range []string{central.OutcomeApprove, central.OutcomeReject, central.OutcomeResubmit} {
			if o != inForce(d.Case) {
				d.OverrideOutcomes = append(d.OverrideOutcomes, o)
			}
		}
	}
	d.CanConfirmOverride = state == central.ReviewOverride && !overrideProposedBy(rv, v.User.Name)
}

// caseImage serves one image of a case, after the role and scope checks,
// never cached: images are personal data.
func (c *Console) caseImage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	ref, err := c.caseRef(r, v)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if !slices.Contains(imageNames, name) && name != "portrait" && name != "ela" {
		return fail(http.StatusNotFound, "not_found")
	}
	if name != "portrait" && name != "ela" {
		// The device's image as it is: streamed a stored chunk at a time
		// (up to protocol.MaxImageSize), audited before its first byte.
		// The audit is written before the stream begins, never from its
		// start callback: that runs inside the store's read of the chunks
		// (a bbolt read transaction), and a write there waits for the
		// read to end whenever it grows the file's mapping, which waits
		// for the write: every later write of central then hangs.
		sub, err := c.cfg.Store.Upload(ctx, ref.DeviceID, ref.Key)
		if errors.Is(err, central.ErrNotFound) {
			return fail(http.StatusNotFound, "not_found")
		}
		if err != nil {
			return fmt.Errorf("reading the submission: %w", err)
		}
		if im, ok := sub.Image(name); !ok || im.Received == 0 || !sub.ImagesErasedAt.IsZero() {
			return fail(http.StatusNotFound, "not_found")
		}
		if err := c.audit(ctx, v, AuditImageView, caseSubject(ref), nil, map[string]string{"image": name}); err != nil {
			return err
		}
		err = central.WriteImage(ctx, c.cfg.Store, w, ref, name, 0, func(ct string) error {
			imageHeaders(w, ct)
			return nil
		})
		if errors.Is(err, central.ErrNotFound) {
			return fail(http.StatusNotFound, "not_found")
		}
		return err
	}
	var data []byte
	if name == "portrait" {
		data, err = c.portrait(ctx, ref)
	} else {
		// The front's error level analysis (evidence.go), computed
		// here: only for a JPEG front within the size bound.
		var release func()
		if data, release, err = c.frontToDecode(ctx, ref, maxELAPixels, "jpeg"); err == nil {
			data, err = elaPNG(ctx, data)
			release()
			if errors.Is(err, errNotELA) {
				err = central.ErrNotFound
			}
		}
	}
	if errors.Is(err, central.ErrNotFound) || err == nil && len(data) == 0 {
		return fail(http.StatusNotFound, "not_found")
	}
	if err != nil {
		return fmt.Errorf("reading image: %w", err)
	}
	if err := c.audit(ctx, v, AuditImageView, caseSubject(ref), nil, map[string]string{"image": name}); err != nil {
		return err
	}
	imageHeaders(w, http.DetectContentType(data))
	_, err = w.Write(data)
	return err
}

// imageHeaders sets the headers of an image of content type ct (as
// sniffed), never cached.
func imageHeaders(w http.ResponseWriter, ct string) {
	disp := "inline"
	if ct != "image/jpeg" && ct != "image/png" && ct != "image/webp" {
		// Not an image (the device sent something else): never shown
		// by the browser as a page of the console's origin.
		ct, disp = "application/octet-stream", "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", disp)
}

// headerBytes is how much of an image the console reads for its header
// (size, EXIF orientation): room for a JPEG's EXIF, ICC and XMP segments.
const headerBytes = 512 << 10

// errHeadRead stops imageHead's read once it has its bytes.
var errHeadRead = errors.New("console: image header read")

// imageHead returns the first headerBytes of an image (the whole of a
// smaller one), read a stored chunk at a time.
func (c *Console) imageHead(ctx context.Context, ref central.SubmissionRef, name string) ([]byte, error) {
	var head []byte
	err := c.cfg.Store.ImageChunks(ctx, ref.DeviceID, ref.Key, name, func(chunk []byte) error {
		head = append(head, chunk[:min(len(chunk), headerBytes-len(head))]...)
		if len(head) == headerBytes {
			return errHeadRead
		}
		return nil
	})
	if err != nil && !errors.Is(err, errHeadRead) {
		return nil, err
	}
	return head, nil
}

// errDecodeBusy: every decode slot stayed taken for Config.DecodeWait.
var errDecodeBusy = &httpx.Error{Status: http.StatusServiceUnavailable, Code: "decode_busy", Message: "decode_busy", RetryAfter: 5 * time.Second}

// frontToDecode reads a case's front to be decoded, once its header shows
// an image of at most maxPixels (of format, unless "") that decodes into at
// most maxPixels*maxPixelBytes bytes, holding one of the console's decode
// slots: the front's bytes and the slot's release. central.ErrNotFound for
// a front that is no such image: an image of a few hundred bytes may
// declare 65535x65535 pixels, which a decoder would allocate (gigabytes)
// before finding the data missing, and a 16-bit PNG takes 8 bytes a pixel.
// errDecodeBusy when no slot frees within Config.DecodeWait.
func (c *Console) frontToDecode(ctx context.Context, ref central.SubmissionRef, maxPixels int, format string) ([]byte, func(), error) {
	head, err := c.imageHead(ctx, ref, "front")
	if err != nil {
		return nil, nil, err
	}
	cfg, f, err := image.DecodeConfig(bytes.NewReader(head))
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || pixels > int64(maxPixels) ||
		pixels*pixelBytes(cfg.ColorModel) > int64(maxPixels)*maxPixelBytes || format != "" && f != format {
		return nil, nil, central.ErrNotFound
	}
	wait, cancel := context.WithTimeout(ctx, c.cfg.DecodeWait)
	defer cancel()
	if !c.decodes.Wait(wait) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		return nil, nil, errDecodeBusy
	}
	data, err := c.cfg.Store.ImageData(ctx, ref.DeviceID, ref.Key, "front")
	if err != nil {
		c.decodes.Release()
		return nil, nil, err
	}
	// The whole file, as the engine judges one: a progressive JPEG whose
	// scans repeat past its header costs minutes of CPU to decode.
	if _, _, _, err := imageio.Size(data); err != nil {
		c.decodes.Release()
		return nil, nil, central.ErrNotFound
	}
	return data, c.decodes.Release, nil
}

// maxDecodePixels bounds the images the console decodes (to cut the
// portrait): 50 MP, above any document photo the app takes.
const maxDecodePixels = 50_000_000

// maxPixelBytes is the most a decoded pixel may take at the bound on
// pixels: an 8-bit colour photo's (a JPEG's 3, a PNG's 4 with alpha).
const maxPixelBytes = 4

// pixelBytes is how many bytes a pixel of colour model m takes in Go's
// decoded image (a JPEG's YCbCr counted as 4:4:4); 8, the most, for a
// model not listed.
func pixelBytes(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	}
	return 8
}

// portrait cuts the document's printed portrait out of the front image
// at the box the engine found (with a margin), as a PNG.
func (c *Console) portrait(ctx context.Context, ref central.SubmissionRef) ([]byte, error) {
	sub, err := c.cfg.Store.Upload(ctx, ref.DeviceID, ref.Key)
	if err != nil {
		return nil, err
	}
	p := parsePayload(sub.Payload)
	if p == nil || p.Report == nil || p.Report.Document == nil || p.Report.Document.Portrait == nil {
		return nil, central.ErrNotFound
	}
	data, release, err := c.frontToDecode(ctx, ref, maxDecodePixels, "")
	if err != nil {
		return nil, err
	}
	defer release()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, central.ErrNotFound // not an image the console reads: nothing to cut
	}
	// The portrait checks give the portrait in the photo's coordinates;
	// the document's own box is on the rectified page, which matches the
	// photo only when the page fills it.
	b := p.Report.Document.Portrait.Box
	if f := p.Report.Document.Forensics; f != nil {
		for _, ch := range f.Checks {
			var r boxView
			if raw, ok := ch.Evidence["portrait_region"]; ok && json.Unmarshal(raw, &r) == nil && r.W > 0 && r.H > 0 {
				b = r
				break
			}
		}
	}
	m := 0.15 * max(b.W, b.H)
	cut, ok := cutOriented(img, imageio.Orientation(data),
		image.Rect(int(b.X-m), int(b.Y-m), int(b.X+b.W+m), int(b.Y+b.H+m)))
	if !ok {
		return nil, central.ErrNotFound
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, cut); err != nil {
		return nil, fmt.Errorf("encoding the portrait: %w", err)
	}
	return buf.Bytes(), nil
}

// cutOriented cuts rect, given in the frame of img turned by the EXIF
// orientation o (the engine's frame: OpenCV turns the picture as the tag
// says, Go's decoders do not), out of img, at most maxCutSide on a side;
// false when rect lies outside.
func cutOriented(img image.Image, o int, rect image.Rectangle) (image.Image, bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	rect = rect.Intersect(image.Rect(0, 0, ow, oh))
	if rect.Empty() {
		return nil, false
	}
	// oriented with the inverse orientation maps the turned frame back:
	// every orientation is its own inverse but 6 and 8, each other's.
	inv := map[int]int{6: 8, 8: 6}[o]
	if inv == 0 {
		inv = o
	}
	// A box wider than maxCutSide (the device's payload gives it) is
	// sampled every step pixels, so the cut is never a copy of the page.
	step := (max(rect.Dx(), rect.Dy()) + maxCutSide - 1) / maxCutSide
	out := image.NewRGBA(image.Rect(0, 0, (rect.Dx()+step-1)/step, (rect.Dy()+step-1)/step))
	for y := rect.Min.Y; y < rect.Max.Y; y += step {
		for x := rect.Min.X; x < rect.Max.X; x += step {
			sx, sy := oriented(inv, x, y, ow, oh)
			r, g, bl := rgb8(img, b.Min.X+sx, b.Min.Y+sy)
			i := out.PixOffset((x-rect.Min.X)/step, (y-rect.Min.Y)/step)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = r, g, bl, 255
		}
	}
	return out, true
}

// maxCutSide bounds the portrait cut's sides: with its margin a portrait
// is about 1900 pixels tall on a 12 MP photo an ID card fills (4200 at
// 50 MP, then sampled every other pixel), and is shown at a few hundred;
// the front itself is there at full size.
const maxCutSide = 2048

// caseSubject is a case's subject in the audit trail.
func caseSubject(ref central.SubmissionRef) string {
	return "case:" + ref.DeviceID + "/" + ref.Key
}
