package forensics

import (
	"bytes"
	"encoding/binary"
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"
)

const cardW, cardH = 1000, 630

// sample is one synthetic capture with its ground truth.
type sample struct {
	raw []byte
	img gocv.Mat
}

func newSample(t testing.TB, raw []byte) sample {
	t.Helper()
	return sample{raw: raw, img: decodeBGR(t, raw)}
}

// genuineJPEG is the honest capture: the card saved once at quality 90.
func genuineJPEG(t testing.TB, seed uint64) []byte {
	t.Helper()
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	return encodeJPEG(t, card, 90)
}

// spliced pastes the portrait of another card, itself taken from a
// quality-60 JPEG, into the decoded genuine card at an offset off the 8x8
// grid, and saves at quality 90 again (a forger's photo swap).
func spliced(t testing.TB, seed uint64) ([]byte, image.Rectangle) {
	t.Helper()
	base := decodeBGR(t, genuineJPEG(t, seed))
	defer base.Close()
	other := renderCard(t, seed+1000, cardW, cardH)
	donor := decodeBGR(t, encodeJPEG(t, other, 60))
	other.Close()
	defer donor.Close()
	src := image.Rect(43, 116, 43+252, 116+320)
	dst := src.Add(image.Pt(-3+int(seed%7), 5))
	from := donor.Region(src)
	to := base.Region(dst)
	from.CopyTo(&to)
	from.Close()
	to.Close()
	return encodeJPEG(t, base, 90), dst
}

// doubleSaved is the card saved at quality q1, decoded and saved at 90.
func doubleSaved(t testing.TB, seed uint64, q1 int) []byte {
	t.Helper()
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	first := decodeBGR(t, encodeJPEG(t, card, q1))
	defer first.Close()
	return encodeJPEG(t, first, 90)
}

// copyMoved copies a block of printed fields onto the guilloche area.
func copyMoved(t testing.TB, seed uint64) ([]byte, image.Rectangle, image.Rectangle) {
	t.Helper()
	base := decodeBGR(t, genuineJPEG(t, seed))
	defer base.Close()
	src := image.Rect(340, 150, 340+220, 150+110)
	dst := src.Add(image.Pt(380+int(seed%5)*4, 250))
	from := base.Region(src)
	block := from.Clone()
	from.Close()
	to := base.Region(dst)
	block.CopyTo(&to)
	block.Close()
	to.Close()
	return encodeJPEG(t, base, 90), src, dst
}

