package forensics

import (
	"context"
	"errors"
	"image"
	"testing"
)

// TestReproduction: on regions of a card, the screen and print checks
// alone find the screen replay's and the print's periodic traces and none
// on the genuine capture, with the faces' narrower axis band as with the
// documents'.
func TestReproduction(t *testing.T) {
	region := image.Rect(300, 150, 555, 405) // 255 pixels: tiles of 128
	for _, c := range []struct {
		name   string
		raw    []byte
		attack bool
	}{
		{"genuine", genuineJPEG(t, 3), false},
		{"screen replay", screenReplay(t, 3), true},
		{"printed copy", printedCopy(t, 3), true},
	} {
		img := decodeBGR(t, c.raw)
		for _, band := range []int{1, specAxisBand} {
			l, tr, err := Reproduction(context.Background(), img, region, band, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Tile != 128 || len(l.Checks) != 2 || (l.Score < 0.5) != c.attack || (l.Attack != "") != c.attack {
				t.Errorf("%s, axis band %d: score %.2f attack %q, traces %+v", c.name, band, l.Score, l.Attack, tr)
			}
			if !c.attack && tr.ChromaMass+tr.LumaMass != 0 {
				t.Errorf("%s, axis band %d: traces %+v on a genuine card", c.name, band, tr)
			}
		}
		img.Close()
	}
	img := decodeBGR(t, genuineJPEG(t, 3))
	defer img.Close()
	for _, r := range []image.Rectangle{image.Rect(0, 0, 63, 200), image.Rect(990, 620, 1100, 700)} {
		if _, _, err := Reproduction(context.Background(), img, r, 1, Options{}); !errors.Is(err, ErrTooSmall) {
			t.Errorf("region %v: %v, want ErrTooSmall", r, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Reproduction(ctx, img, region, 1, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestMidtoneNoiseGuilloche: a card's guilloche (fine lines over a tinted
// ground) photographed and saved is no inkjet's scatter.
func TestMidtoneNoiseGuilloche(t *testing.T) {
	card := renderCard(t, 3, 1600, 1000)
	defer card.Close()
	m := decodeBGR(t, encodeJPEG(t, card, 90))
	defer m.Close()
	mt := midtoneNoise(m)
	t.Logf("guilloche card: %+v", mt)
	if !mt.ok {
		t.Fatalf("guilloche card: too few flat pixels (%+v)", mt)
	}
	if mt.excess() >= DefaultOptions().DitherMidtoneThreshold/2 {
		t.Errorf("guilloche card: mid-tone noise %.2f over the paper's %.2f, threshold %.2f", mt.noise, mt.paper, DefaultOptions().DitherMidtoneThreshold)
	}
}
