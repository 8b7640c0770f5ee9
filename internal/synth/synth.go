// Package synth renders synthetic test scenes with known ground truth: an
// ID card with printed text and an optional portrait, placed in perspective
// on a cluttered background. Tests of the document engine and of capture
// guidance build their inputs with it, so every expected corner and field is
// known exactly.
package synth

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// hersheyCapHeight is the height of a capital in gocv's Hershey simplex
// font at scale 1, in pixels.
const hersheyCapHeight = 22

// CardOptions describe a synthetic ID-1 card.
type CardOptions struct {
	Width int // pixels; height follows the ID-1 aspect
	// Lines of text printed on the right half, top to bottom.
	Lines []string
	// Portrait, when not nil, is pasted on the left (BGR).
	Portrait *gocv.Mat
	Seed     uint64
}

// Card renders a colour ID-1 card: a tinted gradient with fine guilloche
// lines, a header band, text lines and a portrait area.
func Card(o CardOptions) gocv.Mat {
	if o.Width == 0 {
		o.Width = 856
	}
	w, h := o.Width, int(math.Round(float64(o.Width)*54/85.6))
	rng := rand.New(rand.NewPCG(o.Seed, 7))
	card := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	base := [3]float64{170 + rng.Float64()*60, 150 + rng.Float64()*60, 120 + rng.Float64()*60}
	for y := 0; y < h; y++ {
		t := float64(y) / float64(h)
		c := color.RGBA{uint8(base[2] * (1 - 0.2*t)), uint8(base[1] * (0.9 + 0.1*t)), uint8(base[0]), 255}
		gocv.Line(&card, image.Pt(0, y), image.Pt(w, y), c, 1)
	}
	// Guilloche: thin sine curves, as on real security printing.
	for k := 0; k < 12; k++ {
		phase, amp := rng.Float64()*math.Pi*2, 5+rng.Float64()*15
		prev := image.Pt(0, 0)
		for x := 0; x <= w; x += 4 {
			y := int(float64(h)*(float64(k)+0.5)/12 + amp*math.Sin(float64(x)/37+phase))
			if x > 0 {
				gocv.Line(&card, prev, image.Pt(x, y), color.RGBA{uint8(base[2] * 0.8), uint8(base[1] * 0.85), uint8(base[0] * 0.9), 255}, 1)
			}
			prev = image.Pt(x, y)
		}
	}
	// The header band sits inside a pale rim, as on printed ID cards.
	band, rim := h/7, w/60
	gocv.Rectangle(&card, image.Rect(rim, rim, w-rim, band), color.RGBA{30, 60, 120, 255}, -1)
	gocv.PutText(&card, "REPUBLIK SINTESIS", image.Pt(w/20, band*3/4), gocv.FontHersheyDuplex, float64(w)/900, color.RGBA{255, 255, 255, 255}, 2)
	px, py, pw, ph := w/20, band+h/12, w*3/10, h*6/10
	portrait := image.Rect(px, py, px+pw, py+ph)
	if o.Portrait != nil && !o.Portrait.Empty() {
		region := card.Region(portrait)
		gocv.Resize(*o.Portrait, &region, image.Pt(pw, ph), 0, 0, gocv.InterpolationArea)
		region.Close()
	} else {
		gocv.Rectangle(&card, portrait, color.RGBA{200, 200, 200, 255}, -1)
		gocv.Circle(&card, image.Pt(px+pw/2, py+ph*2/5), pw/4, color.RGBA{120, 110, 100, 255}, -1)
	}
	tx := px + pw + w/25
	// Up to seven lines print at the card's usual size; more are set
	// closer, as a KTP's fifteen are, with capitals about half the line
	// pitch high (a KTP's 1.5 mm capitals on a 2.6 mm pitch).
	step := h / 10
	scale := float64(w) / 1300
	if n := len(o.Lines); n > 7 {
		step = (h - band - h/8 - h/20) / n
		scale = 0.55 * float64(step) / hersheyCapHeight
	}
	thick := max(1, int(math.Round(2*scale*1300/float64(w))))
	for i, line := range o.Lines {
		y := band + h/8 + i*step
		gocv.PutText(&card, line, image.Pt(tx, y), gocv.FontHersheySimplex, scale, color.RGBA{20, 20, 30, 255}, thick)
	}
	return card
}

