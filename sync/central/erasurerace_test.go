package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// emitterBetween is a store whose first EraseSubmission is preceded by
// write: the webhook emitter writing a session's submission.completed
// after the erasure scrubbed the sessions holding the submission and
// before it deleted the submission (the emitter's own check after its
// write still finds the submission then, so it scrubs nothing).
type emitterBetween struct {
	*seal.Store
	once  sync.Once
	write func()
}

func (s *emitterBetween) EraseSubmission(ctx context.Context, id string, ref central.SubmissionRef) error {
	s.once.Do(s.write)
	return s.Store.EraseSubmission(ctx, id, ref)
}

// TestErasureScrubsAnEventWrittenMeanwhile: an event written with the
// person's decision between an erasure's scrub of the partners' sessions
// and its deletion of the submission is scrubbed too (ErasedEventPayload,
// the session marked erased): the erasure scrubs the sessions again once
// the submission is gone, after which the emitter's check finds it gone.
func TestErasureScrubsAnEventWrittenMeanwhile(t *testing.T) {
	store := &emitterBetween{Store: sealedBolt(t)}
	sub := personSubmission(t, store, "sub-1", erasureNIK)
	ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
	ctx := context.Background()
	now := time.Now().UTC()
	if err := store.CreatePartner(ctx, central.Partner{ID: "p1", Name: "p1", ClientID: "cli_p1", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateFlow(ctx, central.FlowSession{ID: "sess-1", PartnerID: "p1", UserID: "cust-1", UserIDType: "customer_id",
		Config: json.RawMessage(`{}`), Status: central.FlowCreated, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	store.write = func() {
		if _, err := store.Store.UpdateFlow(ctx, "p1", "sess-1", func(f *central.FlowSession) ([]central.WebhookEvent, error) {
			f.Submissions = append(f.Submissions, ref)
			return []central.WebhookEvent{{ID: "evt_1", Type: central.EventSubmissionCompleted, CreatedAt: now,
				Payload: json.RawMessage(`{"session_id":"sess-1","decision":"approve","score":12}`)}}, nil
		}); err != nil {
			t.Error(err)
		}
	}
	c := start(t, central.Config{Store: store})
	var res central.Erasure
	if resp, _ := c.admin(t, "POST", "/admin/v1/erasures", []byte(`{"nik":"`+erasureNIK+`"}`), &res); resp.StatusCode != http.StatusAccepted || res.Status != central.ErasureDone || res.Erased != 1 {
		t.Fatalf("erasure = %d, %+v; want done, 1 erased", resp.StatusCode, res)
	}
	evs, err := store.Events(ctx, "p1", 0, 100)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %+v, %v; want the one written meanwhile", evs, err)
	}
	if p := string(evs[0].Payload); strings.Contains(p, "decision") || strings.Contains(p, "score") {
		t.Errorf("the event written during the erasure still carries %s", p)
	}
	if f, err := store.Flow(ctx, "p1", "sess-1"); err != nil || f.ErasedAt.IsZero() || f.UserID != central.ErasedUserID {
		t.Errorf("the session after the erasure: %+v, %v; want it scrubbed", f, err)
	}
}
