package console

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// heldQueue is a store whose Queue, once armed, tells entered and waits
// for release: a dashboard or export held in the middle of its read.
type heldQueue struct {
	central.Store
	armed   *atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (s heldQueue) Queue(ctx context.Context, f central.QueueFilter) ([]central.Case, int, error) {
	if s.armed.Load() {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Store.Queue(ctx, f)
}

// TestBulkReadSlots: with bulkReadSlots dashboards and exports reading,
// the next one is refused at once (503, Retry-After, the console's error
// page) whichever of the two it is, and served once one finishes.
func TestBulkReadSlots(t *testing.T) {
	held := heldQueue{armed: &atomic.Bool{}, entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWrapped(t, func(s central.Store) central.Store { held.Store = s; return held })
	e.addDevice("dev-1", "north")
	e.addUser("boss", central.RoleAdmin)
	e.submit("dev-1", "bulk-1", payload(t, "payload_escalate.json", "bulk-1", nil))
	b := e.browser()
	b.signIn("boss")

	held.armed.Store(true)
	var wg sync.WaitGroup
	answers := make([]answer, bulkReadSlots)
	for i := range bulkReadSlots {
		path := []string{"/console/dashboard", "/console/export.csv"}[i%2]
		wg.Go(func() { answers[i] = b.get(path) })
		<-held.entered // holds its slot, reading
	}
	for _, path := range []string{"/console/dashboard", "/console/export.csv", "/console/dashboard?days=7"} {
		a := b.get(path)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, e.console.cat["en"]["err.bulk_busy"]) {
			t.Errorf("%s with every slot taken: %d, Retry-After %q", path, a.status, a.header.Get("Retry-After"))
		}
	}
	held.armed.Store(false)
	close(held.release)
	wg.Wait()
	for i, a := range answers {
		if a.status != http.StatusOK {
			t.Errorf("held read %d: %d", i, a.status)
		}
	}
	if a := b.get("/console/export.csv"); a.status != http.StatusOK || !strings.Contains(a.body, "submission_id") {
		t.Errorf("export with the slots free: %d", a.status)
	}
	if n := e.console.bulkReads.InUse(); n != 0 {
		t.Errorf("%d slots still taken after the answers", n)
	}
}
