package verify

import (
	"context"
	"testing"

	"github.com/openkyc/kyc/engine/face"
)

// TestPortraitMatch prints each of the 40 photos of 8 people on a KTP,
// reads the card as a verification does (the portrait's face as found on
// the page) and matches it against the other photos: every other person is
// refused and at most 5% of the same person's photos are.
func TestPortraitMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 40 cards")
	}
	eng := newEngine(t)
	ctx := context.Background()
	people := []string{"amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"}
	type photo struct {
		who string
		n   int
		emb face.Embedding
	}
	var photos []photo
	for _, who := range people {
		for n := 1; n <= 5; n++ {
			img := readFace(t, who, n)
			a, err := eng.Face.Analyze(ctx, img, face.Largest, face.Timings{}, "")
			img.Close()
			if err != nil {
				t.Fatalf("%s%d: %v", who, n, err)
			}
			photos = append(photos, photo{who, n, a.Embedding})
		}
	}
	m := eng.Face.Matcher()
	var genuine, refused, impostors, accepted int
	for _, p := range photos {
		img := readFace(t, p.who, p.n)
		portrait := portraitOf(t, eng, img)
		img.Close()
		doc := ktpPhoto(t, portrait)
		portrait.Close()
		prep := eng.Prepare(ctx, doc, nil)
		prep.Wait()
		ref, err, ok := prep.ref, prep.refErr, prep.refOK
		prep.Close()
		doc.Mat.Close()
		if !ok || err != nil {
			t.Errorf("%s%d: no portrait on the card (%v)", p.who, p.n, err)
			continue
		}
		for _, q := range photos {
			if q.who == p.who && q.n == p.n {
				continue
			}
			d := m.Decide(face.Cosine(ref.Embedding, q.emb))
			if q.who == p.who {
				genuine++
				if d.Decision != face.DecisionMatch {
					refused++
				}
			} else {
				impostors++
				if d.Decision == face.DecisionMatch {
					accepted++
					t.Errorf("%s%d's card matched %s%d (similarity %.3f)", p.who, p.n, q.who, q.n, d.Similarity)
				}
			}
		}
	}
	t.Logf("genuine pairs refused %d of %d; impostor pairs accepted %d of %d", refused, genuine, accepted, impostors)
	if refused*20 > genuine {
		t.Errorf("%d of %d genuine pairs refused, want at most 5%%", refused, genuine)
	}
}
