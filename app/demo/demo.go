// Package demo renders the demo camera: a document video and a selfie
// video of one person, so the desktop app shows the whole verification
// flow on a machine without cameras. The end-to-end tests render their
// scenarios (another face, a spoof, an expired card) with it too.
package demo

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/internal/synth"
)

// ErrNoFace means the photo a video is rendered from shows no face.
var ErrNoFace = errors.New("demo: no face in the photo")

// FPS is the frame rate of the demo videos, a webcam's usual rate.
const FPS = 15

// CardLines are the printed lines of the demo identity card: a whole
// fifteen-line KTP, valid until validUntil (a date, or "SEUMUR HIDUP").
func CardLines(validUntil string) []string {
	return synth.KTPLines(validUntil)
}

// Portrait cuts the largest face of photo with the margin a card prints.
func Portrait(ctx context.Context, det face.Detector, photo gocv.Mat) (gocv.Mat, error) {
	b, err := largestFace(ctx, det, photo)
	if err != nil {
		return gocv.NewMat(), err
	}
	r := image.Rect(int(b.X-b.W*0.4), int(b.Y-b.H*0.5), int(b.X+b.W*1.4), int(b.Y+b.H*1.5)).
		Intersect(image.Rect(0, 0, photo.Cols(), photo.Rows()))
	roi := photo.Region(r)
	defer roi.Close()
	return roi.Clone(), nil
}

func largestFace(ctx context.Context, det face.Detector, img gocv.Mat) (face.Box, error) {
	faces, err := det.Detect(ctx, img)
	if err != nil {
		return face.Box{}, fmt.Errorf("demo: detecting the face: %w", err)
	}
	if len(faces) == 0 {
		return face.Box{}, ErrNoFace
	}
	best := faces[0].Box
	for _, f := range faces[1:] {
		if f.Box.W*f.Box.H > best.W*best.H {
			best = f.Box
		}
	}
	return best, nil
}

// Card renders an identity card with the portrait and lines as a card
// printer puts them on the card: the portrait in the print's gamut
// (Printed), and the print's texture over the whole card (the plastic's
// grain and the ink's spread, different under every character, which a
// rendered card lacks: its characters would be pixel-identical copies).
func Card(portrait gocv.Mat, lines []string) gocv.Mat {
	p := Printed(portrait)
	defer p.Close()
	c := synth.Card(synth.CardOptions{Width: 1000, Portrait: &p, Seed: 4, Lines: lines})
	printTexture(&c)
	return c
}

// Printed renders portrait as an ID card's printer puts it on the card:
// at the card's photo box (about 25 x 32 mm at 300 dpi, 300 x 380
// pixels), with dye on plastic's narrower gamut and tone range (colours
// less saturated, no deep black or pure white) and the faint warm cast of
// the laminate over it. The document video then photographs the card in
// perspective and the document engine rectifies it, so the portrait the
// match reads from the card is a printed, re-photographed copy of the
// photo, never its pixels.
func Printed(portrait gocv.Mat) gocv.Mat {
	const boxW, boxH = 300, 380
	out := gocv.NewMat()
	gocv.Resize(portrait, &out, image.Pt(boxW, boxH), 0, 0, gocv.InterpolationArea)
	pix, err := out.DataPtrUint8()
	if err != nil {
		return out
	}
	// Per channel (BGR): the laminate's cast, then the print's tone range.
	cast := [3]float64{0.95, 0.99, 1.03}
	const sat, lo, hi = 0.85, 16.0, 242.0
	for i := 0; i+2 < len(pix); i += 3 {
		b, g, r := float64(pix[i]), float64(pix[i+1]), float64(pix[i+2])
		y := 0.114*b + 0.587*g + 0.299*r
		for c, v := range [3]float64{b, g, r} {
			v = (y + sat*(v-y)) * cast[c]
			pix[i+c] = uint8(math.Round(lo + (hi-lo)*math.Min(math.Max(v, 0), 255)/255))
		}
	}
	return out
}

// printTexture adds the print's grain to an 8-bit card: independent
// noise of 5 grey levels on every pixel and channel, seeded, so the same
// card is rendered every time.
func printTexture(card *gocv.Mat) {
	pix, err := card.DataPtrUint8()
	if err != nil {
		return
	}
	rng := rand.New(rand.NewPCG(4, 9))
	for i, v := range pix {
		pix[i] = uint8(max(0, min(255, math.Round(float64(v)+rng.NormFloat64()*5))))
	}
}

// WriteDocumentVideo writes a 1920x1080 video of card: the empty desk, the
// card held off to the side, then held steady in the middle.
func WriteDocumentVideo(path string, card gocv.Mat) error {
	bg := synth.Background(1920, 1080, 77)
	defer bg.Close()
	const away, steady = 24, 24
	return synth.WriteVideo(path, FPS, away+steady+6, func(i int) gocv.Mat {
		p := synth.Placement{CenterX: 0.5, CenterY: 0.5, WidthFrac: 0.62, Rotate: 2, Tilt: 4}
		switch {
		case i < 8:
			return bg.Clone()
		case i < 16:
			p.WidthFrac, p.CenterX = 0.35, 0.3 // too small: "move closer"
		case i < away:
			p.Rotate = 25 // turned: "align the document"
		default:
			p.CenterX += 0.0004 * math.Sin(float64(i)) // a hand is never quite still
		}
		m, _ := synth.Place(bg, card, p)
		return m
	})
}

// WriteSelfieVideo writes a 640x480 video of photo's face: off to the side
// first, then centred in the guide oval and steady. The photo is scaled so
// the face fills the oval as a person at arm's length does.
func WriteSelfieVideo(ctx context.Context, path string, det face.Detector, photo gocv.Mat) error {
	const w, h = 640, 480
	b, err := largestFace(ctx, det, photo)
	if err != nil {
		return err
	}
	// The default selfie oval: centre (0.5, 0.45), vertical radius 0.36 h.
	ovalH := 0.72 * h
	scale := 0.7 * ovalH / b.H
	sw, sh := int(float64(photo.Cols())*scale), int(float64(photo.Rows())*scale)
	scaled := gocv.NewMat()
	defer scaled.Close()
	gocv.Resize(photo, &scaled, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	fx, fy := (b.X+b.W/2)*scale, (b.Y+b.H/2)*scale
	bg := synth.Background(w, h, 21)
	defer bg.Close()
	render := func(cx, cy float64) gocv.Mat {
		return synth.PasteAt(bg, scaled, int(cx-fx), int(cy-fy))
	}
	const off, steady = 5, 25
	return synth.WriteVideo(path, FPS, off+steady, func(i int) gocv.Mat {
		if i < off {
			return render(0.5*w-0.3*w, 0.45*h) // off the oval: "center your face"
		}
		return render(0.5*w+0.5*math.Sin(float64(i)), 0.45*h)
	})
}
