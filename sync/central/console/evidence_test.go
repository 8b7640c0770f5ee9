package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/sync/central"
)

// TestRectToQuad: the homography takes the rectangle's corners exactly to
// the quadrilateral's, and its centre to the crossing of the diagonals
// (a projective map keeps lines and incidence).
func TestRectToQuad(t *testing.T) {
	quads := map[string][4]ptView{
		"perspective":   {{70, 33}, {1254, 40}, {1190, 838}, {95, 800}},
		"parallelogram": {{10, 20}, {110, 30}, {130, 90}, {30, 80}},
		"axis":          {{70.0375, 32.9083}, {1253.8458, 32.9083}, {1253.8458, 837.9708}, {70.0375, 837.9708}},
	}
	const w, h = 800.0, 563.0
	for name, q := range quads {
		m, ok := rectToQuad(w, h, q)
		if !ok {
			t.Fatalf("%s: no homography", name)
		}
		for i, c := range [4][2]float64{{0, 0}, {w, 0}, {w, h}, {0, h}} {
			x, y, ok := m.apply(c[0], c[1])
			if !ok || math.Abs(x-q[i].X) > 1e-9 || math.Abs(y-q[i].Y) > 1e-9 {
				t.Errorf("%s: corner %v → (%g, %g), want %v", name, c, x, y, q[i])
			}
		}
		// The diagonals q0-q2 and q1-q3 cross at p0 + s(p2-p0).
		d1x, d1y, d2x, d2y := q[2].X-q[0].X, q[2].Y-q[0].Y, q[3].X-q[1].X, q[3].Y-q[1].Y
		s := ((q[1].X-q[0].X)*d2y - (q[1].Y-q[0].Y)*d2x) / (d1x*d2y - d1y*d2x)
		cx, cy := q[0].X+s*d1x, q[0].Y+s*d1y
		if x, y, _ := m.apply(w/2, h/2); math.Abs(x-cx) > 1e-6 || math.Abs(y-cy) > 1e-6 {
			t.Errorf("%s: centre → (%g, %g), want the diagonals' crossing (%g, %g)", name, x, y, cx, cy)
		}
	}
	if _, ok := rectToQuad(0, 10, quads["axis"]); ok {
		t.Error("a degenerate rectangle gives a homography")
	}
	if _, ok := rectToQuad(10, 10, [4]ptView{{0, 0}, {0, 0}, {0, 0}, {0, 0}}); ok {
		t.Error("a degenerate quadrilateral gives a homography")
	}
}

// TestPageQuadPortrait: the portrait box of a real report (on the
// rectified page) lands, mapped through the outline, inside the region the
// portrait checks examined on the photo (portrait_region, the face with a
// margin): the two frames agree.
func TestPageQuadPortrait(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "payload_escalate.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := parsePayload(raw)
	doc := p.Report.Document
	s, ok := portraitShape(doc)
	if !ok {
		t.Fatal("no portrait shape")
	}
	var region boxView
	for _, c := range doc.Forensics.Checks {
		if r, ok := c.Evidence["portrait_region"]; ok && json.Unmarshal(r, &region) == nil {
			break
		}
	}
	if region.W == 0 {
		t.Fatal("the payload has no portrait_region")
	}
	var pts [][2]float64
	for _, xy := range strings.Fields(s.Points) {
		var x, y float64
		if err := json.Unmarshal([]byte("["+xy+"]"), &[]*float64{&x, &y}); err != nil {
			t.Fatalf("point %q: %v", xy, err)
		}
		pts = append(pts, [2]float64{x, y})
		if x < region.X || y < region.Y || x > region.X+region.W || y > region.Y+region.H {
			t.Errorf("portrait corner (%g, %g) outside the photo's portrait region %+v", x, y, region)
		}
	}
	if len(pts) != 4 {
		t.Fatalf("%d corners: %q", len(pts), s.Points)
	}
	// Turned by 180 degrees, the same box is the other way round on the
	// page: its corners map elsewhere, still inside the outline.
	turned := *doc.Front
	turned.Rotation = 180
	f, ok := pageQuad(&turned)
	if !ok {
		t.Fatal("no map for a turned page")
	}
	if x, y, _ := f(0, 0); math.Abs(x-doc.Front.Quad[2].X) > 1e-6 || math.Abs(y-doc.Front.Quad[2].Y) > 1e-6 {
		t.Errorf("the turned page's origin → (%g, %g), want the outline's bottom right %+v", x, y, doc.Front.Quad[2])
	}
	// No outline: the page is the photo.
	doc.Front.Found = false
	if s2, ok := portraitShape(doc); !ok || !strings.HasPrefix(s2.Points, "88.1,191.2 ") {
		t.Errorf("without an outline the box is drawn as it is: %q", s2.Points)
	}
}