// Background renders a cluttered desk: a textured gradient with random
// shapes and lines, as a document camera sees around a card.
func Background(width, height int, seed uint64) gocv.Mat {
	rng := rand.New(rand.NewPCG(seed, 11))
	bg := gocv.NewMatWithSize(height, width, gocv.MatTypeCV8UC3)
	c0 := [3]float64{40 + rng.Float64()*80, 40 + rng.Float64()*80, 40 + rng.Float64()*80}
	for y := 0; y < height; y++ {
		t := float64(y) / float64(height)
		gocv.Line(&bg, image.Pt(0, y), image.Pt(width, y),
			color.RGBA{uint8(c0[2] + 30*t), uint8(c0[1] + 20*t), uint8(c0[0]), 255}, 1)
	}
	rc := func() color.RGBA {
		return color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
	}
	for i := 0; i < 25; i++ {
		p := image.Pt(rng.IntN(width), rng.IntN(height))
		switch rng.IntN(3) {
		case 0:
			s := 10 + rng.IntN(width/8)
			gocv.Rectangle(&bg, image.Rect(p.X, p.Y, p.X+s, p.Y+s*2/3), rc(), -1)
		case 1:
			gocv.Circle(&bg, p, 5+rng.IntN(width/12), rc(), -1)
		default:
			gocv.Line(&bg, p, image.Pt(rng.IntN(width), rng.IntN(height)), rc(), 1+rng.IntN(3))
		}
	}
	// Sensor-like noise from the seeded generator: OpenCV's RandN draws
	// from a per-thread state, which made scenes differ from run to run.
	pix, err := bg.DataPtrUint8()
	if err == nil {
		for i, v := range pix {
			pix[i] = uint8(min(255, max(0, float64(v)+rng.NormFloat64()*6)))
		}
	}
	return bg
}

// Placement says where a card lands in a scene.
type Placement struct {
	CenterX, CenterY float64 // fractions of the scene size
	WidthFrac        float64 // card width over scene width
	Rotate           float64 // in-plane rotation, degrees
	// Tilt turns the card away from the camera about its horizontal axis
	// by this many degrees (its top edge recedes).
	Tilt float64
}

// Corners computes the card's four corners in the scene (top-left,
// top-right, bottom-right, bottom-left of the card) through a pinhole
// camera whose focal length is the scene width (a 53-degree field of view,
// like a webcam's): the card is tilted about its horizontal axis, turned
// in its plane, and projected, so the outline has true perspective.
func (p Placement) Corners(sceneW, sceneH int, aspect float64) [4]gocv.Point2f {
	f := float64(sceneW)
	cw := p.WidthFrac * float64(sceneW)
	ch := cw / aspect
	t := p.Tilt * math.Pi / 180
	a := p.Rotate * math.Pi / 180
	pts := [4][2]float64{{-cw / 2, -ch / 2}, {cw / 2, -ch / 2}, {cw / 2, ch / 2}, {-cw / 2, ch / 2}}
	var out [4]gocv.Point2f
	for i, q := range pts {
		x, y, z := q[0], q[1]*math.Cos(t), q[1]*math.Sin(t)
		x, y = x*math.Cos(a)-y*math.Sin(a), x*math.Sin(a)+y*math.Cos(a)
		// The card's centre sits at depth f, offset from the optical axis.
		x += (p.CenterX - 0.5) * float64(sceneW)
		y += (p.CenterY - 0.5) * float64(sceneH)
		s := f / (f + z)
		out[i] = gocv.Point2f{X: float32(x*s + float64(sceneW)/2), Y: float32(y*s + float64(sceneH)/2)}
	}
	return out
}

