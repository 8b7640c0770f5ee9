package capture

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"
	"sort"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
)

// whitePage renders a passport data page (ID-3, 125 x 88 mm) on white
// paper: a faint security tint, a portrait, printed fields and the
// two-line MRZ. Lit well, its mean grey is just above 200 with nothing
// near clipping: the page the seed's 80-200 brightness range refused.
func whitePage(w int) gocv.Mat {
	h := w * 88 / 125
	paper := color.RGBA{234, 231, 226, 255}
	page := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(paper.B), float64(paper.G), float64(paper.R), 0), h, w, gocv.MatTypeCV8UC3)
	for k := 0; k < 14; k++ {
		prev := image.Pt(0, 0)
		for x := 0; x <= w; x += 4 {
			y := int(float64(h)*(float64(k)+0.5)/14 + 9*math.Sin(float64(x)/41+float64(k)))
			if x > 0 {
				gocv.Line(&page, prev, image.Pt(x, y), color.RGBA{222, 214, 218, 255}, 1)
			}
			prev = image.Pt(x, y)
		}
	}
	ink := color.RGBA{35, 35, 45, 255}
	s := float64(w) / 1000
	gocv.PutText(&page, "PASSPORT  PASPOR", image.Pt(w/3, h/10), gocv.FontHersheyDuplex, 0.9*s, ink, 2)
	// The portrait: a mid-grey background with a head and shoulders.
	px, py, pw, ph := w/20, h/7, w/4, h*9/20
	gocv.Rectangle(&page, image.Rect(px, py, px+pw, py+ph), color.RGBA{178, 182, 186, 255}, -1)
	gocv.Ellipse(&page, image.Pt(px+pw/2, py+ph*2/5), image.Pt(pw/4, ph/4), 0, 0, 360, color.RGBA{150, 118, 100, 255}, -1)
	gocv.Ellipse(&page, image.Pt(px+pw/2, py+ph), image.Pt(pw/2, ph/3), 0, 180, 360, color.RGBA{60, 70, 90, 255}, -1)
	fields := []string{"Surname  ERIKSSON", "Given names  ANNA MARIA", "Nationality  UTOPIAN", "Date of birth  12 AUG 1974", "Sex  F", "Date of expiry  15 APR 2012"}
	for i, f := range fields {
		gocv.PutText(&page, f, image.Pt(px+pw+w/25, py+h/20+i*h/12), gocv.FontHersheySimplex, 0.75*s, ink, 2)
	}
	for i, l := range []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"} {
		gocv.PutText(&page, l, image.Pt(w/25, h*8/10+i*h/11), gocv.FontHersheySimplex, 0.82*s, ink, 2)
	}
	return page
}

// exposureScene is one steadily held document under one lighting.
type exposureScene struct {
	name string
	// render draws frame i.
	render func(i int) gocv.Mat
	// captured is what a person expects; a refused frame says want
	// because of the check failing, a captured one carries hint.
	captured bool
	want     Message
	failing  string
	hint     Message
}

