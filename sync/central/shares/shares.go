// Package shares hands out a fixed number of turns at a costly resource
// (the engine's verification slots, Face Match's turns) so that one
// partner holds at most its share: its queue (its customers at once, or a
// script submitting many requests) never takes every turn while another
// partner's request waits.
package shares

import (
	"context"
	"sync"
)

// Pool is a number of turns and the share one partner may hold at once.
type Pool struct {
	all   chan struct{}
	share int

	mu       sync.Mutex
	partners map[string]*partner // of the partners holding or waiting
}

// partner is one partner's turns held; users counts its requests holding
// or waiting for one, so the entry goes with the last.
type partner struct {
	held  chan struct{}
	users int
}

// New returns a pool of size turns (at least one) of which a partner holds
// at most share (clamped to 1..size).
func New(size, share int) *Pool {
	size = max(size, 1)
	return &Pool{all: make(chan struct{}, size), share: min(max(share, 1), size), partners: map[string]*partner{}}
}

// Held is how many turns are held now.
func (p *Pool) Held() int { return len(p.all) }

// Acquire waits for one of partnerID's share of the turns, then for one of
// the pool's, until ctx ends (its cause is returned then); release gives
// both back and must be called once.
func (p *Pool) Acquire(ctx context.Context, partnerID string) (release func(), err error) {
	p.mu.Lock()
	pt := p.partners[partnerID]
	if pt == nil {
		pt = &partner{held: make(chan struct{}, p.share)}
		p.partners[partnerID] = pt
	}
	pt.users++
	p.mu.Unlock()
	leave := func() {
		p.mu.Lock()
		if pt.users--; pt.users == 0 {
			delete(p.partners, partnerID)
		}
		p.mu.Unlock()
	}
	for i, sem := range []chan struct{}{pt.held, p.all} {
		select {
		case sem <- struct{}{}:
			continue
		case <-ctx.Done():
		}
		if i == 1 {
			<-pt.held
		}
		leave()
		return nil, context.Cause(ctx)
	}
	return func() {
		<-p.all
		<-pt.held
		leave()
	}, nil
}
