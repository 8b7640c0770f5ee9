package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/internal/timing"
)

// State is the connection state of a Reconnecting source.
type State string

// Connection states.
const (
	StateConnected    State = "connected"
	StateDisconnected State = "disconnected" // reads fail; reopening with backoff
)

// ErrDisconnected is wrapped by Reconnecting.Read errors while the source is
// down: the caller keeps reading and the source comes back by itself.
var ErrDisconnected = errors.New("source disconnected")

// Opener opens (or reopens) a source.
type Opener func(ctx context.Context) (Source, error)

// Backoff bounds the wait between reopen attempts: it starts at Min and
// doubles after each failed attempt up to Max.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff retries quickly at first (a cable re-seated at once) and
// settles at twice a second so an absent camera costs nothing.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}

// Reconnecting wraps a live source: when a read fails it closes the source,
// reports StateDisconnected and reopens it with backoff on later reads.
// Finite sources pass io.EOF through. It is safe for one reader plus any
// number of State callers.
type Reconnecting struct {
	open    Opener
	backoff Backoff

	mu    sync.Mutex
	cur   Source
	info  Info
	state State
	delay time.Duration
	retry time.Time // earliest next reopen attempt
	drops int
}

// NewReconnecting opens the source once (failing if that fails: a wrong
// device is not a disconnect) and returns it wrapped.
func NewReconnecting(ctx context.Context, open Opener, b Backoff) (*Reconnecting, error) {
	if b.Min <= 0 || b.Max < b.Min {
		return nil, fmt.Errorf("reconnecting source: backoff %v..%v: want 0 < min <= max", b.Min, b.Max)
	}
	s, err := open(ctx)
	if err != nil {
		return nil, err
	}
	return &Reconnecting{open: open, backoff: b, cur: s, info: s.Info(), state: StateConnected, delay: b.Min}, nil
}

// Info describes the source as last opened.
func (r *Reconnecting) Info() Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

// State reports whether the source is delivering.
func (r *Reconnecting) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Disconnects counts how often the source was lost.
func (r *Reconnecting) Disconnects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drops
}

// Read reads the next frame. While the source is down it waits for the
// next reopen attempt (or ctx) and returns an error wrapping
// ErrDisconnected for each failed attempt.
func (r *Reconnecting) Read(ctx context.Context, dst *gocv.Mat) error {
	r.mu.Lock()
	cur, retry := r.cur, r.retry
	r.mu.Unlock()
	if cur == nil {
		if err := timing.SleepUntil(ctx, retry); err != nil {
			return err
		}
		s, err := r.open(ctx)
		if err != nil {
			r.mu.Lock()
			r.delay = min(2*r.delay, r.backoff.Max)
			r.retry = time.Now().Add(r.delay)
			r.mu.Unlock()
			return fmt.Errorf("%w: reopening: %v", ErrDisconnected, err)
		}
		r.mu.Lock()
		r.cur, cur, r.info, r.state, r.delay = s, s, s.Info(), StateConnected, r.backoff.Min
		r.mu.Unlock()
	}
	err := cur.Read(ctx, dst)
	if err == nil || errors.Is(err, io.EOF) || ctx.Err() != nil {
		return err
	}
	cur.Close()
	r.mu.Lock()
	r.cur, r.state, r.drops = nil, StateDisconnected, r.drops+1
	r.retry = time.Now().Add(r.delay)
	r.mu.Unlock()
	return fmt.Errorf("%w: %v", ErrDisconnected, err)
}

// Close closes the current source, if any.
func (r *Reconnecting) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
