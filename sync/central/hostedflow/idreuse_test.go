package hostedflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// TestSessionIDReusedAfterRetention: a partner_session_id used again once
// retention removed its session (flows_days shorter than decision_days)
// names the same submission id, "<partner>:<session>-<attempt>". The new
// person's attempt must be a submission of its own, never the earlier
// person's (whose result, fields and images Get Submission Details would
// otherwise hand out as the new person's), and the new session's events
// must not carry the earlier one's ids, which the store and the partner
// drop as duplicates.
func TestSessionIDReusedAfterRetention(t *testing.T) {
	e := newEnv(t, true)
	doc, _, noFace := images(t)
	pid, first := e.initiate(map[string]any{"partner_session_id": "order-7", "session_ttl": 60, "max_retries": 2})
	// session runs a person's first attempt (no face: a RETRY) and their
	// exit at it (session.ended), then returns the session.
	session := func(launch string) central.FlowSession {
		t.Helper()
		b := e.browser()
		b.open(launch)
		b.capture("document", doc)
		b.capture("selfie", noFace)
		must(t, http.StatusOK, b.post("/flow/api/submit", "", nil))
		if st := b.waitResult(); st.NextAction != "RETRY" {
			t.Fatalf("no-face result %+v", st)
		}
		must(t, http.StatusOK, b.post("/flow/api/finish", "", nil))
		f, err := e.store.Flow(context.Background(), pid, "order-7")
		if err != nil || len(f.Submissions) != 1 || f.ErrorCode != "user_exit" {
			t.Fatalf("session %+v %v, want one attempt and user_exit", f, err)
		}
		return f
	}
	old := session(first.LaunchURL)
	events := func() int {
		t.Helper()
		evs, err := e.store.Events(context.Background(), pid, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	before := events()

	e.clk.Advance(2 * time.Minute)
	now := e.clk.Now().UTC()
	if n, err := e.store.Expire(context.Background(), central.ExpireFlows, now, now, 100); err != nil || n != 1 {
		t.Fatalf("retention removed %d sessions: %v", n, err)
	}
	body, _ := json.Marshal(map[string]any{"partner_user_id": "cust-2", "partner_session_id": "order-7", "max_retries": 2})
	var second partnerapi.FlowCreated
	json.Unmarshal(must(t, http.StatusCreated, e.browser().do("POST", "/api/v1/flows", "application/json", body,
		map[string]string{"Authorization": "Bearer " + e.token})).body, &second)
	fresh := session(second.LaunchURL)

	if fresh.Submissions[0] == old.Submissions[0] {
		t.Fatalf("the new session's attempt is the removed session's submission %+v", old.Submissions[0])
	}
	sub, err := e.store.Upload(context.Background(), fresh.Submissions[0].DeviceID, fresh.Submissions[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if sub.ReceivedAt.Before(fresh.CreatedAt) {
		t.Errorf("the new session's submission %s was received before the session was made", sub.ID)
	}
	// submission.completed and session.ended of the new session.
	if after := events(); after != before+2 {
		t.Errorf("the new session added %d events, want 2 (submission.completed, session.ended)", after-before)
	}
}
