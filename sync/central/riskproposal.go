package central

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Risk settings are published four eyes, as an override of a case is: one
// person (a console admin, or the holder of the admin API's token)
// proposes a whole settings document against the version it was read at,
// which changes nothing devices get; another console admin confirms it,
// and only then is it published (if the published version is still the
// proposal's base), or declines it. One proposal is pending at a time: a
// new one replaces it only when made by the same proposer or once it has
// expired; anyone else declines it first, which leaves a trace.
//
// Both acts name a person, a console account: the four-eyes check
// compares them, so a credential that names nobody would let one person
// be both. The admin token is such a credential: its proposal is that of
// Config.AdminTokenOwner, the admin who holds it, and without one the
// token cannot propose (proposer).

// Audit actions of risk proposals.
const (
	AuditRiskProposed  = "risk_proposed"
	AuditRiskConfirmed = "risk_confirmed"
	AuditRiskDeclined  = "risk_declined"
)

// DefaultRiskProposalTTL is how long a risk proposal waits for its second
// admin when Config.RiskProposalTTL is zero.
const DefaultRiskProposalTTL = 7 * 24 * time.Hour

// maxProposalReason bounds a proposal's or a decline's reason, in
// characters (as the console bounds a note).
const maxProposalReason = 2000

// Risk proposal errors of the store.
var (
	// ErrProposalPending means another proposer's proposal (of the risk
	// configuration, or of the same watchlist) is pending and unexpired.
	ErrProposalPending = errors.New("central: another proposal is pending")
	// ErrRiskStale means the published risk configuration is no longer
	// the version a proposal was based on.
	ErrRiskStale = errors.New("central: the risk configuration changed since the proposal")
)

