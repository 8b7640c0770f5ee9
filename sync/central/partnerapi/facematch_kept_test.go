package partnerapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/facematch/facematchtest"
)

// keptStore records what Idempotent stores.
type keptStore struct {
	central.Store
	mu   sync.Mutex
	kept []keptAnswer
}

type keptAnswer struct {
	key         string
	requestHash []byte
	body        []byte
}

func (s *keptStore) Idempotent(ctx context.Context, partnerID, key string, requestHash []byte, now time.Time,
	fn func() (int, []byte, error)) (int, []byte, bool, error) {
	return s.Store.Idempotent(ctx, partnerID, key, requestHash, now, func() (int, []byte, error) {
		status, body, err := fn()
		if err == nil {
			s.mu.Lock()
			s.kept = append(s.kept, keptAnswer{key, requestHash, body})
			s.mu.Unlock()
		}
		return status, body, err
	})
}

// TestFaceMatchKeepsNothingReadable: a Face Match answer stored for its
// Idempotency-Key names no one an erasure could search by, so what the
// store holds of it reads only with the request's images: not the
// partner's key (it may be its user's id), not a plain hash of the images,
// not the answer (scores, decision, the faces' landmarks). The same request
// is still replayed as answered, and another one under the key refused.
func TestFaceMatchKeepsNothingReadable(t *testing.T) {
	store := &keptStore{}
	e := newFaceMatchEnvStore(t, facematchtest.Matcher(t), func(s central.Store) central.Store { store.Store = s; return store })
	token := e.partner(t, "acme", nil)
	req := fmRequest{selfie: facematchtest.Face(t, "leonard2"), reference: facematchtest.Face(t, "leonard4")}
	key := map[string]string{"Idempotency-Key": "user-siti-4711"}

	first, answer := e.faceMatch(t, token, req, key)
	again, replay := e.faceMatch(t, token, req, key)
	if first.StatusCode != 200 || again.StatusCode != 200 || again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(answer, replay) {
		t.Fatalf("answer %d %s, replay %d %q %s; want the answer replayed", first.StatusCode, answer, again.StatusCode, again.Header.Get("Idempotent-Replayed"), replay)
	}
	var res struct {
		Similarity float64 `json:"similarity"`
		Selfie     struct {
			Landmarks [][2]float64 `json:"landmarks"`
		} `json:"selfie"`
	}
	if err := json.Unmarshal(answer, &res); err != nil || len(res.Selfie.Landmarks) == 0 {
		t.Fatalf("answer %s: %v", answer, err)
	}
	store.mu.Lock()
	kept := store.kept
	store.mu.Unlock()
	if len(kept) != 1 {
		t.Fatalf("stored %d answers, want 1", len(kept))
	}
	k := kept[0]
	if strings.Contains(k.key, "siti") || strings.Contains(k.key, "4711") {
		t.Errorf("stored under %q: the partner's key in clear", k.key)
	}
	plain := sha256.New()
	for _, b := range [][]byte{req.selfie, req.reference} {
		_ = binary.Write(plain, binary.BigEndian, uint64(len(b)))
		plain.Write(b)
	}
	plain.Write([]byte{0})
	if bytes.Equal(k.requestHash, plain.Sum(nil)) {
		t.Error("the stored request hash is the images' plain SHA-256: anyone holding them can tell they were sent")
	}
	for _, personal := range []string{"similarity", "landmarks", "decision", fmt.Sprint(res.Similarity), fmt.Sprint(res.Selfie.Landmarks[0][0])} {
		if bytes.Contains(k.body, []byte(personal)) {
			t.Errorf("the stored answer holds %q in clear: %.200s", personal, k.body)
		}
	}
	diff, b := e.faceMatch(t, token, fmRequest{selfie: req.reference, reference: req.selfie}, key)
	if diff.StatusCode != 422 || bytes.Contains(b, []byte("similarity")) {
		t.Errorf("another request under the key: %d %s; want 422", diff.StatusCode, b)
	}
}
