package central

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Replacing a published watchlist is four eyes, as risk settings are
// (riskproposal.go): a publish over a list name devices already screen
// against stores the upload as that name's pending proposal, and devices
// keep the published version until another console admin confirms it (it
// is then published as the next version) or declines it. One proposal is
// pending per name, and it expires as a risk proposal does. The first
// version of a new name is published at once: a list added can only
// cause more hits, never clear a person a list in use would stop; the
// store publishes it only while the name has no version (CreateWatchlist),
// so of two uploads racing to create a name one is published and the
// other answered 409 watchlist_stale, never published over it unseen by
// a second admin. A proposal names a person, as a risk proposal does
// (proposer); the first version of a name may come from the admin token
// alone.

// Audit actions of watchlist proposals.
const (
	AuditWatchlistProposed  = "watchlist_proposed"
	AuditWatchlistConfirmed = "watchlist_confirmed"
	AuditWatchlistDeclined  = "watchlist_declined"
)

// ErrWatchlistStale means the published watchlist is no longer the
// version a proposal was based on, or, for the first version of a name,
// that another upload published one first.
var ErrWatchlistStale = errors.New("central: the watchlist changed since the proposal")

// WatchlistProposal is a new version of watchlist Name waiting for a
// second admin; its bytes are in the store.
type WatchlistProposal struct {
	Proposal
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
}

// WatchlistProposals keeps the pending watchlist proposals, one per name.
// Each change appends its audit event in its own transaction.
type WatchlistProposals interface {
	// ProposeWatchlist stores the list read from r (which the caller
	// bounds) as the pending proposal p of p.Name, without holding it
	// whole, and the event that event makes of it once its Size and
	// SHA256 are known; it returns p with them. It replaces one pending
	// for the name only when that one has p.Proposer or expired at p.At;
	// otherwise ErrProposalPending and nothing changes.
	ProposeWatchlist(ctx context.Context, p WatchlistProposal, r io.Reader, event func(WatchlistProposal) (AuditEvent, error)) (WatchlistProposal, error)
	// WatchlistProposals returns the pending proposals, expired or not.
	WatchlistProposals(ctx context.Context) ([]WatchlistProposal, error)
	// ConfirmWatchlistProposal publishes proposal id of name as the
	// list's next version (its Base + 1) and removes the proposal, with
	// ev, in one transaction. ErrNotFound when id is not pending or
	// expired at now; ErrWatchlistStale, keeping the proposal, when the
	// published version is not its Base.
	ConfirmWatchlistProposal(ctx context.Context, name, id string, now time.Time, ev AuditEvent) (protocol.Watchlist, error)
	// DeleteWatchlistProposal removes proposal id of name and its bytes,
	// and appends ev; ErrNotFound when it is not pending.
	DeleteWatchlistProposal(ctx context.Context, name, id string, ev AuditEvent) error
	// CreateWatchlist publishes the list read from r (which the caller
	// bounds) as version 1 of name, without holding it whole, with the
	// event that event makes of it, only if no version of name is
	// published when it commits: otherwise ErrWatchlistStale and nothing
	// is kept, so of two uploads racing to create a name one publishes
	// it. A name found published before r is read leaves r unread.
	CreateWatchlist(ctx context.Context, name string, r io.Reader, event func(protocol.Watchlist) (AuditEvent, error)) (protocol.Watchlist, error)
}

// watchlistProposalState is what the audit trail keeps of a proposal.
type watchlistProposalState struct {
	proposalState
	watchlistState
}

func newWatchlistProposalState(p WatchlistProposal) watchlistProposalState {
	return watchlistProposalState{newProposalHead(p.Proposal), watchlistState{Version: p.Base + 1, Size: p.Size, SHA256: p.SHA256}}
}

