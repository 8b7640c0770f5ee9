package engines

import (
	"context"
	"errors"
	"testing"

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
