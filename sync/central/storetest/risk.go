package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// an expired or unknown one is ErrNotFound.
func testRiskProposal(t *testing.T, s central.Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	prop := func(id, by string, base int64, at time.Time) central.RiskProposal {
		return central.RiskProposal{ID: id, Config: json.RawMessage(`{"bands":{"approve_min":` + fmt.Sprint(80+len(id)) + `}}`),
			Base: base, Proposer: by, Reason: "why " + id, At: at, ExpiresAt: at.Add(time.Hour)}
	}
	if _, err := s.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) {
		t.Fatalf("RiskProposal of an empty store = %v, want ErrNotFound", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "a", now); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal with none pending = %v, want ErrNotFound", err)
	}
	a := prop("a", "user:ada", 0, now)
	if err := s.ProposeRisk(ctx, a); err != nil {
		t.Fatalf("ProposeRisk: %v", err)
	}
	if got, err := s.RiskProposal(ctx); err != nil || got.ID != "a" || got.Proposer != "user:ada" || got.Reason != "why a" ||
		string(got.Config) != string(a.Config) || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Fatalf("RiskProposal = %+v, %v; want %+v", got, err, a)
	}
	if err := s.ProposeRisk(ctx, prop("bb", "user:bob", 0, now.Add(time.Minute))); !errors.Is(err, central.ErrProposalPending) {
		t.Errorf("another proposer's ProposeRisk over a pending one = %v, want ErrProposalPending", err)
	}
	a2 := prop("aa", "user:ada", 0, now.Add(time.Minute))
	if err := s.ProposeRisk(ctx, a2); err != nil {
		t.Fatalf("the proposer replacing their own proposal: %v", err)
	}
	if err := s.DeleteRiskProposal(ctx, "a"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("DeleteRiskProposal of the replaced one = %v, want ErrNotFound", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "aa", a2.ExpiresAt); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal once expired = %v, want ErrNotFound", err)
	}
	// Someone else publishes meanwhile: the proposal is stale and stays.
	if _, err := s.PutRisk(ctx, json.RawMessage(`{"other":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "aa", now.Add(2*time.Minute)); !errors.Is(err, central.ErrRiskStale) {
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
	if err := s.ProposeRisk(ctx, b); err != nil {
		t.Fatalf("ProposeRisk over an expired proposal: %v", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "aa", now.Add(2*time.Minute)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal of a replaced id = %v, want ErrNotFound", err)
	}
	v, err := s.ConfirmRiskProposal(ctx, "bbb", b.At.Add(time.Minute))
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
	if err := s.ProposeRisk(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRiskProposal(ctx, "c"); err != nil {
		t.Errorf("DeleteRiskProposal: %v", err)
	}
	if _, err := s.RiskProposal(ctx); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("RiskProposal after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.ConfirmRiskProposal(ctx, "c", c.At); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("ConfirmRiskProposal after delete = %v, want ErrNotFound", err)
	}
}
