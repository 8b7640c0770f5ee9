package forensics

import (
	"bytes"
	"encoding/binary"
	"image"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/internal/synth"
)

const cardW, cardH = 1000, 630

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
	dst := pastePortrait(t, base, seed)
	return encodeJPEG(t, base, 90), dst
}

// pastePortrait pastes into base, off the 8x8 grid, the portrait of
// another card taken from a quality-60 JPEG, and returns where.
func pastePortrait(t testing.TB, base gocv.Mat, seed uint64) image.Rectangle {
	t.Helper()
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
	return dst
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
	synth.CopyMove(&base, src, dst)
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

// screenReplay photographs the card on a display (synth.ScreenPhoto):
// each screen pixel three vertical RGB sub-pixel stripes with a dark gap
// between rows, the screen showing the card at 0.9 of its size, the camera
// turned 1 to 3 degrees and at a pitch 4 to 14% above the screen's, which
// folds the sub-pixel grid into moire.
func screenReplay(t testing.TB, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	angle := (1 + 2*rng.Float64()) * float64(1-2*int(seed%2))
	pitch := (1.04 + 0.1*rng.Float64()) / 0.9
	shot := synth.ScreenPhoto(card, synth.ScreenOptions{Pitch: pitch, Angle: angle, Blur: 0.2, Brightness: 0.65})
	defer shot.Close()
	return encodeJPEG(t, shot, 90)
}

// printedCopy photographs a colour print of the card (synth.PrintPhoto):
// each CMYK ink thresholded against its own dot screen (15, 75, 0 and 45
// degrees) of period 4, the dots spread a little.
func printedCopy(t testing.TB, seed uint64) []byte {
	t.Helper()
	card := renderCard(t, seed, cardW, cardH)
	defer card.Close()
	shot := synth.PrintPhoto(card, synth.PrintOptions{Period: 4, Blur: 0.01})
	defer shot.Close()
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
