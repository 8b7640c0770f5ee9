package synth

import (
	"image"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// A physical model of a screen replay and of the camera that films it,
// beside ScreenPhoto (which the document forgery benchmark is calibrated on
// and keeps its behaviour). ScreenPhoto works on the picture's 8-bit values
// and a camera with a full RGB triple per pixel; a display re-photographed
// by a phone or a webcam also shows, and ScreenReplay models: the panel's
// tone response and white point, its gamut as the camera sees it, the
// room's light reflected by the glass (a black that is never black, and a
// lamp's specular glare), the backlight's dimming against a rolling
// shutter, and the camera's own pipeline (lens flare, a Bayer mosaic
// sampling each colour at its own photosites, which folds what is left of
// the sub-pixel grid into false colour, shot noise, demosaicing,
// sharpening, the tone curve, JPEG). CameraPhoto is the same camera
// filming the live face, the bona fide control: a cue that fires on its
// output is a camera's, not a display's.

// CameraOptions describe the camera of CameraPhoto and ScreenReplay.
type CameraOptions struct {
	// Blur is the optics' blur, a Gaussian sigma in photo pixels (0 means
	// 0.4); each sensor pixel's own area blurs on top.
	Blur float64
	// Exposure scales the scene's light (0 means 1): auto-exposure never
	// lands twice on the same level.
	Exposure float64
	// Flare is the lens's veiling glare, a share of the scene's mean light
	// added everywhere (0.002-0.01 for a phone or a webcam).
	Flare float64
	// Noise is the sensor's shot noise, a standard deviation in grey
	// levels at mid grey (linear 0.18); it grows with the square root of
	// the light, and a read-noise floor stays in the dark.
	Noise float64
	// Sharpen is the amount of the pipeline's unsharp mask (radius about
	// one pixel; 0 for none, phones use up to about 1).
	Sharpen float64
	// JPEGQuality, when not 0, saves and decodes the photograph at this
	// quality.
	JPEGQuality int
	Seed        uint64
}

// ReplayOptions describe a picture shown on a display that fills the
// frame, filmed by a camera.
type ReplayOptions struct {
	// Pitch is one screen pixel's size in the photograph, in photo pixels
	// (0 means 1.2), and Angle turns the camera against the screen's rows,
	// degrees: as ScreenOptions.
	Pitch, Angle float64
	// Gamma is the panel's tone response (0 means 2.2; panels measure
	// 2.0-2.5): the decoded light is value^Gamma where the camera encodes
	// with the sRGB curve.
	Gamma float64
	// Tint multiplies the blue and red light by 1+Tint and 1-Tint, Green
	// the green by 1+Green: the panel's white point against the camera's
	// white balance.
	Tint, Green float64
	// Saturation scales the light's chroma about its grey (0 means 1): a
	// wide-gamut panel showing an untagged sRGB picture oversaturates
	// (1.1-1.2), the camera's colour matrix, tuned for broad spectra, maps
	// the panel's narrow primaries a few percent off either way.
	Saturation float64
	// Black is the light the glass and the panel send back from the room,
	// a share of the panel's white (ambient contrast 50:1 to 500:1 in a lit
	// room: 0.002-0.02).
	Black float64
	// Glare is a lamp or window reflected in the glass: a broad Gaussian
	// patch of light, peak Glare of the panel's white, sigma GlareSize of
	// the frame's side, centred at GlareAt (fractions of the frame).
	Glare, GlareSize float64
	GlareAt          [2]float64
	// Banding is the depth of the bands a dimmed backlight's PWM leaves on
	// a rolling shutter, BandRows rows a period (0 for none).
	Banding, BandRows float64
	// Edge, when not 0, puts the screen's edge in frame: the share of the
	// frame's width beyond it, on the right (Edge > 0) or the left. There
	// the camera sees the bezel, black glass Bezel of the frame's width
	// wide, and past it the room: a wall of Wall light (linear, a lamp's
	// warm white).
	Edge, Bezel, Wall float64
	Camera            CameraOptions
}

// CameraPhoto films src as a live scene: src decoded to linear light with
// the sRGB curve is the scene's radiance, which the camera of o blurs,
// samples through its Bayer mosaic and processes. The result has src's
// size; the caller closes it.
func CameraPhoto(src gocv.Mat, o CameraOptions) gocv.Mat {
	lin := linearBGR(src, func(v float64) float64 { return srgbDecode(v) })
	s := cameraSigma(orDefault(o.Blur, 0.4))
	gocv.GaussianBlur(lin, &lin, image.Pt(0, 0), s, s, gocv.BorderReflect)
	return film(lin, o, 0, 0)
}

// ScreenReplay films src shown on a display: the display resamples src to
// its pixels, each three vertical red, green and blue stripes with a dark
// gap below (as ScreenPhoto), emitting value^Gamma with its white point and
// gamut, to which the room adds its reflected black and glare; the camera,
// turned a little and at its own pitch, blurs, samples and processes that
// light. The result has src's size; the caller closes it.
func ScreenReplay(src gocv.Mat, o ReplayOptions) gocv.Mat {
	pitch := orDefault(o.Pitch, 1.2)
	gamma, sat := orDefault(o.Gamma, 2.2), orDefault(o.Saturation, 1)
	w, h := src.Cols(), src.Rows()
	margin := 1.01 + 2*math.Abs(math.Sin(o.Angle*math.Pi/180))
	sw, sh := int(math.Ceil(float64(w)*margin/pitch)), int(math.Ceil(float64(h)*margin/pitch))
	screen := resizedAbout(src, w, h, sw, sh, margin)
	defer screen.Close()
	// The panel's light per screen pixel, white point and gamut applied.
	sp, _ := screen.DataPtrUint8()
	gains := [3]float64{1 + o.Tint, 1 + o.Green, 1 - o.Tint}
	light := make([]float32, len(sp))
	for i := 0; i+2 < len(sp); i += 3 {
		var v [3]float64
		for c := range v {
			v[c] = math.Pow(float64(sp[i+c])/255, gamma) * gains[c]
		}
		grey := 0.0722*v[0] + 0.7152*v[1] + 0.2126*v[2]
		for c := range v {
			light[i+c] = float32(math.Max(0, grey+sat*(v[c]-grey)))
		}
	}
	// The panel's white stays at 1.
	canvas := subpixels(light, sw, sh, 1)
	defer canvas.Close()
	s := cameraSigma(orDefault(o.Camera.Blur, 0.4)) * 3 / pitch // in canvas pixels
	gocv.GaussianBlur(canvas, &canvas, image.Pt(0, 0), s, s, gocv.BorderReflect)
	shot := photograph(canvas, w, h, o.Angle, pitch/3)
	// The room's light on the glass, in photo coordinates: the reflected
	// black everywhere and the glare's patch, a lamp's warm white.
	d, _ := shot.DataPtrFloat32()
	// The screen's edge, if in frame: the bezel shows no picture and the
	// wall beyond takes no reflection from the glass. Both are blurred by
	// the optics as the picture was.
	screenEnd, wallFrom := float64(w)+1, float64(w)+1
	if o.Edge != 0 {
		screenEnd = float64(w) * (1 - math.Abs(o.Edge))
		wallFrom = screenEnd + math.Max(o.Bezel, 0)*float64(w)
	}
	edgeSigma := cameraSigma(orDefault(o.Camera.Blur, 0.4))
	ramp := func(x, at float64) float64 { return 0.5 * math.Erfc((x-at)/(edgeSigma*math.Sqrt2)) } // 1 before at, 0 after
	warm := [3]float64{0.85, 1, 1.1}
	if o.Edge != 0 {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				fx := float64(x)
				if o.Edge < 0 {
					fx = float64(w-1) - fx
				}
				pic, glass := ramp(fx, screenEnd), ramp(fx, wallFrom)
				for c := 0; c < 3; c++ {
					i := (y*w+x)*3 + c
					d[i] = float32(float64(d[i])*pic + (1-glass)*o.Wall*warm[c])
				}
			}
		}
	}
	gs := math.Max(o.GlareSize, 0.05) * float64(max(w, h))
	gx, gy := o.GlareAt[0]*float64(w), o.GlareAt[1]*float64(h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			glass := 1.0
			if o.Edge != 0 {
				fx := float64(x)
				if o.Edge < 0 {
					fx = float64(w-1) - fx
				}
				glass = ramp(fx, wallFrom)
			}
			r2 := (math.Pow(float64(x)-gx, 2) + math.Pow(float64(y)-gy, 2)) / (2 * gs * gs)
			g := o.Glare * math.Exp(-r2)
			for c := 0; c < 3; c++ {
				d[(y*w+x)*3+c] += float32(glass * (o.Black + g*warm[c]))
			}
		}
	}
	return film(shot, o.Camera, o.Banding, o.BandRows)
}