// PublishWatchlist takes a new version of the watchlist name from actor,
// read from r (which the caller bounds to protocol.MaxWatchlistSize)
// without holding it whole. The first version of a name is published at
// once (prop is nil; 409 watchlist_stale when another upload published
// the name first); a later one becomes the name's pending proposal, with
// reason, of the person proposer names (403 admin_token_unowned), which
// another admin confirms (409 watchlist_proposal_pending while another
// proposer's is pending). Devices install a published version at their
// next sync; the console publishes lists in the format their screening
// store reads (NAME.list.json.gz).
func (s *Server) PublishWatchlist(ctx context.Context, actor, name, reason string, r io.Reader) (wl protocol.Watchlist, prop *WatchlistProposal, err error) {
	if !protocol.ValidName(name) {
		return protocol.Watchlist{}, nil, httpx.Errorf(http.StatusBadRequest, "malformed", "watchlist names are 1-64 letters, digits, '-', '_' or '.'")
	}
	if err := checkReason(reason); err != nil {
		return protocol.Watchlist{}, nil, err
	}
	cur, ok, err := s.publishedWatchlist(ctx, name)
	if err != nil {
		return protocol.Watchlist{}, nil, err
	}
	if !ok {
		wl, err := s.publishNewWatchlist(ctx, actor, name, r)
		return wl, nil, err
	}
	by, via, err := s.proposer(ctx, actor)
	if err != nil {
		return protocol.Watchlist{}, nil, err
	}
	p := WatchlistProposal{Proposal: s.newProposal(by, reason, cur.Version), Name: name}
	before := watchlistState{Version: cur.Version, Size: cur.Size, SHA256: cur.SHA256}
	p, err = s.cfg.Store.ProposeWatchlist(ctx, p, r, func(p WatchlistProposal) (AuditEvent, error) {
		after := newWatchlistProposalState(p)
		after.Via = via
		return s.auditEvent(ctx, by, AuditWatchlistProposed, "watchlist:"+name, before, after)
	})
	if errors.Is(err, ErrProposalPending) {
		return protocol.Watchlist{}, nil, httpx.Errorf(http.StatusConflict, "watchlist_proposal_pending", "another proposal of this watchlist waits for a second admin: confirm or decline it first")
	}
	if err != nil {
		return protocol.Watchlist{}, nil, fmt.Errorf("recording the proposal of watchlist %q: %w", name, err)
	}
	return cur, &p, nil
}

// publishedWatchlist is the published version of name; ok is false when
// there is none.
func (s *Server) publishedWatchlist(ctx context.Context, name string) (wl protocol.Watchlist, ok bool, err error) {
	wls, err := s.cfg.Store.Watchlists(ctx)
	if err != nil {
		return protocol.Watchlist{}, false, fmt.Errorf("listing watchlists: %w", err)
	}
	for _, w := range wls {
		if w.Name == name {
			return w, true, nil
		}
	}
	return protocol.Watchlist{}, false, nil
}

// publishNewWatchlist publishes the first version of name, with its
// event: 409 watchlist_stale when another upload published one first.
func (s *Server) publishNewWatchlist(ctx context.Context, actor, name string, r io.Reader) (protocol.Watchlist, error) {
	wl, err := s.cfg.Store.CreateWatchlist(ctx, name, r, func(wl protocol.Watchlist) (AuditEvent, error) {
		return s.auditEvent(ctx, actor, AuditWatchlistPublish, "watchlist:"+name, nil, watchlistState{Version: wl.Version, Size: wl.Size, SHA256: wl.SHA256})
	})
	if errors.Is(err, ErrWatchlistStale) {
		return protocol.Watchlist{}, httpx.Errorf(http.StatusConflict, "watchlist_stale",
			"another upload published watchlist %q meanwhile: send this one again to propose it as the next version, which another admin confirms", name)
	}
	if err != nil {
		return protocol.Watchlist{}, fmt.Errorf("publishing watchlist %q: %w", name, err)
	}
	s.logWatchlist(ctx, actor, "", wl)
	return wl, nil
}

func (s *Server) logWatchlist(ctx context.Context, actor, proposer string, wl protocol.Watchlist) {
	attrs := []slog.Attr{slog.String("request_id", httpx.RequestID(ctx)), slog.String("actor", actor),
		slog.String("watchlist", wl.Name), slog.Int64("version", wl.Version), slog.Int64("size", wl.Size)}
	if proposer != "" {
		attrs = append(attrs, slog.String("proposer", proposer))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "watchlist published", attrs...)
}

