package synth

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// Presentation attacks: an image shown on a display or printed on paper,
// then photographed. They extend the document tests' screen and print
// renderers (engine/document/forensics) to any picture and any geometry,
// so that a face can be attacked the way a card is.

// ScreenOptions describe a picture shown on a display and photographed
// straight on, the display filling the frame.
type ScreenOptions struct {
	// Pitch is one screen pixel's size in the photograph, in photo pixels
	// (0 means 1.2, as in the document tests). Below about 1 the camera
	// no longer resolves the pixel grid and sees moire at most.
	Pitch float64
	// Angle turns the camera against the screen's rows, degrees.
	Angle float64
	// Blur is the camera's optical blur, a Gaussian sigma in photo pixels
	// (0 means 0.4); each sensor pixel's own area blurs on top.
	Blur float64
	// Brightness is the photographed white relative to the picture's
	// (0 means 0.9): a display is dimmer or brighter than the original.
	Brightness float64
	// Tint multiplies the blue and red channels by 1+Tint and 1-Tint: a
	// display's white point against the camera's white balance.
	Tint float64
	// Noise is the sensor noise, a standard deviation in grey levels.
	Noise float64
	// JPEGQuality, when not 0, saves and decodes the photograph at this
	// quality, as a camera does.
	JPEGQuality int
	Seed        uint64
}

// ScreenPhoto photographs src shown on a display: each screen pixel is
// three vertical red, green and blue sub-pixel stripes with a dark gap
// below; the camera, turned a little and at its own pitch, blurs and
// resamples them, which folds the sub-pixel grid into moire. The result has
// src's size; the caller closes it.
func ScreenPhoto(src gocv.Mat, o ScreenOptions) gocv.Mat {
	if o.Pitch <= 0 {
		o.Pitch = 1.2
	}
	if o.Blur <= 0 {
		o.Blur = 0.4
	}
	if o.Brightness <= 0 {
		o.Brightness = 0.9
	}
	w, h := src.Cols(), src.Rows()
	// The screen shows a little more than the frame, so that turning the
	// camera leaves no empty corner.
	margin := 1.01 + 2*math.Abs(math.Sin(o.Angle*math.Pi/180))
	sw, sh := int(math.Ceil(float64(w)*margin/o.Pitch)), int(math.Ceil(float64(h)*margin/o.Pitch))
	screen := resizedAbout(src, w, h, sw, sh, margin)
	defer screen.Close()
	sp, _ := screen.DataPtrUint8()
	canvas := subpixels(sp, sw, sh, o.Brightness)
	defer canvas.Close()
	sigma := cameraSigma(o.Blur) * 3 / o.Pitch // in canvas pixels
	gocv.GaussianBlur(canvas, &canvas, image.Pt(0, 0), sigma, sigma, gocv.BorderReflect)
	out := photograph(canvas, w, h, o.Angle, o.Pitch/3)
	finish(&out, [3]float64{1 + o.Tint, 1, 1 - o.Tint}, 0, o.Noise, o.Seed)
	return encoded(out, o.JPEGQuality)
}

// subpixels draws a display showing the screen pixels sp (sw x sh, BGR) at
// three canvas pixels a screen pixel: each colour's stripe lights a third
// of the pixel's width and the gap between rows dims a third of its
// height. The mean light of a pixel is then 0.27 of its value, which the
// gain brings back to brightness.
func subpixels[T uint8 | float32](sp []T, sw, sh int, brightness float64) gocv.Mat {
	const rowGap = 0.45
	gain := brightness / ((2 + rowGap) / 9)
	cw, ch := 3*sw, 3*sh
	canvas := gocv.NewMatWithSize(ch, cw, gocv.MatTypeCV32FC3)
	cp, _ := canvas.DataPtrFloat32()
	for y := 0; y < ch; y++ {
		g := gain
		if y%3 == 2 {
			g *= rowGap
		}
		for x := 0; x < cw; x++ {
			sub := 2 - x%3 // BGR order: column 0 is red
			cp[(y*cw+x)*3+sub] = float32(float64(sp[((y/3)*sw+x/3)*3+sub]) * g)
		}
	}
	return canvas
}

// PrintOptions describe a picture printed in colour halftone and
// photographed straight on, the print filling the frame.
type PrintOptions struct {
	// Period is the halftone cell in the photograph, photo pixels (0 means
	// 4, as in the document tests). Below about 2 the camera no longer
	// resolves the dots.
	Period float64
	// Angle turns the camera against the print, degrees.
	Angle float64
	// Blur is the camera's optical blur, a Gaussian sigma in photo pixels
	// (0 means 0.4); each sensor pixel's own area blurs on top.
	Blur float64
	// Paper is the paper's white, 0..1 of the picture's (0 means 0.96).
	Paper float64
	// Light is the fall-off of the light across the print: the far corner
	// is 1-Light as bright as the near one.
	Light float64
	// Noise is the sensor noise, a standard deviation in grey levels.
	Noise float64
	// JPEGQuality, when not 0, saves and decodes the photograph at this
	// quality.
	JPEGQuality int
	Seed        uint64
}