// film is the camera's stage from the light reaching the sensor (f, linear
// BGR, the optics' blur applied) to the saved photograph: exposure, lens
// flare, a rolling shutter's bands, the Bayer mosaic with shot and read
// noise, edge-aware demosaicing, sharpening, the sRGB curve and JPEG. It
// closes f.
func film(f gocv.Mat, o CameraOptions, banding, bandRows float64) gocv.Mat {
	defer f.Close()
	rng := rand.New(rand.NewPCG(o.Seed, 23))
	w, h := f.Cols(), f.Rows()
	d, _ := f.DataPtrFloat32()
	exposure := orDefault(o.Exposure, 1)
	flare := 0.0
	if o.Flare > 0 {
		m := f.Mean()
		flare = o.Flare * (m.Val1 + m.Val2 + m.Val3) / 3
	}
	phase := 2 * math.Pi * rng.Float64()
	// Shot noise at mid grey: the sRGB curve's slope there is about 305
	// grey levels per unit of light.
	shot := o.Noise / 305 / math.Sqrt(0.18)
	const read = 0.0004
	raw := gocv.NewMatWithSize(h, w, gocv.MatTypeCV16U)
	defer raw.Close()
	rp, _ := raw.DataPtrUint16()
	for y := 0; y < h; y++ {
		band := 1.0
		if banding > 0 && bandRows > 0 {
			band = 1 + banding*math.Sin(2*math.Pi*float64(y)/bandRows+phase)
		}
		for x := 0; x < w; x++ {
			// An RGGB mosaic: red at even rows and columns, blue at odd
			// ones (BGR channel index).
			c := 1
			switch {
			case y%2 == 0 && x%2 == 0:
				c = 2
			case y%2 == 1 && x%2 == 1:
				c = 0
			}
			v := (float64(d[(y*w+x)*3+c]) + flare) * exposure * band
			v += math.Sqrt(shot*shot*math.Max(v, 0)+read*read) * rng.NormFloat64()
			rp[y*w+x] = uint16(math.Round(65535 * math.Min(1, math.Max(0, v))))
		}
	}
	rgb := gocv.NewMat()
	defer rgb.Close()
	// OpenCV names a mosaic by its second row's second and third pixels:
	// RGGB is its BG.
	gocv.CvtColor(raw, &rgb, gocv.ColorBayerBGToBGREA)
	out := gocv.NewMat()
	rgb.ConvertTo(&out, gocv.MatTypeCV32FC3)
	out.MultiplyFloat(1.0 / 65535)
	if o.Sharpen > 0 {
		soft := gocv.NewMat()
		gocv.GaussianBlur(out, &soft, image.Pt(0, 0), 1, 1, gocv.BorderReflect)
		gocv.AddWeighted(out, 1+o.Sharpen, soft, -o.Sharpen, 0, &out)
		soft.Close()
	}
	op, _ := out.DataPtrFloat32()
	for i, v := range op {
		op[i] = float32(255 * srgbEncode(math.Min(1, math.Max(0, float64(v)))))
	}
	return encoded(out, o.JPEGQuality)
}

// linearBGR converts an 8-bit BGR image to float light through decode.
func linearBGR(src gocv.Mat, decode func(float64) float64) gocv.Mat {
	var lut [256]float32
	for i := range lut {
		lut[i] = float32(decode(float64(i) / 255))
	}
	out := gocv.NewMatWithSize(src.Rows(), src.Cols(), gocv.MatTypeCV32FC3)
	op, _ := out.DataPtrFloat32()
	for i, v := range src.ToBytes() {
		op[i] = lut[v]
	}
	return out
}

func srgbDecode(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func srgbEncode(v float64) float64 {
	if v <= 0.0031308 {
		return 12.92 * v
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

func orDefault(v, d float64) float64 {
	if v <= 0 {
		return d
	}
	return v
}