// PendingWatchlists returns the pending, unexpired watchlist proposals by
// name.
func (s *Server) PendingWatchlists(ctx context.Context) (map[string]WatchlistProposal, error) {
	ps, err := s.cfg.Store.WatchlistProposals(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the watchlist proposals: %w", err)
	}
	now := s.cfg.Now()
	out := make(map[string]WatchlistProposal, len(ps))
	for _, p := range ps {
		if !p.Expired(now) {
			out[p.Name] = p
		}
	}
	return out, nil
}

// pendingWatchlist is proposal id of name if it is pending and actor may
// confirm or decline it: 404 no_proposal, 403 four_eyes for its proposer.
func (s *Server) pendingWatchlist(ctx context.Context, actor, name, id string) (WatchlistProposal, error) {
	ps, err := s.PendingWatchlists(ctx)
	if err != nil {
		return WatchlistProposal{}, err
	}
	p, ok := ps[name]
	if err := secondPerson(p.Proposal, ok, actor, id, "watchlist"); err != nil {
		return WatchlistProposal{}, err
	}
	return p, nil
}

// ConfirmWatchlist publishes the pending proposal id of name as actor,
// its second person: 409 watchlist_stale, keeping the proposal, when
// another publish moved the version since it was proposed.
func (s *Server) ConfirmWatchlist(ctx context.Context, actor, name, id string) (protocol.Watchlist, error) {
	p, err := s.pendingWatchlist(ctx, actor, name, id)
	if err != nil {
		return protocol.Watchlist{}, err
	}
	if err := attributed(p.Proposal, "watchlist"); err != nil {
		return protocol.Watchlist{}, err
	}
	cur, _, err := s.publishedWatchlist(ctx, name)
	if err != nil {
		return protocol.Watchlist{}, err
	}
	// The store publishes p.Base+1 or nothing, so the event can name the
	// version before the transaction.
	after := struct {
		watchlistState
		Proposal proposalState `json:"proposal"`
	}{watchlistState{Version: p.Base + 1, Size: p.Size, SHA256: p.SHA256}, newProposalHead(p.Proposal)}
	ev, err := s.auditEvent(ctx, actor, AuditWatchlistConfirmed, "watchlist:"+name,
		watchlistState{Version: cur.Version, Size: cur.Size, SHA256: cur.SHA256}, after)
	if err != nil {
		return protocol.Watchlist{}, err
	}
	wl, err := s.cfg.Store.ConfirmWatchlistProposal(ctx, name, id, s.cfg.Now(), ev)
	switch {
	case errors.Is(err, ErrWatchlistStale):
		return protocol.Watchlist{}, httpx.Errorf(http.StatusConflict, "watchlist_stale", "the watchlist changed since the proposal: decline it and propose again")
	case errors.Is(err, ErrNotFound):
		return protocol.Watchlist{}, httpx.Errorf(http.StatusNotFound, "no_proposal", "no such watchlist proposal is pending")
	case err != nil:
		return protocol.Watchlist{}, fmt.Errorf("publishing the proposal of watchlist %q: %w", name, err)
	}
	s.logWatchlist(ctx, actor, p.Proposer, wl)
	return wl, nil
}

// DeclineWatchlist drops the pending proposal id of name as actor, with a
// reason; the published version stays.
func (s *Server) DeclineWatchlist(ctx context.Context, actor, name, id, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	p, err := s.pendingWatchlist(ctx, actor, name, id)
	if err != nil {
		return err
	}
	ev, err := s.auditEvent(ctx, actor, AuditWatchlistDeclined, "watchlist:"+name, newWatchlistProposalState(p), struct {
		Reason string `json:"reason,omitempty"`
	}{reason})
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteWatchlistProposal(ctx, name, id, ev); errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "no_proposal", "no such watchlist proposal is pending")
	} else if err != nil {
		return fmt.Errorf("declining the proposal of watchlist %q: %w", name, err)
	}
	return nil
}
