package synth

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"sync"

	"gocv.io/x/gocv"
)

// WriteVideo writes n frames to an MJPG AVI at path at fps; frame(i) renders
// frame i, which WriteVideo closes. Every frame must have the first's size.
func WriteVideo(path string, fps float64, n int, frame func(i int) gocv.Mat) error {
	if n < 1 {
		return errors.New("writing video: no frames")
	}
	var vw *gocv.VideoWriter
	for i := 0; i < n; i++ {
		f := frame(i)
		if vw == nil {
			var err error
			if vw, err = gocv.VideoWriterFile(path, "MJPG", fps, f.Cols(), f.Rows(), true); err != nil {
				f.Close()
				return fmt.Errorf("writing video %s: %w", path, err)
			}
			defer vw.Close()
		}
		err := vw.Write(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("writing video %s frame %d: %w", path, i, err)
		}
	}
	return nil
}

// unitNoise is Gaussian noise of deviation 1, drawn once; AddSensorNoise
// reads it from a place its seed draws.
var unitNoise = sync.OnceValue(func() []float32 {
	rng := rand.New(rand.NewPCG(2, 17))
	out := make([]float32, 1<<22)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
})

// AddSensorNoise adds a camera's sensor noise to every pixel and channel of
// the 8-bit img in place: independent Gaussian noise of deviation sigma
// grey levels, rounded, different for each seed. Frames of a still scene
// each get their own, as a camera's do, and never repeat.
func AddSensorNoise(img *gocv.Mat, sigma float64, seed uint64) {
	pix, err := img.DataPtrUint8()
	if err != nil {
		return
	}
	noise := unitNoise()
	at := int(rand.New(rand.NewPCG(seed, 3)).Uint64N(uint64(len(noise))))
	s := float32(sigma)
	for i, v := range pix {
		// A stride coprime to the table's length: another seed's noise is
		// not this one's shifted by a pixel.
		n := int(math.Round(float64(s * noise[(at+7*i)%len(noise)])))
		pix[i] = uint8(max(0, min(255, int(v)+n)))
	}
}

// AddGlare brightens img in place around centre towards white, as a lamp's
// reflection on a laminated card: fully blown out within radius, fading
// out to twice the radius.
func AddGlare(img *gocv.Mat, centre image.Point, radius int) {
	mask := gocv.NewMatWithSize(img.Rows(), img.Cols(), gocv.MatTypeCV32F)
	defer mask.Close()
	gocv.Circle(&mask, centre, radius*3/2, color.RGBA{1, 1, 1, 1}, -1)
	k := radius | 1
	gocv.GaussianBlur(mask, &mask, image.Pt(k, k), 0, 0, gocv.BorderDefault)
	// Blend img with white by the mask, saturating well inside the radius.
	alpha := gocv.NewMat()
	defer alpha.Close()
	mask.MultiplyFloat(2)
	gocv.Threshold(mask, &alpha, 1, 1, gocv.ThresholdTrunc)
	chans := []gocv.Mat{alpha, alpha, alpha}
	a3 := gocv.NewMat()
	defer a3.Close()
	gocv.Merge(chans, &a3)
	f := gocv.NewMat()
	defer f.Close()
	img.ConvertTo(&f, gocv.MatTypeCV32FC3)
	// f + a*(255-f)
	white := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), img.Rows(), img.Cols(), gocv.MatTypeCV32FC3)
	defer white.Close()
	diff := gocv.NewMat()
	defer diff.Close()
	gocv.Subtract(white, f, &diff)
	gocv.Multiply(diff, a3, &diff)
	gocv.Add(f, diff, &f)
	f.ConvertTo(img, gocv.MatTypeCV8UC3)
}

// AddFinger draws a finger in skin tones over img: a rounded bar of the
// given width from tip, pointing back along angle (degrees, 0 = the finger
// comes from the right) out of the image.
func AddFinger(img *gocv.Mat, tip image.Point, angle float64, width int) {
	a := angle * math.Pi / 180
	l := float64(img.Cols() + img.Rows())
	base := image.Pt(tip.X+int(l*math.Cos(a)), tip.Y+int(l*math.Sin(a)))
	skin := color.RGBA{224, 172, 140, 255}
	gocv.Line(img, tip, base, skin, width)
	gocv.Circle(img, tip, width/2, skin, -1)
	// A nail and some shading so the finger is not a flat shape.
	nail := image.Pt(tip.X+int(float64(width)*0.5*math.Cos(a)), tip.Y+int(float64(width)*0.5*math.Sin(a)))
	gocv.Circle(img, nail, width/4, color.RGBA{236, 200, 186, 255}, -1)
}
