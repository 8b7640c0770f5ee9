package capture

import (
	"context"
	"image"
	"image/color"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/synth"
	"github.com/openkyc/kyc/internal/testenv"
)

func yunet(t testing.TB) *face.YuNet {
	t.Helper()
	testenv.ORT(t)
	d, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// selfieScene renders a face photo from the shared set into 1280x720
// frames, with the edits that fake what a person in front of a camera does.
type selfieScene struct {
	bg, portrait gocv.Mat
	lm           [5]face.Point // the portrait's landmarks
}

func newSelfieScene(t testing.TB, det face.Detector, person string) *selfieScene {
	t.Helper()
	src := gocv.IMRead(testenv.Data(t, "faces", "faceapi_bbt", person), gocv.IMReadColor)
	defer src.Close()
	s := &selfieScene{bg: synth.Background(1280, 720, 21), portrait: gocv.NewMat()}
	// Fill the photo's frame with its own border colour and enlarge it.
	gocv.Resize(src, &s.portrait, image.Pt(380, 380), 0, 0, gocv.InterpolationCubic)
	faces, err := det.Detect(context.Background(), s.portrait)
	if err != nil || len(faces) == 0 {
		t.Fatalf("no face in %s: %v", person, err)
	}
	s.lm = faces[0].Landmarks
	t.Cleanup(func() { s.bg.Close(); s.portrait.Close() })
	return s
}

type faceEdit func(p *gocv.Mat, lm [5]face.Point)

// frame pastes the portrait, edited, scaled by scale and centred at (cx,
// cy) as fractions of the frame; brightness scales the whole frame.
func (s *selfieScene) frame(cx, cy, scale, brightness float64, edits ...faceEdit) gocv.Mat {
	p := s.portrait.Clone()
	defer p.Close()
	for _, e := range edits {
		e(&p, s.lm)
	}
	size := int(380 * scale)
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(p, &small, image.Pt(size, size), 0, 0, gocv.InterpolationArea)
	out := s.bg.Clone()
	x, y := int(cx*1280)-size/2, int(cy*720)-size/2
	r := image.Rect(x, y, x+size, y+size).Intersect(image.Rect(0, 0, 1280, 720))
	src := small.Region(r.Sub(image.Pt(x, y)))
	dst := out.Region(r)
	src.CopyTo(&dst)
	src.Close()
	dst.Close()
	if brightness != 1 {
		out.ConvertToWithParams(&out, gocv.MatTypeCV8UC3, float32(brightness), 0)
	}
	return out
}

func iodOf(lm [5]face.Point) float64 { return lm[face.LeftEye].X - lm[face.RightEye].X }

// sunglasses draws dark lenses over both eyes.
func sunglasses(p *gocv.Mat, lm [5]face.Point) {
	d := iodOf(lm)
	for _, e := range lm[:2] {
		gocv.Ellipse(p, image.Pt(int(e.X), int(e.Y)), image.Pt(int(0.38*d), int(0.26*d)), 0, 0, 360, color.RGBA{15, 15, 20, 255}, -1)
	}
	gocv.Line(p, image.Pt(int(lm[0].X), int(lm[0].Y)), image.Pt(int(lm[1].X), int(lm[1].Y)), color.RGBA{15, 15, 20, 255}, int(0.06*d)+1)
}

// closedEyes paints each eye over with the skin just below it.
func closedEyes(p *gocv.Mat, lm [5]face.Point) {
	d := iodOf(lm)
	for _, e := range lm[:2] {
		skin := p.Region(image.Rect(int(e.X-0.1*d), int(e.Y+0.35*d), int(e.X+0.1*d), int(e.Y+0.45*d)))
		m := skin.Mean()
		skin.Close()
		gocv.Ellipse(p, image.Pt(int(e.X), int(e.Y)), image.Pt(int(0.3*d), int(0.16*d)), 0, 0, 360, color.RGBA{uint8(m.Val3), uint8(m.Val2), uint8(m.Val1), 255}, -1)
	}
}

// turn fakes a head turn by squeezing the image left of the nose by
// squeeze and stretching the rest to keep the width: the nose moves off
// the eyes' centre as it does on a turned head. A positive squeeze looks
// towards the image's left.
func turn(squeeze float64) faceEdit {
	return func(p *gocv.Mat, lm [5]face.Point) {
		w, h := p.Cols(), p.Rows()
		nx := int(lm[face.NoseTip].X)
		if squeeze < 0 {
			gocv.Flip(*p, p, 1)
			nx = w - nx
			squeeze = -squeeze
		}
		left, right := p.Region(image.Rect(0, 0, nx, h)), p.Region(image.Rect(nx, 0, w, h))
		lw := int(float64(nx) * (1 - squeeze))
		a, b := gocv.NewMat(), gocv.NewMat()
		gocv.Resize(left, &a, image.Pt(lw, h), 0, 0, gocv.InterpolationArea)
		gocv.Resize(right, &b, image.Pt(w-lw, h), 0, 0, gocv.InterpolationLinear)
		gocv.Hconcat(a, b, p)
		left.Close()
		right.Close()
		a.Close()
		b.Close()
	}
}

// mirror undoes turn's flip for a negative squeeze.
func mirror(p *gocv.Mat, _ [5]face.Point) { gocv.Flip(*p, p, 1) }

// pair renders two people side by side.
func (s *selfieScene) pair() gocv.Mat {
	a := s.frame(0.28, 0.45, 0.8, 1)
	b := s.frame(0.72, 0.45, 0.8, 1)
	defer b.Close()
	half := image.Rect(640, 0, 1280, 720)
	src, dst := b.Region(half), a.Region(half)
	src.CopyTo(&dst)
	src.Close()
	dst.Close()
	return a
}

func TestSelfieVideo(t *testing.T) {
	det := yunet(t)
	s := newSelfieScene(t, det, "penny/penny1.png")
	still := func(cx, scale, bright float64, e ...faceEdit) func(int) gocv.Mat {
		return func(int) gocv.Mat { return s.frame(cx, 0.45, scale, bright, e...) }
	}
	segs := []segment{
		{"empty", 4, NoFace, func(int) gocv.Mat { return s.bg.Clone() }},
		{"two people", 4, MultipleFaces, func(int) gocv.Mat { return s.pair() }},
		{"far", 4, MoveCloser, still(0.5, 0.5, 1)},
		{"off the oval", 4, CenterFace, still(0.2, 1, 1)},
		{"dark", 4, ImproveLighting, still(0.5, 1, 0.15)},
		{"sunglasses", 4, RemoveCovering, still(0.5, 1, 1, sunglasses)},
		{"turned", 4, FaceCamera, still(0.5, 1, 1, turn(0.5))},
		{"steady", 6, Capturing, still(0.5, 1, 1)},
		{"turn left", 4, TurnLeft, func(i int) gocv.Mat {
			if i < 2 {
				return s.frame(0.5, 0.45, 1, 1)
			}
			return s.frame(0.5, 0.45, 1, 1, turn(-0.5), mirror)
		}},
		{"blink", 6, Blink, func(i int) gocv.Mat {
			if i == 2 || i == 3 {
				return s.frame(0.5, 0.45, 1, 1, closedEyes)
			}
			return s.frame(0.5, 0.45, 1, 1)
		}},
	}
	path, starts := writeVideo(t, segs)
	cfg := DefaultSelfieConfig()
	cfg.Challenges = []Message{TurnLeft, Blink}
	g, err := NewSelfieGuide(det, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ovs, st := runVideo(t, path, g)
	for i, sg := range segs {
		end := len(ovs)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		if got := majority(ovs, starts[i], end); got != sg.want {
			t.Errorf("segment %s: message %s, want %s", sg.name, got, sg.want)
		}
	}
	caps := g.Captures()
	var names []string
	for _, c := range caps {
		names = append(names, c.Name)
		c.Image.Close()
	}
	// The selfie comes from the first steady frames; the left turn shows from its third frame; the blink
	// completes when the eyes open again after two shut frames.
	want := []struct {
		name string
		seq  int
	}{{"selfie", -1}, {"turn_left", starts[8] + 2}, {"blink", starts[9] + 4}}
	if len(caps) != len(want) || !g.Done() {
		t.Fatalf("captures %v, done %v", names, g.Done())
	}
	for i, w := range want {
		if caps[i].Name != w.name || (w.seq >= 0 && caps[i].Seq != w.seq) {
			t.Errorf("capture %d = %s frame %d, want %s frame %d", i, caps[i].Name, caps[i].Seq, w.name, w.seq)
		}
	}
	if s := caps[0].Seq; s < starts[7] || s >= starts[8] {
		t.Errorf("selfie frame %d outside the steady window", s)
	}
	if st.Analysed != want[2].seq+1 {
		t.Errorf("analysed %d frames, want %d", st.Analysed, want[2].seq+1)
	}
}

// countingDetector counts the detections it runs.
type countingDetector struct {
	face.Detector
	n int
}

func (d *countingDetector) Detect(ctx context.Context, img gocv.Mat) ([]face.Face, error) {
	d.n++
	return d.Detector.Detect(ctx, img)
}

// TestSelfieHoldUpright: a face found only in the frame turned by a quarter
// means the camera is held sideways: the guide hints to hold it upright,
// searching turned frames at most once per UprightEvery and never when a
// face is found as the frame comes.
func TestSelfieHoldUpright(t *testing.T) {
	det := &countingDetector{Detector: yunet(t)}
	s := newSelfieScene(t, det, "amy/amy1.png")
	upright := s.frame(0.5, 0.45, 1, 1)
	defer upright.Close()
	sideways, err := imageio.Turn(upright, 90)
	if err != nil {
		t.Fatal(err)
	}
	defer sideways.Close()
	if faces, err := det.Detect(context.Background(), sideways); err != nil || len(faces) > 0 {
		t.Fatalf("the sideways frame has %d faces as it comes (%v): the case needs another", len(faces), err)
	}
	g, err := NewSelfieGuide(det, DefaultSelfieConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for i, c := range []struct {
		name       string
		at         time.Duration
		img        gocv.Mat
		message    Message
		hint       Message
		detections int
	}{
		{"sideways", 0, sideways, NoFace, HoldUpright, 2},
		{"sideways, searched a moment ago", 300 * time.Millisecond, sideways, NoFace, HoldUpright, 1},
		{"empty, searched a moment ago", 600 * time.Millisecond, s.bg, NoFace, HoldUpright, 1},
		{"empty, searched again", 1100 * time.Millisecond, s.bg, NoFace, "", 3},
		{"sideways again, searched a moment ago", 1200 * time.Millisecond, sideways, NoFace, "", 1},
		{"upright", 1300 * time.Millisecond, upright, "", "", 1},
		{"sideways after a face upright", 1400 * time.Millisecond, sideways, NoFace, HoldUpright, 2},
	} {
		det.n = 0
		ov, err := g.Analyse(context.Background(), Frame{Seq: i, Time: c.at, Image: c.img})
		if err != nil {
			t.Fatal(err)
		}
		if c.message != "" && ov.Message != c.message || c.message == "" && ov.Message == NoFace || ov.Hint != c.hint || det.n != c.detections {
			t.Errorf("%s: message %q hint %q after %d detections, want %q %q after %d", c.name, ov.Message, ov.Hint, det.n, c.message, c.hint, c.detections)
		}
	}
}
