package engines

import (
	"context"
	"errors"
	"testing"

	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
)

func TestOpenWarmClose(t *testing.T) {
	testenv.ORT(t)
	store, err := models.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if e.Screening != nil {
		t.Error("an empty watchlist folder gave a screening index")
	}
	// The selfie's liveness fuses the three models and the traces: the
	// live minivision sample passes, its print is refused.
	for file, live := range map[string]bool{"image_T1.jpg": true, "image_F1.jpg": false} {
		img, err := imageio.ReadFile(testenv.Data(t, "liveness", "minivision_samples", file), 0)
		if err != nil {
			t.Fatal(err)
		}
		faces, err := e.Guide.Detect(context.Background(), img)
		if err != nil || len(faces) == 0 {
			t.Fatalf("%s: no face (%v)", file, err)
		}
		r, err := e.Face.Liveness(context.Background(), img, faces[0])
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Fused == nil || len(r.Fused.Models) != 3 || r.Live != live {
			t.Errorf("%s: liveness %+v, want live=%v from the fused models", file, r, live)
		}
	}
	if err := e.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Warm(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Warm after cancel: %v, want context.Canceled", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
