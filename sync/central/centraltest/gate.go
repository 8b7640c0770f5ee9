package centraltest

import "sync"

// Gate holds requests sent all at once at one point of their handling (a
// store lookup, a store write) until every one of them has either reached
// it or been answered without reaching it. A budget read before that
// point and charged after it then lets all of them through, as it would
// under load: the tests of the partner API's and the hosted flow's
// budgets wrap a store's method with Arrive and send with AtOnce.
//
// The zero Gate holds nothing: Arrive returns at once until AtOnce runs.
type Gate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	on      bool
	n, seen int
}

// Arrive counts a request that reached the gated point and waits until
// every request of the running AtOnce is accounted for.
func (g *Gate) Arrive() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.on {
		return
	}
	g.seen++
	g.cond.Broadcast()
	for g.seen < g.n {
		g.cond.Wait()
	}
}

// answered counts a request answered without reaching the gated point.
func (g *Gate) answered() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen++
	g.cond.Broadcast()
}

// AtOnce runs send n times at once, the gate on, and counts the outcomes
// send reports. A send that reports passed false was answered without
// reaching the gated point (a 429, say); every other must reach it, or
// AtOnce never returns.
func (g *Gate) AtOnce(n int, send func() (outcome string, passed bool)) map[string]int {
	g.mu.Lock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	g.on, g.n, g.seen = true, n, 0
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.on = false
		g.mu.Unlock()
	}()
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			outcome, passed := send()
			if !passed {
				g.answered()
			}
			mu.Lock()
			counts[outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}
