package face

import (
	"context"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

func TestEmbedIsUnitLengthAndSeparatesPeople(t *testing.T) {
	e := newTestEngine(t, 1)
	ctx := context.Background()
	embed := func(name string) Embedding {
		a, err := e.Analyze(ctx, bbt(t, name), Largest, Timings{}, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(a.Embedding) != EmbeddingSize {
			t.Fatalf("%s: embedding of %d values", name, len(a.Embedding))
		}
		if n := math.Sqrt(Cosine(a.Embedding, a.Embedding)); math.Abs(n-1) > 1e-4 {
			t.Errorf("%s: embedding norm %v", name, n)
		}
		return a.Embedding
	}
	// Each row: two photos of one person, one of another.
	for _, c := range [][3]string{
		{"leonard1", "leonard2", "sheldon1"},
		{"penny1", "penny5", "amy2"},
		{"raj2", "raj4", "howard2"},
	} {
		a, b, other := embed(c[0]), embed(c[1]), embed(c[2])
		same, diff := Cosine(a, b), Cosine(a, other)
		if same <= diff+0.2 {
			t.Errorf("%s~%s = %.3f is not clearly above %s~%s = %.3f", c[0], c[1], same, c[0], c[2], diff)
		}
	}
}

func TestEmbedRejectsUnalignedCrop(t *testing.T) {
	e := newTestEngine(t, 1)
	m := gocv.NewMatWithSize(100, 100, gocv.MatTypeCV8UC3)
	defer m.Close()
	if _, _, err := e.emb.Embed(context.Background(), m); err == nil {
		t.Error("a 100x100 crop was embedded")
	}
}

func TestCosineOfMismatchedLengths(t *testing.T) {
	if s := Cosine(Embedding{1, 0}, Embedding{1}); s != 0 {
		t.Errorf("Cosine of different lengths = %v, want 0", s)
	}
}
