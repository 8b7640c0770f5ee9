package shares

import (
	"context"
	"errors"
	"testing"
)

// TestShare: a partner holding its share waits while another partner takes
// the turn left; a wait that ends returns its cause and holds nothing.
func TestShare(t *testing.T) {
	p := New(3, 2)
	ctx := context.Background()
	var releases []func()
	for range 2 {
		r, err := p.Acquire(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	// A's third waits (its share is 2) until its context ends.
	busy := errors.New("busy")
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(busy)
	if _, err := p.Acquire(cctx, "a"); !errors.Is(err, busy) {
		t.Fatalf("a's third turn: %v, want the context's cause", err)
	}
	// B gets the turn A may not take.
	rb, err := p.Acquire(ctx, "b")
	if err != nil || p.Held() != 3 {
		t.Fatalf("b's turn: %v, %d held", err, p.Held())
	}
	// Every turn held: B's second waits for the pool, and gives its share
	// back when its wait ends.
	if _, err := p.Acquire(cctx, "b"); !errors.Is(err, busy) {
		t.Fatalf("b's second turn with the pool full: %v", err)
	}
	rb()
	for _, r := range releases {
		r()
	}
	if p.Held() != 0 || len(p.partners) != 0 {
		t.Fatalf("after every release: %d held, %d partners", p.Held(), len(p.partners))
	}
	// Shares clamp: a pool of one turn gives it to a share of zero.
	one := New(1, 0)
	r, err := one.Acquire(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	r()
}
