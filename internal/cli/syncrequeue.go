package cli

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/vault"
)

// rejectedItem is one rejected submission as `kyc sync requeue --list`
// shows it.
type rejectedItem struct {
	ID       string    `json:"id"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	Since    time.Time `json:"since"`
}

type requeueResult struct {
	Requeued int            `json:"requeued"`
	IDs      []string       `json:"ids,omitempty"`
	Rejected []rejectedItem `json:"rejected,omitempty"` // --list
}

// runSyncRequeue is `kyc sync requeue (--all | ID... | --list)`: it puts
// submissions central rejected back in the outbox (the operator's answer
// once the cause is fixed), or lists them. The next `kyc sync` (or the
// app's loop) sends them.
func runSyncRequeue(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "sync requeue")
	all := fs.Bool("all", false, "re-queue every rejected submission")
	list := fs.Bool("list", false, "list the rejected submissions and why, without re-queuing")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	vaultPath := fs.String("vault", "", "vault file (default DIR/"+vaultFile+")")
	keyFile := fs.String("vault-key-file", "", "vault key file ($"+envVaultKeyFile+"); else $"+envVaultPassphrase)
	actor := fs.String("actor", "", "who re-queues, for the vault's audit log (default: $USER)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	ids := fs.Args()
	switch {
	case *list && (*all || len(ids) > 0):
		return nil, Errorf(ExitUsage, "usage", "sync requeue: --list takes no ids and no --all")
	case !*list && *all == (len(ids) > 0):
		return nil, Errorf(ExitUsage, "usage", "sync requeue needs --all or submission ids (or --list to see them)")
	}
	if *actor == "" {
		*actor = "operator " + envUser()
	}
	v, err := openDeviceVault(ctx, *dir, *vaultPath, *keyFile, env.Stderr)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if *list {
		entries, err := v.Outbox(ctx)
		if err != nil {
			return nil, codedErr(ExitInternal, "vault", err)
		}
		var res requeueResult
		for _, e := range entries {
			if e.State == vault.StateRejected {
				res.Rejected = append(res.Rejected, rejectedItem{ID: e.SubmissionID, Reason: e.Reason, Attempts: e.Attempts, Since: e.UpdatedAt})
			}
		}
		slices.SortFunc(res.Rejected, func(a, b rejectedItem) int { return a.Since.Compare(b.Since) })
		return res, nil
	}
	var res requeueResult
	if *all {
		before, err := v.Outbox(ctx)
		if err != nil {
			return nil, codedErr(ExitInternal, "vault", err)
		}
		if res.Requeued, err = agent.Requeue(ctx, v, *actor); err != nil {
			return nil, codedErr(ExitInternal, "vault", err)
		}
		for _, e := range before {
			if e.State == vault.StateRejected {
				res.IDs = append(res.IDs, e.SubmissionID)
			}
		}
		slices.Sort(res.IDs)
		return res, nil
	}
	n, err := agent.Requeue(ctx, v, *actor, ids...)
	res.Requeued, res.IDs = n, ids[:n]
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return res, Errorf(ExitInput, "not_found", "%s: no such submission in the vault (%d re-queued before it)", ids[n], n)
	case errors.Is(err, vault.ErrInvalidTransition):
		return res, Errorf(ExitInput, "not_rejected", "%s is not rejected, nothing to re-queue (%d re-queued before it): %v", ids[n], n, err)
	case err != nil:
		return res, codedErr(ExitInternal, "vault", err)
	}
	return res, nil
}

func envUser() string {
	for _, k := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if u := strings.TrimSpace(os.Getenv(k)); u != "" {
			return u
		}
	}
	return "(unknown)"
}
