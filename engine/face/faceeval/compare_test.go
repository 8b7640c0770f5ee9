package faceeval

import (
	"context"
	"fmt"
	"image"
	"sort"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/testenv"
)

// frDetect is the other detector shipped with the faceplugin npm package:
// fr_detect (an Ultra-Light 320x240 box detector) followed by fr_landmark
// (68 points on a 64x64 grey crop) reduced to the five points, exactly as
// the package's JavaScript pre- and post-processes them. It lives in the
// tests only, to justify YuNet as the engine's detector.
type frDetect struct{ det, lmk *ort.Session }

const (
	frW, frH     = 320, 240
	frMinScore   = 0.65 // the package's confidence_threshold
	frNMS        = 0.4
	frLandmarkSz = 64
)

func (d *frDetect) Detect(ctx context.Context, img gocv.Mat) ([]face.Face, error) {
	w, h := img.Cols(), img.Rows()
	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(img, &resized, image.Pt(frW, frH), 0, 0, gocv.InterpolationLinear)
	in := ort.NewNCHW(1, 3, frH, frW)
	norm := ort.Normalize{Mean: [3]float32{127, 127, 127}, Scale: [3]float32{1.0 / 128, 1.0 / 128, 1.0 / 128}, SwapRB: true}
	if err := in.SetImage(0, resized.ToBytes(), frH, frW, norm); err != nil {
		return nil, err
	}
	out, err := d.det.Run(ctx, in) // scores [1,N,2], boxes [1,N,4] as x1,y1,x2,y2 in 0..1
	if err != nil {
		return nil, err
	}
	scores, boxes := out[0].Data, out[1].Data
	var faces []face.Face
	for i := 0; i < len(scores)/2; i++ {
		if s := float64(scores[2*i+1]); s >= frMinScore {
			b := boxes[4*i : 4*i+4]
			x1, y1, x2, y2 := float64(b[0])*float64(w), float64(b[1])*float64(h), float64(b[2])*float64(w), float64(b[3])*float64(h)
			// The package squares the box on its height before landmarking.
			cx, cy, side := (x1+x2)/2, (y1+y2)/2, y2-y1
			faces = append(faces, face.Face{Box: face.Box{X: cx - side/2, Y: cy - side/2, W: side, H: side}, Score: s})
		}
	}
	faces = face.FinishFaces(faces, frNMS, w, h)
	for i := range faces {
		if err := d.landmarks(ctx, img, &faces[i]); err != nil {
			return nil, err
		}
	}
	return faces, nil
}

func (d *frDetect) landmarks(ctx context.Context, img gocv.Mat, f *face.Face) error {
	r := image.Rect(int(f.Box.X), int(f.Box.Y), int(f.Box.X+f.Box.W), int(f.Box.Y+f.Box.H))
	if r.Empty() {
		return nil
	}
	roi := img.Region(r)
	defer roi.Close()
	small, grey := gocv.NewMat(), gocv.NewMat()
	defer small.Close()
	defer grey.Close()
	gocv.Resize(roi, &small, image.Pt(frLandmarkSz, frLandmarkSz), 0, 0, gocv.InterpolationLinear)
	gocv.CvtColor(small, &grey, gocv.ColorBGRToGray)
	in := ort.NewNCHW(1, 1, frLandmarkSz, frLandmarkSz)
	for i, v := range grey.ToBytes() {
		in.Data[i] = float32(v) / 256
	}
	out, err := d.lmk.Run(ctx, in)
	if err != nil {
		return err
	}
	p := func(n int) face.Point {
		v := out[0].Data
		return face.Point{X: float64(v[2*n])*float64(r.Dx()) + float64(r.Min.X), Y: float64(v[2*n+1])*float64(r.Dy()) + float64(r.Min.Y)}
	}
	avg := func(ns ...int) face.Point {
		var s face.Point
		for _, n := range ns {
			q := p(n)
			s.X, s.Y = s.X+q.X/float64(len(ns)), s.Y+q.Y/float64(len(ns))
		}
		return s
	}
	// The package's 68-to-5 reduction (fr_feature.js convert68pts5pts).
	f.Landmarks = [5]face.Point{avg(37, 38, 40, 41), avg(43, 44, 46, 47), p(30), avg(48, 60), avg(54, 64)}
	return nil
}

