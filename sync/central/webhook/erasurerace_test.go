package webhook

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// eraseBetween is a store whose first UpdateFlow is preceded by hook: an
// erasure landing between the emitter's read of a completed submission
// and its write of the session's event.
type eraseBetween struct {
	central.Store
	once sync.Once
	hook func()
}

func (s *eraseBetween) UpdateFlow(ctx context.Context, partnerID, id string, fn func(*central.FlowSession) ([]central.WebhookEvent, error)) (central.FlowSession, error) {
	s.once.Do(s.hook)
	return s.Store.UpdateFlow(ctx, partnerID, id, fn)
}

// TestErasureRaceLeavesNoDecision: a submission erased (as central's
// erasure does it: the partners' sessions scrubbed, then the submission)
// while the emitter is turning it into submission.completed: no event
// written afterwards carries its decision, score or reasons (the event
// stays, its body central.ErasedEventPayload's, as erasure leaves one).
func TestErasureRaceLeavesNoDecision(t *testing.T) {
	eachStore(t, testErasureRace)
}

func testErasureRace(t *testing.T, st central.Store) {
	ctx := context.Background()
	addPartner(t, st, "p1", "", []string{"JKT-Selatan"})
	enrol(t, st, "dev-a", "JKT-Selatan")
	ref := storeSubmission(t, st, "dev-a", "sub-1", devicePayload(t, "sess-1"))
	rs := &eraseBetween{Store: st, hook: func() {
		now := time.Now().UTC()
		if err := st.AddErasure(ctx, central.Erasure{ID: "era_1", Status: central.ErasureStatus("running"), Actor: "t", RequestedAt: now}, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.EraseFlows(ctx, ref, now); err != nil {
			t.Fatal(err)
		}
		if err := st.EraseSubmission(ctx, "era_1", ref); err != nil {
			t.Fatal(err)
		}
	}}
	e := newEmitter(t, rs, nil)
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d events, want the session's submission.completed", len(evs))
	}
	for _, ev := range evs {
		if p := string(ev.Payload); strings.Contains(p, `"decision"`) || strings.Contains(p, `"score"`) {
			t.Errorf("event %s written after the erasure carries %s", ev.ID, p)
		}
	}
}