// Place warps card onto a copy of bg at the placement and returns the scene
// and the card's corners in it.
func Place(bg, card gocv.Mat, p Placement) (gocv.Mat, [4]gocv.Point2f) {
	aspect := float64(card.Cols()) / float64(card.Rows())
	corners := p.Corners(bg.Cols(), bg.Rows(), aspect)
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{
		{X: 0, Y: 0}, {X: float32(card.Cols()), Y: 0},
		{X: float32(card.Cols()), Y: float32(card.Rows())}, {X: 0, Y: float32(card.Rows())},
	})
	defer src.Close()
	dst := gocv.NewPoint2fVectorFromPoints(corners[:])
	defer dst.Close()
	m := gocv.GetPerspectiveTransform2f(src, dst)
	defer m.Close()
	warped := gocv.NewMat()
	defer warped.Close()
	gocv.WarpPerspective(card, &warped, m, image.Pt(bg.Cols(), bg.Rows()))
	mask := gocv.NewMatWithSize(bg.Rows(), bg.Cols(), gocv.MatTypeCV8U)
	defer mask.Close()
	poly := make([]image.Point, 4)
	for i, c := range corners {
		poly[i] = image.Pt(int(math.Round(float64(c.X))), int(math.Round(float64(c.Y))))
	}
	pv := gocv.NewPointsVectorFromPoints([][]image.Point{poly})
	defer pv.Close()
	gocv.FillPoly(&mask, pv, color.RGBA{255, 255, 255, 255})
	scene := bg.Clone()
	warped.CopyToWithMask(&scene, mask)
	return scene, corners
}

// PasteAt copies src onto a copy of bg with its top-left corner at (x,
// y), clipped to bg: a subject moved across a still scene.
func PasteAt(bg, src gocv.Mat, x, y int) gocv.Mat {
	out := bg.Clone()
	r := image.Rect(x, y, x+src.Cols(), y+src.Rows()).Intersect(image.Rect(0, 0, bg.Cols(), bg.Rows()))
	if r.Empty() {
		return out
	}
	from := src.Region(r.Sub(image.Pt(x, y)))
	to := out.Region(r)
	from.CopyTo(&to)
	from.Close()
	to.Close()
	return out
}

// KTPLines are the fifteen printed lines of an Indonesian identity card
// (KTP), for a woman born on 5 August 1990 (day 05 + 40 in the NIK), valid
// until validUntil ("SEUMUR HIDUP" for life, or a date DD-MM-YYYY).
func KTPLines(validUntil string) []string {
	return []string{
		"PROVINSI DKI JAKARTA", "JAKARTA SELATAN", "NIK : 3171234508900001", "Nama : SITI RAHAYU",
		"Tempat/Tgl Lahir : JAKARTA, 05-08-1990", "Jenis Kelamin : PEREMPUAN", "Alamat : JL. MAWAR NO. 12",
		"RT/RW : 004/007", "Kel/Desa : CIPETE UTARA", "Kecamatan : KEBAYORAN BARU", "Agama : ISLAM",
		"Status Perkawinan : BELUM KAWIN", "Pekerjaan : KARYAWAN SWASTA", "Kewarganegaraan : WNI",
		"Berlaku Hingga : " + validUntil,
	}
}

// KTPOnDesk is a whole fifteen-line KTP (valid for life, portrait drawn
// unless given) held over a cluttered desk of the given size, filling
// widthFrac of it, turned and tilted a little.
func KTPOnDesk(width, height int, widthFrac float64, portrait *gocv.Mat, seed uint64) gocv.Mat {
	card := Card(CardOptions{Width: 1000, Portrait: portrait, Seed: seed, Lines: KTPLines("SEUMUR HIDUP")})
	defer card.Close()
	desk := Background(width, height, seed)
	defer desk.Close()
	scene, _ := Place(desk, card, Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: widthFrac, Rotate: 4, Tilt: 8})
	return scene
}

// CopyMove copies img's block src over dst, of the same size, in place: a
// copy-move forgery. The block is copied first, so the two may overlap.
func CopyMove(img *gocv.Mat, src, dst image.Rectangle) {
	from := img.Region(src)
	block := from.Clone()
	from.Close()
	to := img.Region(dst)
	block.CopyTo(&to)
	to.Close()
	block.Close()
}