var pairLineRE = regexp.MustCompile(`<line class="ev ev-pair" `)

// TestEvidenceOverlay: the case view draws the copy-move pairs of a real
// report as linked segments, one per pair, with a legend, a toggle, the
// evidence in words, the screen/print verdicts and the ELA figure.
func TestEvidenceOverlay(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	pl := payload(t, "payload_escalate.json", "ev-1", nil)
	ref := e.submit("dev-1", "ev-1", pl)
	b := e.browser()
	b.signIn("rev")
	a := b.get(caseHref(ref))
	if a.status != http.StatusOK {
		t.Fatalf("case view: %d", a.status)
	}
	var pairs int
	for _, c := range parsePayload(pl).Report.Document.Forensics.Checks {
		if c.Name == "copy_move" {
			var ps [][4]float64
			if err := json.Unmarshal(c.Evidence["pairs"], &ps); err != nil {
				t.Fatal(err)
			}
			pairs = len(ps)
		}
	}
	if pairs == 0 {
		t.Fatal("the payload has no copy-move pairs")
	}
	if n := len(pairLineRE.FindAllString(a.body, -1)); n != pairs {
		t.Errorf("%d copy-move segments drawn, want %d", n, pairs)
	}
	if n := strings.Count(a.body, `class="ev-end ev-from"`) + strings.Count(a.body, `class="ev-end ev-to"`); n != 2*pairs {
		t.Errorf("%d segment ends, want %d", n, 2*pairs)
	}
	for _, want := range []string{
		`<svg viewBox="0 0 320 200" class="overlay"`,
		`<input type="checkbox" id="show-evidence" class="evidence-toggle" checked>`,
		`<label for="show-evidence">`,
		`<ul class="legend"`,
		`<details class="evidence-list" id="evidence-list">`,
		`aria-describedby="evidence-list"`,
		`<rect class="ev ev-region" x="96" y="256" width="256" height="352"`, // jpeg_block_grid's region
		`<polygon class="ev ev-portrait" points="`,
		`id="reproduction-verdicts"`,
		"no sign of a screen",
		`?ela=1#ela" id="show-ela"`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the case view lacks %s", want)
		}
	}
	// The ELA map is computed (and its view audited) when asked for.
	if strings.Contains(a.body, "/images/ela") {
		t.Error("the ELA map is loaded with every case view")
	}
	withELA := b.get(caseHref(ref) + "?ela=1")
	for _, want := range []string{`<figure id="ela">`, `<img src="` + caseHref(ref) + `/images/ela" alt="Error level analysis of the document front"`, "Bright areas"} {
		if !strings.Contains(withELA.body, want) {
			t.Errorf("the case view with ?ela=1 lacks %s", want)
		}
	}
	if strings.Contains(a.body, "pairs of matching points, copied to pasted — "+itoa(int64(pairs))) == false {
		t.Errorf("the evidence in words does not count the %d pairs", pairs)
	}
	svg := a.body[strings.Index(a.body, "<svg"):strings.Index(a.body, "</svg>")]
	if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") {
		t.Error("the overlay has inline style or script, which the CSP forbids")
	}
}

