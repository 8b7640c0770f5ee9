package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestEmitterExpiresReusedSessionID: once retention removed a session, its
// partner may initiate another with the same id; that one's
// session.expired is an event of its own, not the removed session's id
// again, which the store (and the partner, deduplicating by webhook-id)
// drops as a duplicate, so the partner would never learn it expired.
func TestEmitterExpiresReusedSessionID(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		addPartner(t, st, "p1", "", nil)
		e := newEmitter(t, st, nil)
		expired := func(created time.Time) {
			t.Helper()
			f := central.FlowSession{ID: "order-7", PartnerID: "p1", Config: json.RawMessage(`{}`), Status: central.FlowCreated,
				CreatedAt: created, UpdatedAt: created, ExpiresAt: created.Add(time.Minute)}
			if err := st.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
			runEmitter(t, e, 1)
		}
		now := time.Now().UTC()
		expired(now.Add(-3 * time.Hour))
		if n, err := st.Expire(ctx, central.ExpireFlows, now.Add(-2*time.Hour), now, 100); err != nil || n != 1 {
			t.Fatalf("retention removed %d sessions: %v", n, err)
		}
		expired(now.Add(-time.Hour))
		evs, err := st.Events(ctx, "p1", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].ID == evs[1].ID {
			t.Fatalf("events %+v, want a session.expired for each session", evs)
		}
	})
}