// PrintPhoto photographs src printed in colour: each CMYK ink thresholded
// against its own dot screen (15, 75, 0 and 45 degrees), the dots spread a
// little, the print rastered at twice the photograph's resolution and
// photographed. The result has src's size; the caller closes it.
func PrintPhoto(src gocv.Mat, o PrintOptions) gocv.Mat {
	if o.Period <= 0 {
		o.Period = 4
	}
	if o.Blur <= 0 {
		o.Blur = 0.4
	}
	if o.Paper <= 0 {
		o.Paper = 0.96
	}
	w, h := src.Cols(), src.Rows()
	margin := 1.01 + 2*math.Abs(math.Sin(o.Angle*math.Pi/180))
	const up = 2 // raster pixels per photo pixel
	uw, uh := int(math.Ceil(float64(w)*margin*up)), int(math.Ceil(float64(h)*margin*up))
	raster := resizedAbout(src, w, h, uw, uh, margin)
	defer raster.Close()
	p, _ := raster.DataPtrUint8()
	period := o.Period * up
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
			op[i+2] = uint8(255 * o.Paper * (1 - on[0]) * (1 - on[3]))
			op[i+1] = uint8(255 * o.Paper * (1 - on[1]) * (1 - on[3]))
			op[i] = uint8(255 * o.Paper * (1 - on[2]) * (1 - on[3]))
		}
	}
	// Dot gain (the document tests spread a dot of period 8 by 1.2) and
	// the camera's blur, in raster pixels.
	f := gocv.NewMat()
	out.ConvertTo(&f, gocv.MatTypeCV32FC3)
	sigma := math.Hypot(0.15*period, cameraSigma(o.Blur)*up)
	gocv.GaussianBlur(f, &f, image.Pt(0, 0), sigma, sigma, gocv.BorderReflect)
	shot := photograph(f, w, h, o.Angle, 1.0/up)
	f.Close()
	f = shot
	finish(&f, [3]float64{1, 1, 1}, o.Light, o.Noise, o.Seed)
	return encoded(f, o.JPEGQuality)
}

// resizedAbout scales src (w x h) to the display or raster of dw x dh that
// shows it enlarged by margin about its centre, the border reflected.
func resizedAbout(src gocv.Mat, w, h, dw, dh int, margin float64) gocv.Mat {
	padX, padY := int(math.Ceil(float64(w)*(margin-1)/2)), int(math.Ceil(float64(h)*(margin-1)/2))
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(src, &padded, padY, padY, padX, padX, gocv.BorderReflect, color.RGBA{})
	out := gocv.NewMat()
	interp := gocv.InterpolationArea
	if dw > padded.Cols() {
		interp = gocv.InterpolationCubic
	}
	gocv.Resize(padded, &out, image.Pt(dw, dh), 0, 0, interp)
	return out
}

// cameraSigma is the Gaussian sigma, in photo pixels, of the optics' blur
// together with each sensor pixel's integration of the light over its area
// (a box one pixel wide: sigma 1/sqrt(12)).
func cameraSigma(optics float64) float64 { return math.Hypot(optics, 1/math.Sqrt(12)) }

// photograph turns img by angle degrees about its centre, scales it by
// scale and cuts the w x h frame at its centre: the camera's view.
func photograph(img gocv.Mat, w, h int, angle, scale float64) gocv.Mat {
	c := image.Pt(img.Cols()/2, img.Rows()/2)
	rot := gocv.GetRotationMatrix2D(c, angle, scale)
	defer rot.Close()
	rot.SetDoubleAt(0, 2, rot.GetDoubleAt(0, 2)+float64(w)/2-float64(c.X))
	rot.SetDoubleAt(1, 2, rot.GetDoubleAt(1, 2)+float64(h)/2-float64(c.Y))
	shot := gocv.NewMat()
	gocv.WarpAffineWithParams(img, &shot, rot, image.Pt(w, h), gocv.InterpolationLinear, gocv.BorderReflect, color.RGBA{})
	return shot
}

// finish applies per-channel gains (BGR), a linear fall-off of the light
// from the top-left corner to the bottom-right one, and Gaussian sensor
// noise, in place on a float BGR image.
func finish(f *gocv.Mat, gain [3]float64, light, noise float64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 17))
	w, h := f.Cols(), f.Rows()
	d, _ := f.DataPtrFloat32()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fall := 1 - light*(float64(x)/float64(w)+float64(y)/float64(h))/2
			for c := 0; c < 3; c++ {
				i := (y*w+x)*3 + c
				d[i] = float32(float64(d[i])*gain[c]*fall + noise*rng.NormFloat64())
			}
		}
	}
}

// encoded converts a float BGR image to 8 bits (saturating), saved and
// decoded as a JPEG of quality q when q is not 0. It closes f.
func encoded(f gocv.Mat, q int) gocv.Mat {
	defer f.Close()
	out := gocv.NewMat()
	f.ConvertTo(&out, gocv.MatTypeCV8UC3)
	if q == 0 {
		return out
	}
	defer out.Close()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, out, []int{gocv.IMWriteJpegQuality, q})
	if err != nil {
		return out.Clone()
	}
	defer buf.Close()
	dec, err := gocv.IMDecode(buf.GetBytes(), gocv.IMReadColor)
	if err != nil {
		return out.Clone()
	}
	return dec
}