// TestELAImage: the error level analysis of a JPEG front is a PNG of the
// front's size, never cached and audited; a front that is not a JPEG has
// none (404, and no figure), a user outside the case's scope gets 404,
// and a decompression bomb is refused from its header.
func TestELAImage(t *testing.T) {
	e := newEnv(t)
	e.addDevice("dev-1", "north")
	e.addDevice("dev-2", "south")
	e.addUser("rev", central.RoleReviewer)
	e.addUser("southrev", central.RoleReviewer, "south")
	ref := e.submit("dev-1", "ela-1", payload(t, "payload_escalate.json", "ela-1", nil))
	b := e.browser()
	b.signIn("rev")
	a := b.get(caseHref(ref) + "/images/ela")
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "image/png" || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("ELA: %d %q %q", a.status, a.header.Get("Content-Type"), a.header.Get("Cache-Control"))
	}
	img, err := png.Decode(strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(320, 200) {
		t.Errorf("ELA map of %v, want the front's 320x200", got)
	}
	var audited bool
	evs, err := e.store.Audit(t.Context(), central.AuditFilter{Subject: caseSubject(ref)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var after map[string]string
		_ = json.Unmarshal(ev.After, &after)
		audited = audited || ev.Action == AuditImageView && after["image"] == "ela"
	}
	if !audited {
		t.Errorf("ELA view not audited as image_view of \"ela\": %+v", evs)
	}

	// Out of scope: 404, as a case that does not exist, and not audited.
	before := len(e.auditActions(caseSubject(ref)))
	s := e.browser()
	s.signIn("southrev")
	if a := s.get(caseHref(ref) + "/images/ela"); a.status != http.StatusNotFound {
		t.Errorf("ELA out of scope: %d, want 404", a.status)
	}
	if after := len(e.auditActions(caseSubject(ref))); after != before {
		t.Errorf("the refused view was audited (%d → %d events)", before, after)
	}

	// A PNG front: no error level analysis.
	pngFront := func() []byte {
		m := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for i := range m.Pix {
			m.Pix[i] = uint8(i)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	ref2 := e.submitFront("dev-1", "ela-png", payload(t, "payload_escalate.json", "ela-png", nil), pngFront)
	if a := b.get(caseHref(ref2) + "/images/ela"); a.status != http.StatusNotFound {
		t.Errorf("ELA of a PNG front: %d, want 404", a.status)
	}
	if a := b.get(caseHref(ref2) + "?ela=1"); a.status != http.StatusOK || strings.Contains(a.body, "/images/ela") {
		t.Errorf("case view of a PNG front: %d, ELA offered: %v", a.status, strings.Contains(a.body, "/images/ela"))
	}

	// A bomb declaring 65500x65500 pixels: refused from its header.
	bomb := testJPEG(t, 16, 16)
	i := bytes.Index(bomb, []byte{0xFF, 0xC0})
	copy(bomb[i+5:], []byte{0xFF, 0xDC, 0xFF, 0xDC})
	ref3 := e.submitFront("dev-1", "ela-bomb", payload(t, "payload_escalate.json", "ela-bomb", nil), bomb)
	if a := b.get(caseHref(ref3) + "/images/ela"); a.status != http.StatusNotFound {
		t.Errorf("ELA of a bomb: %d, want 404", a.status)
	}
}

// TestELAFlat: the error level analysis of a flat picture is dark (a
// JPEG of flat colour saves again unchanged), and garbage is refused.
func TestELAFlat(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = 120, 130, 140, 255
	}
	var file bytes.Buffer
	if err := jpeg.Encode(&file, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	out, err := elaPNG(t.Context(), file.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ela, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if ela.Bounds().Size() != image.Pt(96, 64) {
		t.Errorf("ELA of %v, want 96x64", ela.Bounds().Size())
	}
	var hi uint32
	for y := range 64 {
		for x := range 96 {
			r, g, b, _ := ela.At(x, y).RGBA()
			hi = max(hi, r>>8, g>>8, b>>8)
		}
	}
	if hi > 3*elaGain {
		t.Errorf("a flat picture's ELA reaches %d", hi)
	}
	if _, err := elaPNG(t.Context(), []byte("not a jpeg")); err == nil {
		t.Error("ELA of garbage gives no error")
	}
}

// TestELAOrientation: a front the camera tagged as turned a quarter is
// drawn and analysed the way the engine read it: the overlay's frame and
// the ELA map are turned too, unless the tag is where the engine's decoder
// (OpenCV) does not look, in an Exif segment after an XMP one.
func TestELAOrientation(t *testing.T) {
	turned := synth.WithOrientation(testJPEG(t, 320, 200), 6)
	xmp := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), `<x:xmpmeta xmlns:x="adobe:ns:meta/"/>`...)
	xmpFirst := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(xmp) + 2) >> 8), byte(len(xmp) + 2)}, xmp...)
	xmpFirst = append(xmpFirst, turned[2:]...)
	e := newEnv(t)
	e.addDevice("dev-1", "north")
	e.addUser("rev", central.RoleReviewer)
	b := e.browser()
	b.signIn("rev")
	for _, tc := range []struct {
		name     string
		front    []byte
		want     image.Point
		asStored bool
	}{
		{"tagged 6", turned, image.Pt(200, 320), false},
		{"XMP, then tagged 6", xmpFirst, image.Pt(320, 200), true},
	} {
		id := "ela-" + strings.ReplaceAll(tc.name, " ", "-")
		id = strings.NewReplacer(",", "").Replace(id)
		ref := e.submitFront("dev-1", id, payload(t, "payload_escalate.json", id, nil), tc.front)
		page := b.get(caseHref(ref))
		if !strings.Contains(page.body, fmt.Sprintf(`viewBox="0 0 %d %d"`, tc.want.X, tc.want.Y)) {
			t.Errorf("%s: the overlay's frame is not %v: %d", tc.name, tc.want, page.status)
		}
		// A browser reads the orientation of the first Exif segment: it
		// is told to show as stored the front the engine did not turn.
		if asStored := strings.Contains(page.body, `class="as-stored"`); asStored != tc.asStored {
			t.Errorf("%s: front shown as stored %v, want %v", tc.name, asStored, tc.asStored)
		}
		a := b.get(caseHref(ref) + "/images/ela")
		img, err := png.Decode(strings.NewReader(a.body))
		if err != nil {
			t.Fatalf("%s: ELA: %d %v", tc.name, a.status, err)
		}
		if got := img.Bounds().Size(); got != tc.want {
			t.Errorf("%s: ELA map of %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCutOriented: the portrait box is in the engine's frame (the photo
// turned as its EXIF tag says), so the cut reads the raw pixels through
// the turn. Each case says where displayed pixel (X, Y) comes from in a
// raw w×h picture, written out independently of oriented.
func TestCutOriented(t *testing.T) {
	const w, h = 5, 3
	raw := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			raw.Set(x, y, color.RGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	for _, tc := range []struct {
		o    int
		from func(X, Y int) (int, int)
	}{
		{1, func(X, Y int) (int, int) { return X, Y }},
		{3, func(X, Y int) (int, int) { return w - 1 - X, h - 1 - Y }},
		{6, func(X, Y int) (int, int) { return Y, h - 1 - X }}, // turned a quarter clockwise
		{8, func(X, Y int) (int, int) { return w - 1 - Y, X }}, // a quarter anticlockwise
		{5, func(X, Y int) (int, int) { return Y, X }},         // transposed
		{7, func(X, Y int) (int, int) { return w - 1 - Y, h - 1 - X }},
	} {
		rect := image.Rect(1, 1, 3, 3) // inside either frame
		cut, ok := cutOriented(raw, tc.o, rect)
		if !ok {
			t.Fatalf("o=%d: nothing cut", tc.o)
		}
		for Y := rect.Min.Y; Y < rect.Max.Y; Y++ {
			for X := rect.Min.X; X < rect.Max.X; X++ {
				sx, sy := tc.from(X, Y)
				r, g, _, _ := cut.At(X-rect.Min.X, Y-rect.Min.Y).RGBA()
				if int(r>>8) != sx || int(g>>8) != sy {
					t.Errorf("o=%d: displayed (%d,%d) shows raw (%d,%d), want (%d,%d)", tc.o, X, Y, r>>8, g>>8, sx, sy)
				}
			}
		}
	}
	if _, ok := cutOriented(raw, 6, image.Rect(4, 0, 6, 2)); ok { // x 4-5 lies outside the turned 3-wide frame
		t.Error("a box outside the turned frame was cut")
	}
}