// TestDocumentExposure films documents under bright, dark and normal light
// and checks each is captured or refused as a person would expect: a white
// page lit brightly with nothing clipped is captured (with a hint), the
// same page over-exposed until the paper clips is refused, so are a dark
// frame and a card half in deep shadow; a normal card is captured.
func TestDocumentExposure(t *testing.T) {
	const w, h = 1280, 720
	bg := synth.Background(w, h, 3)
	defer bg.Close()
	page := whitePage(900)
	defer page.Close()
	card := synth.Card(synth.CardOptions{Lines: []string{"NIK 3171012345678901", "NAMA BUDI SANTOSO", "LAHIR 17-08-1985"}, Seed: 5})
	defer card.Close()
	// held steadily: jitter of a fraction of a pixel, then the camera's
	// exposure (gain) and light falling across the frame (shade).
	held := func(doc gocv.Mat, widthFrac float64, gain float32, shade func(*gocv.Mat)) func(int) gocv.Mat {
		return func(i int) gocv.Mat {
			p := synth.Placement{CenterX: 0.5 + 0.0003*math.Sin(float64(i)), CenterY: 0.5, WidthFrac: widthFrac}
			m, _ := synth.Place(bg, doc, p)
			if gain != 1 {
				m.ConvertToWithParams(&m, gocv.MatTypeCV8UC3, gain, 0)
			}
			if shade != nil {
				shade(&m)
			}
			return m
		}
	}
	// The left 45% of the frame in deep shadow: the document's mean stays
	// above the dark gate, its shadowed share does not.
	shadow := func(m *gocv.Mat) {
		r := m.Region(image.Rect(0, 0, w*45/100, h))
		defer r.Close()
		r.ConvertToWithParams(&r, gocv.MatTypeCV8UC3, 0.2, 0)
	}
	scenes := []exposureScene{
		{name: "white page, bright", render: held(page, 0.62, 1, nil), captured: true, want: Capturing, hint: BrightLighting},
		{name: "white page, over-exposed", render: held(page, 0.62, 1.2, nil), want: ImproveLighting, failing: CheckClipped},
		{name: "card, normal", render: held(card, 0.6, 1, nil), captured: true, want: Capturing},
		{name: "card, dark", render: held(card, 0.6, 0.4, nil), want: ImproveLighting, failing: CheckBrightness},
		{name: "card, half in shadow", render: held(card, 0.6, 1, shadow), want: ImproveLighting, failing: CheckDark},
	}
	for _, sc := range scenes {
		t.Run(sc.name, func(t *testing.T) {
			path, _ := writeVideo(t, []segment{{name: sc.name, frames: 10, render: sc.render}})
			g, err := NewDocumentGuide(DefaultDocumentConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			ovs, _ := runVideo(t, path, g)
			t.Logf("%-26s%s", sc.name, checkMedians(ovs, CheckBrightness, CheckDark, CheckClipped, CheckGlare))
			caps := g.Captures()
			for _, c := range caps {
				c.Image.Close()
			}
			if got := len(caps) == 1; got != sc.captured {
				t.Errorf("captured %v, want %v", got, sc.captured)
			}
			if len(ovs) < 2 {
				t.Fatalf("%d frames analysed", len(ovs))
			}
			// The first frame has no motion reference yet: it holds steady
			// unless something else is wrong.
			first := 0
			if sc.captured {
				first = 1
			}
			for _, ov := range ovs[first:] {
				if ov.Message != sc.want || ov.Hint != sc.hint {
					t.Errorf("frame %d: message %q hint %q, want %q hint %q (checks %+v)", ov.Seq, ov.Message, ov.Hint, sc.want, sc.hint, ov.Checks)
				}
				var failed []string
				for _, c := range ov.Checks {
					if !c.OK && c.Name != CheckSpeed {
						failed = append(failed, c.Name)
					}
				}
				if sc.failing != "" && !slices.Contains(failed, sc.failing) {
					t.Errorf("frame %d: failed checks %v, want %s among them", ov.Seq, failed, sc.failing)
				}
				if sc.captured && len(failed) > 0 {
					t.Errorf("frame %d: failed checks %v", ov.Seq, failed)
				}
			}
			// The bright page is the one the seed's 80-200 range refused.
			if sc.hint == BrightLighting {
				for _, c := range ovs[0].Checks {
					if c.Name == CheckBrightness && c.Value <= 200 {
						t.Errorf("the bright page's mean grey is %.1f, not above the old limit of 200", c.Value)
					}
				}
			}
		})
	}
}

// checkMedians formats the median value of each named check over ovs.
func checkMedians(ovs []Overlay, names ...string) string {
	var out string
	for _, name := range names {
		var v []float64
		for _, ov := range ovs {
			for _, c := range ov.Checks {
				if c.Name == name {
					v = append(v, c.Value)
				}
			}
		}
		if len(v) == 0 {
			continue
		}
		sort.Float64s(v)
		out += fmt.Sprintf(" %s=%.3g", name, v[len(v)/2])
	}
	return out
}

func TestHintTexts(t *testing.T) {
	for _, m := range []Message{BrightLighting, DimLighting, HoldUpright} {
		en, id := m.Text(English), m.Text(Indonesian)
		if en == string(m) || id == string(m) || en == id {
			t.Errorf("%s: texts %q / %q", m, en, id)
		}
	}
}

// TestExposureShares checks the threshold counts against a plain count
// over every pixel, at and around each level.
func TestExposureShares(t *testing.T) {
	bgr := gocv.NewMatWithSize(64, 96, gocv.MatTypeCV8UC3)
	defer bgr.Close()
	gocv.RandU(&bgr, gocv.NewScalar(200, 200, 200, 0), gocv.NewScalar(256, 256, 256, 0))
	// Some pixels exactly at the levels and some dark ones.
	for i := 0; i < 96; i++ {
		bgr.SetUCharAt(i%64, i*3, 245)
		bgr.SetUCharAt(i%64, i*3+1, 245)
		bgr.SetUCharAt(i%64, i*3+2, 245)
		bgr.SetUCharAt((i+7)%64, i*3+1, uint8(i%50))
	}
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(bgr, &grey, gocv.ColorBGRToGray)
	px, err := bgr.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	gp, err := grey.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	for _, lv := range []float64{40, 244, 245, 245.5, 250} {
		var glare, dark, clipped int
		for i, g := range gp {
			b, gr, r := float64(px[3*i]), float64(px[3*i+1]), float64(px[3*i+2])
			if b >= lv && gr >= lv && r >= lv {
				glare++
			}
			if float64(g) <= lv {
				dark++
			}
			if float64(g) >= lv {
				clipped++
			}
		}
		n := float64(len(gp))
		if got := glareFraction(bgr, lv); got != float64(glare)/n {
			t.Errorf("level %g: glare %.4f, counted %.4f", lv, got, float64(glare)/n)
		}
		d, c := exposure(grey, lv, lv)
		if d != float64(dark)/n || c != float64(clipped)/n {
			t.Errorf("level %g: dark %.4f clipped %.4f, counted %.4f %.4f", lv, d, c, float64(dark)/n, float64(clipped)/n)
		}
	}
}
