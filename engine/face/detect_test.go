package face

import (
	"context"
	"errors"
	"fmt"
	"image"
	"reflect"
	"sync"
	"testing"

	"gocv.io/x/gocv"
)

// TestDetectFindsEveryFaceOfTheSharedSets runs YuNet on every photo of the
// shared face sets (each shows one person) and checks the landmarks are
// plausible: inside the box, eyes above the mouth, image-left eye first.
func TestDetectFindsEveryFaceOfTheSharedSets(t *testing.T) {
	d := newTestDetector(t)
	for _, set := range []struct {
		name  string
		files []string
	}{
		{"faceapi_bbt", globData(t, "faces", "faceapi_bbt", "*", "*.png")},
		{"att_faces", globData(t, "faces", "att_faces", "s*", "*.pgm")},
	} {
		missed := 0
		for _, f := range set.files {
			img := readImage(t, f)
			faces, err := d.Detect(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			if len(faces) == 0 {
				missed++
				continue
			}
			if err := faces[0].Plausible(); err != nil {
				t.Errorf("%s: %v: %+v", f, err, faces[0])
			}
		}
		if rate := 1 - float64(missed)/float64(len(set.files)); rate < 0.99 {
			t.Errorf("%s: detected %.1f%% of %d faces, want >= 99%%", set.name, 100*rate, len(set.files))
		}
	}
}

// TestDetectMapsBackToImageCoordinates places the same face at different
// sizes and offsets in canvases of several shapes (landscape, portrait,
// larger and smaller than the network input) and checks the box follows.
func TestDetectMapsBackToImageCoordinates(t *testing.T) {
	d := newTestDetector(t)
	src := bbt(t, "leonard1")
	ref := detectOne(t, d, src)
	for _, c := range []struct {
		name  string
		w, h  int
		scale float64
		at    image.Point
	}{
		{"selfie 1280x720", 1280, 720, 2, image.Pt(500, 200)},
		{"document 1000x630", 1000, 630, 1.5, image.Pt(60, 150)},
		{"portrait 480x900", 480, 900, 1, image.Pt(300, 700)},
		{"small 300x200", 300, 200, 1, image.Pt(140, 40)},
	} {
		img := compose(t, c.w, c.h, placed{src, c.scale, c.at})
		got := detectOne(t, d, img)
		want := Box{X: float64(c.at.X) + ref.Box.X*c.scale, Y: float64(c.at.Y) + ref.Box.Y*c.scale, W: ref.Box.W * c.scale, H: ref.Box.H * c.scale}
		if iou := got.Box.IoU(want); iou < 0.75 {
			t.Errorf("%s: box %+v, want about %+v (IoU %.2f)", c.name, got.Box, want, iou)
		}
	}
}

func TestDetectRejectsBadMats(t *testing.T) {
	d := newTestDetector(t)
	grey := gocv.NewMatWithSize(50, 50, gocv.MatTypeCV8U)
	defer grey.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	for _, m := range []gocv.Mat{grey, empty} {
		if _, err := d.Detect(context.Background(), m); !errors.Is(err, ErrBadImage) {
			t.Errorf("Detect on a %v Mat: %v, want ErrBadImage", m.Type(), err)
		}
	}
}

func TestDetectFindsNothingInBlankImage(t *testing.T) {
	d := newTestDetector(t)
	blank := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 120, 150, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer blank.Close()
	faces, err := d.Detect(context.Background(), blank)
	if err != nil || len(faces) != 0 {
		t.Errorf("blank image: %d faces, err %v", len(faces), err)
	}
}

// TestDetectReusesItsInput: the input tensor a detector keeps from run to
// run carries nothing of the previous image. A wide image, most of whose
// input is padding, run after a square one that fills it, and runs side by
// side (some on inputs of their own), give exactly the faces a fresh
// detector gives.
func TestDetectReusesItsInput(t *testing.T) {
	src := bbt(t, "leonard1")
	square := compose(t, 900, 900, placed{src, 2, image.Pt(250, 350)})
	wide := compose(t, 1280, 360, placed{src, 0.8, image.Pt(900, 80)})
	imgs := []gocv.Mat{square, wide}
	want := make([][]Face, len(imgs))
	for i, img := range imgs {
		want[i] = []Face{detectOne(t, newTestDetector(t), img)}
	}
	d := newTestDetector(t)
	check := func(i int) error {
		got, err := d.Detect(context.Background(), imgs[i])
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, want[i]) {
			return fmt.Errorf("image %d: %+v, a fresh detector finds %+v", i, got, want[i])
		}
		return nil
	}
	for _, i := range []int{0, 1, 0, 1} {
		if err := check(i); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 3 {
				if err := check((g + r) % 2); err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}
