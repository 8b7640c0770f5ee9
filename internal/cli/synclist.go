package cli

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/openkyc/kyc/sync/vault"
)

// queuedItem is one submission as `kyc sync --list` shows it: where it
// stands in the outbox and, once central's reviewers took it up, their
// review as the last sync brought it.
type queuedItem struct {
	ID         string      `json:"id"`
	State      vault.State `json:"state"`
	Attempts   int         `json:"attempts"`
	Reason     string      `json:"reason,omitempty"`
	EnqueuedAt time.Time   `json:"enqueued_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	// Review is central's review (state, and once decided the outcome,
	// reason and time); absent until central sends one.
	Review *vault.Review `json:"review,omitempty"`
}

type queueListResult struct {
	Submissions []queuedItem `json:"submissions"`
}

// listQueue lists every submission the vault's outbox holds, newest first,
// as the app's queue shows them.
func listQueue(ctx context.Context, v *vault.Vault) (queueListResult, error) {
	entries, err := v.Outbox(ctx)
	if err != nil {
		return queueListResult{}, codedErr(ExitInternal, "vault", err)
	}
	res := queueListResult{Submissions: make([]queuedItem, 0, len(entries))}
	for _, e := range entries {
		res.Submissions = append(res.Submissions, queuedItem{ID: e.SubmissionID, State: e.State, Attempts: e.Attempts, Reason: e.Reason,
			EnqueuedAt: e.EnqueuedAt, UpdatedAt: e.UpdatedAt, Review: e.Review})
	}
	slices.SortFunc(res.Submissions, func(a, b queuedItem) int {
		if c := b.EnqueuedAt.Compare(a.EnqueuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return res, nil
}
