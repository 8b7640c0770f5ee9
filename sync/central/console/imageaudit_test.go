package console

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// readGuard is the console's store, recording a write made by a request
// while that request's read of an image's chunks is under way (its
// callback running): in bbolt that is a write inside a read transaction,
// which hangs for good the first time the write grows the file's mapping
// (it waits for every read to end, its own included), and every later
// write of central with it.
type readGuard struct {
	central.Store
	mu      sync.Mutex
	reading map[context.Context]bool
	bad     []string
}

func (s *readGuard) ImageChunks(ctx context.Context, deviceID, key, image string, fn func([]byte) error) error {
	return s.Store.ImageChunks(ctx, deviceID, key, image, func(b []byte) error {
		s.mu.Lock()
		s.reading[ctx] = true
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.reading, ctx)
			s.mu.Unlock()
		}()
		return fn(b)
	})
}

func (s *readGuard) AppendAudit(ctx context.Context, e central.AuditEvent) error {
	s.mu.Lock()
	if s.reading[ctx] {
		s.bad = append(s.bad, e.Action)
	}
	s.mu.Unlock()
	return s.Store.AppendAudit(ctx, e)
}

// TestImageViewAuditedOutsideRead: a case image's view is audited before
// its bytes are read, not from inside the read (readGuard), still once
// per image shown and never for an image the case lacks. In Chromium a
// case page's images, each audited from inside its read, hung central's
// bbolt store for good (every write waiting on the mapping's lock).
func TestImageViewAuditedOutsideRead(t *testing.T) {
	var g *readGuard
	e := newEnvWrapped(t, func(s central.Store) central.Store {
		g = &readGuard{Store: s, reading: map[context.Context]bool{}}
		return g
	})
	e.addDevice("dev-a", "north")
	ref := e.submit("dev-a", "img-1", payload(t, "payload_device.json", "img", asReview(50)))
	e.addUser("aud", central.RoleAuditor)
	b := e.browser()
	b.signIn("aud")
	for _, name := range []string{"front", "selfie"} {
		a := b.get(caseHref(ref) + "/images/" + name)
		if a.status != http.StatusOK || a.header.Get("Content-Type") != "image/jpeg" || len(a.body) < 512 {
			t.Errorf("%s: %d %s, %d bytes", name, a.status, a.header.Get("Content-Type"), len(a.body))
		}
	}
	if a := b.get(caseHref(ref) + "/images/back"); a.status != http.StatusNotFound {
		t.Errorf("an image the case lacks: %d, want 404", a.status)
	}
	g.mu.Lock()
	bad := slices.Clone(g.bad)
	g.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("written while reading an image's chunks: %v", bad)
	}
	views := 0
	for _, a := range e.auditActions(caseSubject(ref)) {
		if a == AuditImageView {
			views++
		}
	}
	if views != 2 {
		t.Errorf("%d %s events, want 2 (front and selfie; none for the missing back)", views, AuditImageView)
	}
}
