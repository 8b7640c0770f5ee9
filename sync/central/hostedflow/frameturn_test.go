package hostedflow

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/shares"
)

// TestFrameTurn: a guidance frame takes one of the guides' turns; when
// every turn a partner may hold is taken, the next frame is dropped with
// 429 busy (the page sends a later one) instead of waiting without bound,
// while another partner's frame still gets its turn; a turn given back is
// taken again. A frame whose request ends while it waits gets the
// request's cause, not busy.
func TestFrameTurn(t *testing.T) {
	f := &Flow{guides: shares.New(2, 1)}
	ctx := context.Background()
	held, err := f.frameTurn(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.frameTurn(ctx, "p1")
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.Code != "busy" || he.RetryAfter <= 0 {
		t.Fatalf("a frame beyond the partner's share: %v, want 429 busy with a Retry-After", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.frameTurn(cancelled, "p1"); !errors.Is(err, context.Canceled) {
		t.Errorf("a frame whose request ended while it waited: %v, want its cause, not busy", err)
	}
	other, err := f.frameTurn(ctx, "p2")
	if err != nil {
		t.Fatalf("another partner's frame: %v, want its turn", err)
	}
	other()
	held()
	again, err := f.frameTurn(ctx, "p1")
	if err != nil {
		t.Fatalf("a frame after the turn was given back: %v", err)
	}
	again()
}