// TestCompareDetectors measures YuNet against fr_detect+fr_landmark on every
// photo of the shared face sets: detection rate, plausible landmarks, time
// per image, and the verification accuracy of the faceapi_bbt and AT&T sets
// when each detector's landmarks drive the alignment. YuNet is the engine's
// default; the test fails if it stops being at least as good.
func TestCompareDetectors(t *testing.T) {
	if testing.Short() {
		t.Skip("embeds every shared face photo twice")
	}
	testenv.ORT(t)
	ctx := context.Background()
	yunet, err := face.NewYuNet(testenv.Model(t, "yunet"), face.YuNetConfig{}, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer yunet.Close()
	var fr frDetect
	for name, s := range map[string]**ort.Session{"fr-detect": &fr.det, "fr-landmark": &fr.lmk} {
		if *s, err = ort.NewSession(testenv.Model(t, name), ort.Options{}); err != nil {
			t.Fatal(err)
		}
		defer (*s).Close()
	}
	emb, err := face.NewEmbedder(testenv.Model(t, "fr-feature"), ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()

	type row struct {
		set                  string
		images, found, plaus int
		times                []time.Duration
		auc, tar3            float64
	}
	var rows []row
	for _, set := range []string{"faceapi_bbt", "att_faces"} {
		images, err := LoadFolders(testenv.Data(t, "faces", set), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, det := range []struct {
			name string
			d    face.Detector
		}{{"yunet", yunet}, {"fr_detect", &fr}} {
			r := row{set: set + " " + det.name, images: len(images)}
			embs := map[string]face.Embedding{}
			for _, im := range images {
				img, err := imageio.ReadFile(im.Path, 0)
				if err != nil {
					t.Fatal(err)
				}
				t0 := time.Now()
				faces, err := det.d.Detect(ctx, img)
				r.times = append(r.times, time.Since(t0))
				if err != nil {
					t.Fatal(err)
				}
				if len(faces) > 0 {
					r.found++
					if faces[0].Plausible() == nil {
						r.plaus++
					}
					al, err := face.Align(img, faces[0].Landmarks)
					if err == nil {
						embs[im.Path], _, err = emb.Embed(ctx, al)
						al.Close()
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				img.Close()
			}
			var g, imp []float64
			for _, p := range AllPairs(images) {
				s := float64(unusableScore)
				if a, b := embs[p.A], embs[p.B]; a != nil && b != nil {
					s = face.Cosine(a, b)
				}
				if p.Same {
					g = append(g, s)
				} else {
					imp = append(imp, s)
				}
			}
			rep, err := Evaluate(g, imp)
			if err != nil {
				t.Fatal(err)
			}
			r.auc, r.tar3 = rep.AUC, rep.Points[1].TAR
			rows = append(rows, r)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| set / detector | detected | plausible landmarks | p50 ms | AUC | TAR@FAR1e-3 |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		sort.Slice(r.times, func(i, j int) bool { return r.times[i] < r.times[j] })
		fmt.Fprintf(&b, "| %s | %d/%d | %d | %.1f | %.4f | %.3f |\n", r.set, r.found, r.images, r.plaus, float64(r.times[len(r.times)/2].Microseconds())/1000, r.auc, r.tar3)
	}
	t.Log(b.String())
	for i := 0; i < len(rows); i += 2 {
		y, f := rows[i], rows[i+1]
		if y.found < f.found || y.auc < f.auc {
			t.Errorf("%s: YuNet no longer at least as good as fr_detect (found %d vs %d, AUC %.4f vs %.4f)", y.set, y.found, f.found, y.auc, f.auc)
		}
	}
}