// withSoftware inserts an APP1 Exif segment whose IFD0 Software tag names
// software, right after the SOI marker.
func withSoftware(t testing.TB, jpg []byte, software string) []byte {
	t.Helper()
	val := append([]byte(software), 0)
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	binary.Write(&tiff, binary.BigEndian, uint32(8)) // IFD0 offset
	binary.Write(&tiff, binary.BigEndian, uint16(1)) // one entry
	binary.Write(&tiff, binary.BigEndian, uint16(0x0131))
	binary.Write(&tiff, binary.BigEndian, uint16(2))
	binary.Write(&tiff, binary.BigEndian, uint32(len(val)))
	binary.Write(&tiff, binary.BigEndian, uint32(8+2+12+4)) // value after the IFD
	binary.Write(&tiff, binary.BigEndian, uint32(0))        // no next IFD
	tiff.Write(val)
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// screenReplay simulates photographing the card on a display: each screen
// pixel is three vertical RGB sub-pixel stripes with a dark gap between
// rows; the camera, slightly rotated and at a pitch other than the
// screen's, blurs and resamples it, which folds the sub-pixel grid into
// moire.
func screenReplay(t testing.TB, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	sw, sh := int(float64(cardW)*0.9), int(float64(cardH)*0.9)
	screen := gocv.NewMat()
	defer screen.Close()
	gocv.Resize(card, &screen, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	sp, _ := screen.DataPtrUint8()
	cw, ch := 3*sw, 3*sh
	canvas := gocv.NewMatWithSize(ch, cw, gocv.MatTypeCV8UC3)
	defer canvas.Close()
	cp, _ := canvas.DataPtrUint8()
	for y := 0; y < ch; y++ {
		gain := 1.0
		if y%3 == 2 {
			gain = 0.45
		}
		for x := 0; x < cw; x++ {
			sub := 2 - x%3 // BGR order: column 0 is red
			v := float64(sp[((y/3)*sw+x/3)*3+sub]) * gain
			cp[(y*cw+x)*3+sub] = uint8(min(v, 255))
		}
	}
	blur := gocv.NewMat()
	defer blur.Close()
	gocv.GaussianBlur(canvas, &blur, image.Pt(0, 0), 0.9, 0.9, gocv.BorderReflect)
	angle := (1 + 2*rng.Float64()) * float64(1-2*int(seed%2))
	scale := float64(cardW) / float64(cw) * (1.04 + 0.1*rng.Float64())
	rot := gocv.GetRotationMatrix2D(image.Pt(cw/2, ch/2), angle, scale)
	defer rot.Close()
	// Centre the card in the output.
	rot.SetDoubleAt(0, 2, rot.GetDoubleAt(0, 2)+float64(cardW-cw)/2)
	rot.SetDoubleAt(1, 2, rot.GetDoubleAt(1, 2)+float64(cardH-ch)/2)
	shot := gocv.NewMat()
	defer shot.Close()
	gocv.WarpAffine(blur, &shot, rot, image.Pt(cardW, cardH))
	shot.ConvertToWithParams(&shot, gocv.MatTypeCV8UC3, 2.4, 0)
	return encodeJPEG(t, shot, 90)
}

// printedCopy simulates a colour print: each CMYK ink is thresholded
// against its own dot screen (15, 75, 0 and 45 degrees), the dots spread
// a little, and the print is captured at half the halftoning resolution.
func printedCopy(t testing.TB, seed uint64) []byte {
	t.Helper()
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	up := gocv.NewMat()
	defer up.Close()
	uw, uh := 2*cardW, 2*cardH
	gocv.Resize(card, &up, image.Pt(uw, uh), 0, 0, gocv.InterpolationLinear)
	p, _ := up.DataPtrUint8()
	const period = 8.0
	angles := [4]float64{15, 75, 0, 45} // C, M, Y, K
	var cs, sn [4]float64
	for i, a := range angles {
		cs[i], sn[i] = math.Cos(a*math.Pi/180), math.Sin(a*math.Pi/180)
	}
	out := gocv.NewMatWithSize(uh, uw, gocv.MatTypeCV8UC3)
	defer out.Close()
	op, _ := out.DataPtrUint8()
	for y := 0; y < uh; y++ {
		for x := 0; x < uw; x++ {
			i := (y*uw + x) * 3
			b, g, r := float64(p[i])/255, float64(p[i+1])/255, float64(p[i+2])/255
			k := 1 - max(r, g, b)
			inks := [4]float64{0, 0, 0, k}
			if k < 1 {
				inks[0], inks[1], inks[2] = (1-r-k)/(1-k), (1-g-k)/(1-k), (1-b-k)/(1-k)
			}
			var on [4]float64
			for c := range inks {
				xr := float64(x)*cs[c] + float64(y)*sn[c]
				yr := -float64(x)*sn[c] + float64(y)*cs[c]
				s := 0.5 + 0.25*(math.Cos(2*math.Pi*xr/period)+math.Cos(2*math.Pi*yr/period))
				if inks[c] > s {
					on[c] = 1
				}
			}
			paper := 0.96
			op[i+2] = uint8(255 * paper * (1 - on[0]) * (1 - on[3]))
			op[i+1] = uint8(255 * paper * (1 - on[1]) * (1 - on[3]))
			op[i] = uint8(255 * paper * (1 - on[2]) * (1 - on[3]))
		}
	}
	gocv.GaussianBlur(out, &out, image.Pt(0, 0), 1.2, 1.2, gocv.BorderReflect)
	shot := gocv.NewMat()
	defer shot.Close()
	gocv.Resize(out, &shot, image.Pt(cardW, cardH), 0, 0, gocv.InterpolationArea)
	return encodeJPEG(t, shot, 90)
}

// photocopied is a black-and-white copy: grey, harder contrast, toner
// noise, photographed under slightly warm light.
func photocopied(t testing.TB, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 13))
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(card, &grey, gocv.ColorBGRToGray)
	g, _ := grey.DataPtrUint8()
	out := gocv.NewMatWithSize(cardH, cardW, gocv.MatTypeCV8UC3)
	defer out.Close()
	op, _ := out.DataPtrUint8()
	for i, v := range g {
		l := min(max(1.4*float64(v)-50+rng.NormFloat64()*5, 0), 255)
		op[3*i], op[3*i+1], op[3*i+2] = uint8(l*0.92), uint8(l*0.97), uint8(l)
	}
	return encodeJPEG(t, out, 90)
}

// mutedGenuine is a genuine document printed in faint colours: the card's
// chroma reduced to a fifth, saved once at quality 90.
func mutedGenuine(t testing.TB, seed uint64) []byte {
	t.Helper()
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	p, _ := card.DataPtrUint8()
	for i := 0; i+2 < len(p); i += 3 {
		grey := (float64(p[i]) + float64(p[i+1]) + float64(p[i+2])) / 3
		for c := 0; c < 3; c++ {
			p[i+c] = uint8(grey + 0.2*(float64(p[i+c])-grey))
		}
	}
	return encodeJPEG(t, card, 90)
}