// Proposal is what every four-eyes proposal has: who proposed what, over
// which published version, until when.
type Proposal struct {
	ID string `json:"id"`
	// Base is the version published when it was proposed (0: none): it
	// is published only over that version.
	Base      int64     `json:"base_version"`
	Proposer  string    `json:"proposer"` // the person, "user:<name>"
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"proposed_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Expired reports whether p can no longer be confirmed at now.
func (p Proposal) Expired(now time.Time) bool { return !now.Before(p.ExpiresAt) }

// RiskProposal is a risk configuration waiting for a second admin.
type RiskProposal struct {
	Proposal
	// Config is the whole settings document, as it would be published.
	Config json.RawMessage `json:"config"`
}

// RiskProposals keeps the pending risk proposal. Each change appends its
// audit event ev in its own transaction (as UpdateReview does), so no
// change stands without its trace and no trace tells of a change that
// failed.
type RiskProposals interface {
	// ProposeRisk records p as the pending proposal, and ev. It replaces
	// one already pending only when that one has p.Proposer or expired at
	// p.At; otherwise ErrProposalPending and nothing changes.
	ProposeRisk(ctx context.Context, p RiskProposal, ev AuditEvent) error
	// RiskProposal returns the pending proposal, expired or not;
	// ErrNotFound when there is none.
	RiskProposal(ctx context.Context) (RiskProposal, error)
	// ConfirmRiskProposal publishes proposal id's Config as a new version
	// (its Base + 1) and removes the proposal, in one transaction with
	// ev, and returns the version. ErrNotFound when id is not pending or
	// expired at now; ErrRiskStale, keeping the proposal, when the
	// published version is not its Base.
	ConfirmRiskProposal(ctx context.Context, id string, now time.Time, ev AuditEvent) (int64, error)
	// DeleteRiskProposal removes proposal id, and appends ev; ErrNotFound
	// when it is not pending.
	DeleteRiskProposal(ctx context.Context, id string, ev AuditEvent) error
}

// riskProposalState is what the audit trail keeps of a proposal.
type riskProposalState struct {
	proposalState
	riskState
}

// proposalState is what the audit trail keeps of any proposal.
type proposalState struct {
	ID       string `json:"id"`
	Base     int64  `json:"base_version"`
	Proposer string `json:"proposer"`
	// Via is the admin credential a proposal came with, on its
	// proposer's behalf ("admin:<credential>"); "" from the console.
	Via       string    `json:"via,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func newProposalHead(p Proposal) proposalState {
	return proposalState{ID: p.ID, Base: p.Base, Proposer: p.Proposer, Reason: p.Reason, ExpiresAt: p.ExpiresAt}
}

func newProposalState(p RiskProposal) riskProposalState {
	return riskProposalState{newProposalHead(p.Proposal), newRiskState(0, p.Config)}
}

func (s *Server) riskProposalTTL() time.Duration {
	if s.cfg.RiskProposalTTL > 0 {
		return s.cfg.RiskProposalTTL
	}
	return DefaultRiskProposalTTL
}

// ProposeRisk records doc as the pending risk proposal of actor (a
// console account, or the admin token for its owner: see proposer),
// based on the version published now, with an optional reason: 409
// proposal_pending while another proposer's is pending.
func (s *Server) ProposeRisk(ctx context.Context, actor string, doc json.RawMessage, reason string) (RiskProposal, error) {
	by, via, err := s.proposer(ctx, actor)
	if err != nil {
		return RiskProposal{}, err
	}
	if !json.Valid(doc) {
		return RiskProposal{}, httpx.Errorf(http.StatusBadRequest, "malformed", "the risk configuration must be a JSON document")
	}
	if err := checkReason(reason); err != nil {
		return RiskProposal{}, err
	}
	// Devices apply a document only if the engine parses it, and keep
	// their previous one otherwise: a document they would refuse, once
	// confirmed, leaves the fleet on an older version than central names.
	if _, err := risk.ParseConfig(doc); err != nil {
		return RiskProposal{}, httpx.Errorf(http.StatusUnprocessableEntity, "invalid_risk_config",
			"devices would refuse this risk configuration: %s", riskProblems(err))
	}
	cur, ver, err := s.cfg.Store.Risk(ctx)
	if err != nil {
		return RiskProposal{}, fmt.Errorf("reading the risk configuration: %w", err)
	}
	p := RiskProposal{Proposal: s.newProposal(by, reason, ver), Config: doc}
	after := newProposalState(p)
	after.Via = via
	ev, err := s.auditEvent(ctx, by, AuditRiskProposed, "risk", newRiskState(ver, cur), after)
	if err != nil {
		return RiskProposal{}, err
	}
	if err := s.cfg.Store.ProposeRisk(ctx, p, ev); err != nil {
		if errors.Is(err, ErrProposalPending) {
			return RiskProposal{}, httpx.Errorf(http.StatusConflict, "proposal_pending", "another risk proposal waits for a second admin: confirm or decline it first")
		}
		return RiskProposal{}, fmt.Errorf("recording the risk proposal: %w", err)
	}
	return p, nil
}

// PendingRisk returns the pending, unexpired risk proposal; ok is false
// when there is none.
func (s *Server) PendingRisk(ctx context.Context) (p RiskProposal, ok bool, err error) {
	p, err = s.cfg.Store.RiskProposal(ctx)
	if errors.Is(err, ErrNotFound) {
		return RiskProposal{}, false, nil
	}
	if err != nil {
		return RiskProposal{}, false, fmt.Errorf("reading the risk proposal: %w", err)
	}
	if p.Expired(s.cfg.Now()) {
		return RiskProposal{}, false, nil
	}
	return p, true, nil
}

// pendingRisk is proposal id if it is pending and actor may confirm or
// decline it: 404 no_proposal, 403 four_eyes for its proposer.
func (s *Server) pendingRisk(ctx context.Context, actor, id string) (RiskProposal, error) {
	p, ok, err := s.PendingRisk(ctx)
	if err != nil {
		return RiskProposal{}, err
	}
	if err := secondPerson(p.Proposal, ok, actor, id, "risk configuration"); err != nil {
		return RiskProposal{}, err
	}
	return p, nil
}

// newProposal is a proposal of actor's over version base, made now and
// expiring after the proposal TTL.
func (s *Server) newProposal(actor, reason string, base int64) Proposal {
	now := s.cfg.Now().UTC()
	return Proposal{ID: rand.Text(), Base: base, Proposer: actor, Reason: reason, At: now, ExpiresAt: now.Add(s.riskProposalTTL())}
}

// proposer is the person, and the credential if any, of a proposal actor
// sends. A console account ("user:<name>") is its own. The admin token
// ("admin:<credential>") names no person, yet one who holds it and a
// console account could propose with it and confirm as themselves: its
// proposal is Config.AdminTokenOwner's, who must be an enabled console
// admin, and 403 admin_token_unowned without one.
func (s *Server) proposer(ctx context.Context, actor string) (by, via string, err error) {
	if isPerson(actor) {
		return actor, "", nil
	}
	if !strings.HasPrefix(actor, "admin:") {
		return "", "", fmt.Errorf("central: %q names no person and cannot propose", actor)
	}
	owner := s.cfg.AdminTokenOwner
	if owner == "" {
		return "", "", httpx.Errorf(http.StatusForbidden, "admin_token_unowned",
			"the admin token names no person, and a proposal must name one so that another admin confirms it: propose in the console, or name the console admin who holds the token in central's configuration (kyc-central serve --admin-token-owner)")
	}
	u, err := s.cfg.Store.User(ctx, owner)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", fmt.Errorf("reading the admin token's owner: %w", err)
	}
	if err != nil || u.Disabled || u.Role != RoleAdmin {
		return "", "", httpx.Errorf(http.StatusForbidden, "admin_token_unowned",
			"the admin token's owner %q is not an enabled console admin, and a proposal must name one: propose in the console, or name the admin who holds the token in central's configuration (kyc-central serve --admin-token-owner)", owner)
	}
	// The account's name as stored, which the console's actor is.
	return "user:" + u.Name, actor, nil
}

// RiskProposalVia is the admin credential p came with on its proposer's
// behalf ("admin:<credential>", proposer), as its audit event keeps it;
// "" when its proposer sent it from the console. The console shows it, so
// that the confirming admin knows the proposal came with the token.
func (s *Server) RiskProposalVia(ctx context.Context, p RiskProposal) (string, error) {
	return s.proposalVia(ctx, AuditRiskProposed, "risk", p.Proposal)
}

// WatchlistProposalVia is RiskProposalVia for a watchlist's proposal.
func (s *Server) WatchlistProposalVia(ctx context.Context, p WatchlistProposal) (string, error) {
	return s.proposalVia(ctx, AuditWatchlistProposed, "watchlist:"+p.Name, p.Proposal)
}

// proposalVia reads the Via of p's event (action on subject). The
// proposal itself does not keep it: its event, appended with it by
// central's clock at or after p.At, is the one of its proposer's events
// since then naming p's id.
func (s *Server) proposalVia(ctx context.Context, action, subject string, p Proposal) (string, error) {
	evs, err := s.cfg.Store.Audit(ctx, AuditFilter{After: p.At, Action: action, Actor: p.Proposer, Subject: subject})
	if err != nil {
		return "", fmt.Errorf("reading the event of proposal %s: %w", p.ID, err)
	}
	for _, ev := range evs {
		var st proposalState
		if json.Unmarshal(ev.After, &st) == nil && st.ID == p.ID {
			return st.Via, nil
		}
	}
	return "", nil
}

// isPerson reports whether actor is a console account, "user:<name>".
func isPerson(actor string) bool {
	name, ok := strings.CutPrefix(actor, "user:")
	return ok && name != ""
}

// checkReason bounds a proposal's or a decline's reason: 400 malformed.
func checkReason(reason string) error {
	if utf8.RuneCountInString(reason) > maxProposalReason || !StorableText(reason) {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "a reason is at most %d characters of UTF-8 text without NUL", maxProposalReason)
	}
	return nil
}

// secondPerson checks that actor may confirm or decline proposal id of a
// what, given p, the pending unexpired one (ok false: none): 404
// no_proposal when it is not id, 403 four_eyes for its proposer or an
// actor that is no person.
func secondPerson(p Proposal, ok bool, actor, id, what string) error {
	if !ok || p.ID != id {
		return httpx.Errorf(http.StatusNotFound, "no_proposal", "no such %s proposal is pending", what)
	}
	if p.Proposer == actor || !isPerson(actor) {
		return httpx.Errorf(http.StatusForbidden, "four_eyes", "the proposer of a %s cannot confirm or decline it, and a second admin is a console account", what)
	}
	return nil
}

// attributed checks that p, about to be confirmed, names its proposer:
// 403 unattributed_proposal for one the admin token made before its
// proposals named a person, of which nobody can tell whether the
// confirmer is its proposer. Any admin may still decline it.
func attributed(p Proposal, what string) error {
	if !isPerson(p.Proposer) {
		return httpx.Errorf(http.StatusForbidden, "unattributed_proposal",
			"this %s proposal names no person (%s), so a second admin cannot be told from its proposer: decline it and propose again", what, p.Proposer)
	}
	return nil
}

// ConfirmRisk publishes the pending proposal id as actor, its second
// person: 409 risk_stale, keeping the proposal, when another publish moved
// the version since it was proposed.
func (s *Server) ConfirmRisk(ctx context.Context, actor, id string) (int64, error) {
	p, err := s.pendingRisk(ctx, actor, id)
	if err != nil {
		return 0, err
	}
	if err := attributed(p.Proposal, "risk configuration"); err != nil {
		return 0, err
	}
	old, oldV, err := s.cfg.Store.Risk(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the risk configuration: %w", err)
	}
	// The store publishes p.Base+1 or nothing (ErrRiskStale), so the
	// event can name the version before the transaction.
	after := struct {
		riskState
		Proposal riskProposalState `json:"proposal"`
	}{newRiskState(p.Base+1, p.Config), newProposalState(p)}
	ev, err := s.auditEvent(ctx, actor, AuditRiskConfirmed, "risk", newRiskState(oldV, old), after)
	if err != nil {
		return 0, err
	}
	v, err := s.cfg.Store.ConfirmRiskProposal(ctx, id, s.cfg.Now(), ev)
	switch {
	case errors.Is(err, ErrRiskStale):
		return 0, httpx.Errorf(http.StatusConflict, "risk_stale", "the risk configuration changed since the proposal: decline it and propose again")
	case errors.Is(err, ErrNotFound):
		return 0, httpx.Errorf(http.StatusNotFound, "no_proposal", "no such risk proposal is pending")
	case err != nil:
		return 0, fmt.Errorf("publishing the risk proposal: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "risk configuration published",
		slog.String("request_id", httpx.RequestID(ctx)), slog.String("actor", actor), slog.String("proposer", p.Proposer), slog.Int64("version", v))
	return v, nil
}

// DeclineRisk drops the pending proposal id as actor, with a reason.
func (s *Server) DeclineRisk(ctx context.Context, actor, id, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	p, err := s.pendingRisk(ctx, actor, id)
	if err != nil {
		return err
	}
	ev, err := s.auditEvent(ctx, actor, AuditRiskDeclined, "risk", newProposalState(p), struct {
		Reason string `json:"reason,omitempty"`
	}{reason})
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteRiskProposal(ctx, id, ev); errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "no_proposal", "no such risk proposal is pending")
	} else if err != nil {
		return fmt.Errorf("declining the risk proposal: %w", err)
	}
	return nil
}

// riskProblems says what risk.ParseConfig found wrong, field by field, in
// the engine's words ("bands: approve_min 0 would approve every score"),
// decoding errors put the same way ("bands.approve_min: a string, want a
// number") rather than in Go's.
func riskProblems(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Sprintf("%s: %s %s, want %s", field, article(te.Value), te.Value, jsonKind(te.Type))
	}
	msg := strings.TrimPrefix(err.Error(), "decoding risk config: ")
	msg = strings.TrimPrefix(msg, risk.ErrInvalidConfig.Error()+": ")
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + name + ": devices of this version have no such setting"
	}
	return strings.TrimPrefix(msg, "json: ")
}

// article is the indefinite article before word ("an array").
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// jsonKind names the JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Bool:
		return "true or false"
	default:
		return "an object"
	}
}
