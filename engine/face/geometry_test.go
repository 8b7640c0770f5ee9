package face

import (
	"errors"
	"math"
	"testing"
)

func TestIoU(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b Box
		want float64
	}{
		{"same", Box{0, 0, 10, 10}, Box{0, 0, 10, 10}, 1},
		{"disjoint", Box{0, 0, 10, 10}, Box{20, 20, 5, 5}, 0},
		{"half overlap", Box{0, 0, 10, 10}, Box{5, 0, 10, 10}, 50.0 / 150},
		{"contained", Box{0, 0, 10, 10}, Box{0, 0, 5, 10}, 0.5},
		{"empty", Box{0, 0, 0, 0}, Box{0, 0, 0, 0}, 0},
	} {
		if got := c.a.IoU(c.b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: IoU = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNMSKeepsBestOfOverlaps(t *testing.T) {
	faces := []Face{
		{Box: Box{0, 0, 10, 10}, Score: 0.9},
		{Box: Box{1, 1, 10, 10}, Score: 0.8}, // overlaps the first
		{Box: Box{50, 50, 10, 10}, Score: 0.7},
	}
	got := nms(faces, 0.3)
	if len(got) != 2 || got[0].Score != 0.9 || got[1].Score != 0.7 {
		t.Fatalf("nms kept %+v", got)
	}
}

func TestFinishFacesOrdersBySizeAndClips(t *testing.T) {
	faces := []Face{
		{Box: Box{-5, 10, 20, 20}, Score: 0.9},
		{Box: Box{50, 50, 40, 40}, Score: 0.6},
	}
	got := FinishFaces(faces, 0.3, 80, 80)
	if len(got) != 2 || got[0].Score != 0.6 {
		t.Fatalf("not ordered by size: %+v", got)
	}
	if b := got[0].Box; b.X+b.W > 80 || b.Y+b.H > 80 {
		t.Errorf("box not clipped to the image: %+v", b)
	}
	if b := got[1].Box; b.X != 0 || b.W != 15 {
		t.Errorf("box not clipped at the left edge: %+v", b)
	}
}

func TestDominant(t *testing.T) {
	big := Face{Box: Box{0, 0, 100, 100}}
	for _, c := range []struct {
		name  string
		faces []Face
		want  error
	}{
		{"none", nil, ErrNoFace},
		{"one", []Face{big}, nil},
		{"small bystander", []Face{big, {Box: Box{200, 0, 40, 40}}}, nil},
		{"two people", []Face{big, {Box: Box{200, 0, 80, 80}}}, ErrMultipleFaces},
	} {
		_, err := Dominant(c.faces)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: Dominant error %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Largest([]Face{big, big}); err != nil {
		t.Errorf("Largest refused two faces: %v", err)
	}
}
