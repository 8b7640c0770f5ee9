package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// testRiskHistory: every version published stays readable by its number
// after newer ones (central judges a decision by the bands it was made
// under); a version never published is ErrNotFound.
func testRiskHistory(t *testing.T, s central.Store) {
	ctx := context.Background()
	if _, err := s.RiskVersion(ctx, 1); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("RiskVersion(1) of an empty store = %v, want ErrNotFound", err)
	}
	for v := int64(1); v <= 3; v++ {
		if got, err := s.PutRisk(ctx, json.RawMessage(fmt.Sprintf(`{"bands":{"approve_min":%d}}`, 84+v))); err != nil || got != v {
			t.Fatalf("PutRisk = %d, %v; want version %d", got, err, v)
		}
	}
	for _, tc := range []struct {
		version int64
		want    string // "" for ErrNotFound
	}{
		{1, `{"bands":{"approve_min":85}}`},
		{2, `{"bands":{"approve_min":86}}`},
		{3, `{"bands":{"approve_min":87}}`},
		{0, ""},
		{-1, ""},
		{4, ""},
	} {
		doc, err := s.RiskVersion(ctx, tc.version)
		if tc.want == "" {
			if !errors.Is(err, central.ErrNotFound) {
				t.Errorf("RiskVersion(%d) = %s, %v; want ErrNotFound", tc.version, doc, err)
			}
			continue
		}
		if err != nil || string(doc) != tc.want {
			t.Errorf("RiskVersion(%d) = %s, %v; want %s", tc.version, doc, err, tc.want)
		}
	}
	if doc, v, err := s.Risk(ctx); err != nil || v != 3 || string(doc) != `{"bands":{"approve_min":87}}` {
		t.Errorf("Risk = %s, %d, %v; want version 3, the last published", doc, v, err)
	}
}

