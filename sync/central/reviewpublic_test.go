package central_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestReviewPublic: devices and partners see a final decision (with its
// hits' verdicts, without notes or names) and nothing of one waiting for
// a second user: a decision in second review shows its state only, a
// proposed override of the engine's decision shows the case open, and a
// proposed override of an overridden case shows the decision it would
// replace (Standing), not the proposal.
func TestReviewPublic(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	cleared := []central.HitResolution{{Index: 0, Status: central.HitFalsePositive, Note: "alice: another DOB", By: "alice", At: at}}
	standing := &central.Standing{Assignee: "carol", Outcome: central.OutcomeReject, Reason: "spoof", DecidedBy: "carol", DecidedAt: at, SecondBy: "dave"}
	for _, tc := range []struct {
		name string
		rv   central.Review
		want central.Review
	}{
		{"untouched", central.Review{}, central.Review{State: central.ReviewOpen}},
		{"claimed, a hit cleared", central.Review{State: central.ReviewClaimed, Assignee: "alice", Hits: cleared},
			central.Review{State: central.ReviewClaimed}},
		{"an approval in second review", central.Review{State: central.ReviewSecond, Assignee: "alice", Outcome: central.OutcomeApprove,
			DecidedBy: "alice", DecidedAt: at, Hits: cleared}, central.Review{State: central.ReviewSecond}},
		{"decided", central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove, Note: "alice: fine", DecidedBy: "alice",
			DecidedAt: at, SecondBy: "bob", Hits: cleared},
			central.Review{State: central.ReviewDecided, Outcome: central.OutcomeApprove, DecidedAt: at,
				Hits: []central.HitResolution{{Index: 0, Status: central.HitFalsePositive}}}},
		{"an override of the engine proposed", central.Review{State: central.ReviewOverride, Assignee: "alice", Outcome: central.OutcomeReject,
			Reason: "spoof", DecidedBy: "alice", DecidedAt: at, ProposedHits: cleared}, central.Review{State: central.ReviewOpen}},
		{"an override of an override proposed", central.Review{State: central.ReviewOverride, Assignee: "alice", Outcome: central.OutcomeApprove,
			DecidedBy: "alice", DecidedAt: at.Add(time.Hour), ProposedHits: cleared, Standing: standing},
			central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject, Reason: "spoof", DecidedAt: at}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rv.Version, tc.rv.Seq = 4, 9
			tc.want.Version, tc.want.Seq = 4, 9
			got, _ := json.Marshal(tc.rv.Public())
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Errorf("Public() = %s\nwant       %s", got, want)
			}
			if tc.rv.Shared() != tc.want.State {
				t.Errorf("Shared() = %s, want %s", tc.rv.Shared(), tc.want.State)
			}
		})
	}
}