// testRiskProposal: one proposal pends at a time (replaced by its own
// proposer or once expired, refused to anyone else); confirming publishes
// it only over its base version and removes it; a stale confirm keeps it;
// an expired or unknown one is ErrNotFound. Each change appends its audit
// event, and a refused one none (testRiskProposalAudit).
func testRiskProposal(t *testing.T, s central.Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	ev := riskEvent(now)
	prop := func(id, by string, base int64, at time.Time) central.RiskProposal {
		return central.RiskProposal{Config: json.RawMessage(`{"bands":{"approve_min":` + fmt.Sprint(80+len(id)) + `}}`),
			Proposal: central.Proposal{ID: id, Base: base, Proposer: by, Reason: "why " + id, At: at, ExpiresAt: at.Add(time.Hour)}}
	}
	if _, err := s.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) {
		t.Fatalf("RiskProposal of an empty store = %v, want ErrNotFound", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "a", now, ev); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal with none pending = %v, want ErrNotFound", err)
	}
	a := prop("a", "user:ada", 0, now)
	if err := s.ProposeRisk(ctx, a, ev); err != nil {
		t.Fatalf("ProposeRisk: %v", err)
	}
	if got, err := s.RiskProposal(ctx); err != nil || got.ID != "a" || got.Proposer != "user:ada" || got.Reason != "why a" ||
		string(got.Config) != string(a.Config) || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Fatalf("RiskProposal = %+v, %v; want %+v", got, err, a)
	}
	if err := s.ProposeRisk(ctx, prop("bb", "user:bob", 0, now.Add(time.Minute)), ev); !errors.Is(err, central.ErrProposalPending) {
		t.Errorf("another proposer's ProposeRisk over a pending one = %v, want ErrProposalPending", err)
	}
	a2 := prop("aa", "user:ada", 0, now.Add(time.Minute))
	if err := s.ProposeRisk(ctx, a2, ev); err != nil {
		t.Fatalf("the proposer replacing their own proposal: %v", err)
	}
	if err := s.DeleteRiskProposal(ctx, "a", ev); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("DeleteRiskProposal of the replaced one = %v, want ErrNotFound", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "aa", a2.ExpiresAt, ev); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal once expired = %v, want ErrNotFound", err)
	}
	// Someone else publishes meanwhile: the proposal is stale and stays.
	if _, err := s.PutRisk(ctx, json.RawMessage(`{"other":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "aa", now.Add(2*time.Minute), ev); !errors.Is(err, central.ErrRiskStale) {
		t.Errorf("ConfirmRiskProposal over a moved version = %v, want ErrRiskStale", err)
	}
	if got, err := s.RiskProposal(ctx); err != nil || got.ID != "aa" {
		t.Errorf("after a stale confirm RiskProposal = %+v, %v; want it kept", got, err)
	}
	if doc, v, err := s.Risk(ctx); err != nil || v != 1 || string(doc) != `{"other":1}` {
		t.Errorf("Risk after a stale confirm = %s, %d, %v; want version 1 unchanged", doc, v, err)
	}
	// Once expired, anyone may propose over it.
	b := prop("bbb", "admin:tok", 1, a2.ExpiresAt)
	if err := s.ProposeRisk(ctx, b, ev); err != nil {
		t.Fatalf("ProposeRisk over an expired proposal: %v", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "aa", now.Add(2*time.Minute), ev); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal of a replaced id = %v, want ErrNotFound", err)
	}
	v, err := s.ConfirmRiskProposal(ctx, "bbb", b.At.Add(time.Minute), ev)
	if err != nil || v != 2 {
		t.Fatalf("ConfirmRiskProposal = %d, %v; want version 2", v, err)
	}
	if doc, cur, err := s.Risk(ctx); err != nil || cur != 2 || string(doc) != string(b.Config) {
		t.Errorf("Risk after confirm = %s, %d, %v; want the proposal's config as version 2", doc, cur, err)
	}
	if _, err := s.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("RiskProposal after confirm = %v, want ErrNotFound", err)
	}
	c := prop("c", "user:bob", 2, now.Add(3*time.Hour))
	if err := s.ProposeRisk(ctx, c, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRiskProposal(ctx, "c", ev); err != nil {
		t.Errorf("DeleteRiskProposal: %v", err)
	}
	if _, err := s.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("RiskProposal after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "c", c.At, ev); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal after delete = %v, want ErrNotFound", err)
	}
}

// riskEvent is an audit event of a risk proposal's change.
func riskEvent(at time.Time) central.AuditEvent {
	return central.AuditEvent{ID: fmt.Sprint(at.UnixNano()), At: at, Actor: "user:ada", Action: central.AuditRiskProposed, Subject: "risk", Count: 1,
		After: json.RawMessage(`{"id":"p"}`)}
}

// testRiskProposalAudit: proposing, confirming and declining a risk
// proposal append their audit event in their own transaction: a change
// stands with its event, a refused change leaves none, and an event the
// store cannot append (here, a state that is not JSON) leaves no change.
func testRiskProposalAudit(t *testing.T, s central.Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	bad := riskEvent(now)
	bad.After = json.RawMessage(`{`)
	events := func() int {
		t.Helper()
		evs, err := s.Audit(ctx, central.AuditFilter{Subject: "risk"})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	p := central.RiskProposal{Config: json.RawMessage(`{"max_retries":4}`), Proposal: central.Proposal{ID: "p", Proposer: "user:ada", At: now, ExpiresAt: now.Add(time.Hour)}}
	if err := s.ProposeRisk(ctx, p, bad); err == nil {
		t.Fatal("ProposeRisk with an event the store cannot append succeeded")
	}
	if _, err := s.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) || events() != 0 {
		t.Fatalf("after a failed ProposeRisk: proposal %v, %d events; want neither", err, events())
	}
	if err := s.ProposeRisk(ctx, p, riskEvent(now)); err != nil || events() != 1 {
		t.Fatalf("ProposeRisk = %v with %d events, want one", err, events())
	}
	if err := s.ProposeRisk(ctx, central.RiskProposal{Proposal: central.Proposal{ID: "q", Proposer: "user:bob", At: now, ExpiresAt: now.Add(time.Hour)}}, riskEvent(now)); !errors.Is(err, central.ErrProposalPending) || events() != 1 {
		t.Errorf("a refused ProposeRisk = %v with %d events, want ErrProposalPending and no new event", err, events())
	}
	if err := s.DeleteRiskProposal(ctx, "p", bad); err == nil {
		t.Fatal("DeleteRiskProposal with an event the store cannot append succeeded")
	}
	if got, err := s.RiskProposal(ctx); err != nil || got.ID != "p" || events() != 1 {
		t.Fatalf("after a failed DeleteRiskProposal: %+v, %v, %d events; want it pending, no event", got, err, events())
	}
	if _, err := s.ConfirmRiskProposal(ctx, "p", now, bad); err == nil {
		t.Fatal("ConfirmRiskProposal with an event the store cannot append succeeded")
	}
	if _, v, err := s.Risk(ctx); err != nil || v != 0 || events() != 1 {
		t.Fatalf("after a failed ConfirmRiskProposal: version %d, %v, %d events; want nothing published, no event", v, err, events())
	}
	if got, err := s.RiskProposal(ctx); err != nil || got.ID != "p" {
		t.Fatalf("after a failed ConfirmRiskProposal: %+v, %v; want it pending", got, err)
	}
	if v, err := s.ConfirmRiskProposal(ctx, "p", now, riskEvent(now)); err != nil || v != 1 || events() != 2 {
		t.Fatalf("ConfirmRiskProposal = %d, %v with %d events; want version 1 and its event", v, err, events())
	}
	if err := s.DeleteRiskProposal(ctx, "p", riskEvent(now)); !errors.Is(err, central.ErrNotFound) || events() != 2 {
		t.Errorf("DeleteRiskProposal of none = %v with %d events, want ErrNotFound and no new event", err, events())
	}
	if err := s.ProposeRisk(ctx, central.RiskProposal{Proposal: central.Proposal{ID: "r", Base: 1, Proposer: "user:ada", At: now, ExpiresAt: now.Add(time.Hour)}}, riskEvent(now)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRiskProposal(ctx, "r", riskEvent(now)); err != nil || events() != 4 {
		t.Errorf("DeleteRiskProposal = %v with %d events, want its event", err, events())
	}
	if _, err := central.VerifyAuditChain(ctx, s, nil); err != nil {
		t.Errorf("the audit chain after risk proposals: %v", err)
	}
}

// testRiskServed: the risk versions served to a device are recorded per
// device, recording one again is no error and changes nothing, and a
// version not recorded for that device is not served (even if recorded
// for another).
func testRiskServed(t *testing.T, s central.Store) {
	ctx := context.Background()
	mustEnroll(t, s, "served-a")
	mustEnroll(t, s, "served-b")
	for _, v := range []int64{0, 2, 2, 3} {
		if err := s.ServeRisk(ctx, "served-a", v); err != nil {
			t.Fatalf("ServeRisk(served-a, %d): %v", v, err)
		}
	}
	if err := s.ServeRisk(ctx, "served-b", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		device  string
		version int64
		want    bool
	}{
		{"served-a", 0, true}, {"served-a", 1, false}, {"served-a", 2, true}, {"served-a", 3, true}, {"served-a", 4, false}, {"served-a", -1, false},
		{"served-b", 0, false}, {"served-b", 1, true}, {"served-b", 2, false},
		{"served-c", 0, false}, {"served-", 0, false},
	} {
		if got, err := s.RiskServed(ctx, tc.device, tc.version); err != nil || got != tc.want {
			t.Errorf("RiskServed(%s, %d) = %t, %v; want %t", tc.device, tc.version, got, err, tc.want)
		}
	}
}

// testConfigServed: the last configuration served is recorded per device
// with the lists it named; a later serving replaces it, an earlier one
// (another instance's, recorded late) does not; a device never served has
// none (ErrNotFound).
func testConfigServed(t *testing.T, s central.Store) {
	ctx := context.Background()
	mustEnroll(t, s, "config-a")
	mustEnroll(t, s, "config-b")
	if _, err := s.LastConfig(ctx, "config-a"); !errors.Is(err, central.ErrNotFound) {
		t.Fatalf("LastConfig before any serving: %v, want ErrNotFound", err)
	}
	t1 := t0.Add(48 * time.Hour)
	first := central.ConfigServing{At: t1, Watchlists: map[string]int64{"un": 3, "ofac": 1}}
	for _, c := range []central.ConfigServing{first, {At: t1.Add(-time.Hour), Watchlists: map[string]int64{"old": 1}}} {
		if err := s.ServeConfig(ctx, "config-a", c); err != nil {
			t.Fatalf("ServeConfig(%v): %v", c.At, err)
		}
	}
	if got, err := s.LastConfig(ctx, "config-a"); err != nil || !got.At.Equal(first.At) || !maps.Equal(got.Watchlists, first.Watchlists) {
		t.Errorf("LastConfig = %+v, %v; want %+v (an earlier serving recorded late changes nothing)", got, err, first)
	}
	later := central.ConfigServing{At: t1.Add(10 * time.Minute)}
	if err := s.ServeConfig(ctx, "config-a", later); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LastConfig(ctx, "config-a"); err != nil || !got.At.Equal(later.At) || len(got.Watchlists) != 0 {
		t.Errorf("LastConfig after a later serving without lists = %+v, %v; want %+v", got, err, later)
	}
	if _, err := s.LastConfig(ctx, "config-b"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("LastConfig of a device never served: %v, want ErrNotFound", err)
	}
}
