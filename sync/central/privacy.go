package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// IdentifierKind names a kind of personal identifier that submissions are
// indexed by (blind index: keyed hashes, never the value).
type IdentifierKind string

// Identifier kinds.
const (
	IdentNIK            IdentifierKind = "nik"
	IdentDocumentNumber IdentifierKind = "document_number"
	IdentName           IdentifierKind = "name"
)

// BlindIndex turns an identifier into the token stored submissions carry
// for it (Seal.Tokens); false when the value holds nothing to index. A
// Store that seals submissions (seal.Store) implements it, and central
// then searches and erases by NIK, document number and name.
type BlindIndex interface {
	Token(kind IdentifierKind, value string) ([]byte, bool)
}

// DefaultSweepEvery is how often Serve applies the retention policy.
const DefaultSweepEvery = time.Hour

// expireBatch is how many submissions one Expire call changes, so no
// transaction grows with the backlog.
const expireBatch = 500

// Audit actions.
const (
	AuditErasure         = "erasure"
	AuditSweep           = "retention_sweep"
	AuditSearch          = "search"
	AuditRetentionUpdate = "retention_update"
	// AuditRetentionHeld: what retention holds back of a case changed
	// (Eraser.HoldRetention): the kinds before and after, none after
	// when it was let go.
	AuditRetentionHeld = "retention_held"
)

// privacy is the retention sweep, erasure and search: its admin routes,
// its counters, and the sweep Serve runs.
type privacy struct {
	s     *Server
	index BlindIndex // nil: no search or erasure by person
	// sweepMu keeps one sweep at a time in this instance (the scheduled
	// one and one asked for through the API).
	sweepMu sync.Mutex

	expired  *prometheus.CounterVec // by kind
	held     *prometheus.GaugeVec   // by kind, at the last sweep
	sweeps   *prometheus.CounterVec // by result
	erasures prometheus.Counter
	erased   prometheus.Counter
}

// newPrivacy registers the privacy admin routes and counters.
func (s *Server) newPrivacy() *privacy {
	p := &privacy{
		s: s,
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_retention_expired_total",
			Help: "Submissions whose images, fields or whole record the retention sweep removed, by kind.",
		}, []string{"kind"}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kyc_central_retention_held",
			Help: "Submissions the last retention sweep held back past their period (a review waiting for a second user, a live claim), by kind.",
		}, []string{"kind"}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_retention_sweeps_total",
			Help: "Retention sweeps run, by result (ok, error).",
		}, []string{"result"}),
		erasures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kyc_central_erasures_total",
			Help: "Erasure requests carried out (dry runs aside).",
		}),
		erased: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kyc_central_erased_submissions_total",
			Help: "Submissions deleted, with their data keys, by erasure requests.",
		}),
	}
	p.index, _ = s.cfg.Store.(BlindIndex)
	s.Registerer().MustRegister(p.expired, p.held, p.sweeps, p.erasures, p.erased)
	if s.cfg.AdminToken != "" {
		a := s.adminRoute
		a("POST "+adminPrefix+"/erasures", p.erase)
		a("GET "+adminPrefix+"/erasures/{id}", p.erasureStatus)
		a("GET "+adminPrefix+"/audit", p.audit)
		a("GET "+adminPrefix+"/submissions/search", p.search)
		a("POST "+adminPrefix+"/submissions/search", p.search)
		a("GET "+adminPrefix+"/retention", p.getRetention)
		a("PUT "+adminPrefix+"/retention", p.putRetention)
		a("POST "+adminPrefix+"/retention/sweep", p.sweepNow)
	}
	return p
}

// startSweeps runs the retention sweep, then an audit checkpoint, every
// interval (and once at start, once after is closed: the start's audit
// verification) until ctx ends or the returned stop is called; stop waits
// for the goroutine to end.
func (p *privacy) startSweeps(ctx context.Context, interval time.Duration, after <-chan struct{}) (stop func()) {
	return every(ctx, interval, after, func(ctx context.Context) {
		if _, err := p.Sweep(ctx); err != nil && ctx.Err() == nil {
			p.s.log.LogAttrs(ctx, slog.LevelError, "retention sweep failed", slog.String("cause", err.Error()))
		}
		if err := p.s.CheckpointAudit(ctx); err != nil && !errors.Is(err, ErrNothingToSeal) && ctx.Err() == nil {
			p.s.log.LogAttrs(ctx, slog.LevelError, "audit checkpoint failed", slog.String("cause", err.Error()))
		}
	})
}

// SweepResult counts what one sweep removed, by kind of data, and what it
// held back: submissions due whose review holds them
// (Review.HoldsRetention: waiting for a second user, or a live claim).
type SweepResult struct {
	At     time.Time        `json:"at"`
	Policy RetentionPolicy  `json:"policy"`
	Counts map[DataKind]int `json:"counts"`
	Held   map[DataKind]int `json:"held,omitempty"`
}

// Sweep applies the retention policy once, at the server's clock: images,
// extracted fields and whole submissions older than their periods go,
// webhook events (with their attempts) and partner sessions older than
// theirs, and audit events and ended erasures' records older than theirs.
// A submission whose review waits for a second user, or that a reviewer
// claimed less than ClaimLease ago, keeps its images, fields and decision
// until it is confirmed or declined or the claim ends, counted as held
// back. A sweep that removed anything, or changed what it holds
// back, leaves an audit event with the total removed and, as held_<kind>,
// all it holds back; each case held anew, held for other kinds or let go
// leaves its own (AuditRetentionHeld). A sweep that changed nothing leaves
// none: the last event's numbers still hold.
func (s *Server) Sweep(ctx context.Context) (SweepResult, error) { return s.privacy.Sweep(ctx) }

// Sweep implements Server.Sweep.
func (p *privacy) Sweep(ctx context.Context) (SweepResult, error) {
	p.sweepMu.Lock()
	defer p.sweepMu.Unlock()
	now := p.s.cfg.Now().UTC()
	res := SweepResult{At: now, Counts: map[DataKind]int{}, Held: map[DataKind]int{}}
	changed, err := p.sweep(ctx, &res)
	total := 0
	// After holds the counts by kind, for the console's retention view,
	// and those held back as "held_<kind>".
	counts := map[string]int{}
	for kind, n := range res.Counts {
		p.expired.WithLabelValues(string(kind)).Add(float64(n))
		total += n
		counts[string(kind)] = n
	}
	for kind, n := range res.Held {
		counts["held_"+string(kind)] = n
	}
	if err == nil {
		for _, kind := range HeldKinds {
			p.held.WithLabelValues(string(kind)).Set(float64(res.Held[kind]))
		}
	}
	if total > 0 || changed > 0 {
		after, _ := json.Marshal(counts)
		aerr := p.s.cfg.Store.AppendAudit(ctx, AuditEvent{ID: httpx.NewRequestID(), At: now, Actor: "retention", Action: AuditSweep, Count: total,
			Subject: "retention", After: after})
		err = errors.Join(err, aerr)
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	p.sweeps.WithLabelValues(result).Inc()
	if total > 0 || changed > 0 || err != nil {
		attrs := []slog.Attr{slog.Time("at", now), slog.Any("counts", res.Counts), slog.Any("held", res.Held)}
		if err != nil {
			attrs = append(attrs, slog.String("cause", err.Error()))
		}
		p.s.log.LogAttrs(ctx, slog.LevelInfo, "retention sweep", attrs...)
	}
	return res, err
}

// sweep applies the policy into res and returns how many cases' held
// kinds changed.
func (p *privacy) sweep(ctx context.Context, res *SweepResult) (int, error) {
	st := p.s.cfg.Store
	pol, err := st.Retention(ctx)
	if err != nil {
		return 0, fmt.Errorf("sweeping: %w", err)
	}
	res.Policy = pol
	days := func(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
	// What is held back is recorded first, so a case decided since the
	// last sweep is let go in the trail before Expire takes it.
	due := map[DataKind]time.Time{}
	for _, kind := range HeldKinds {
		if d := pol.Days(kind); d != 0 {
			due[kind] = res.At.Add(-days(d))
		}
	}
	held, changed, err := st.HoldRetention(ctx, due, res.At, heldEvent(res.At))
	if err != nil {
		return 0, fmt.Errorf("sweeping: %w", err)
	}
	for kind, n := range held {
		if n > 0 {
			res.Held[kind] = n
		}
	}
	for _, kind := range []DataKind{ExpireImages, ExpireFields, ExpireDecision, ExpireWebhooks, ExpireFlows, ExpireErasures} {
		d := pol.Days(kind)
		if d == 0 {
			continue
		}
		before := res.At.Add(-days(d))
		for {
			n, err := st.Expire(ctx, kind, before, res.At, expireBatch)
			res.Counts[kind] += n
			if err != nil {
				return changed, fmt.Errorf("sweeping %s: %w", kind, err)
			}
			if n < expireBatch {
				break
			}
		}
	}
	// The tombstones of erased submissions (on request or by retention)
	// last as long as a device could resend one and have it accepted:
	// checkAttestation takes an attestation until MaxAttestationAge after
	// the later of its report's time and its challenge's issue (its
	// madeAfter, Submission.AttestedAt), and that is at most MaxSkew
	// after its receipt unless the report was dated ahead and a recent
	// challenge got it taken: so each tombstone ages from the later of
	// receipt and AttestedAt (TombstoneFrom), and a resend later than
	// this after that is refused as too old. Not policy: not counted
	// among what retention removed.
	for before := res.At.Add(-(p.s.cfg.MaxAttestationAge + p.s.cfg.MaxSkew)); ; {
		n, err := st.Expire(ctx, ExpireErased, before, res.At, expireBatch)
		if err != nil {
			return changed, fmt.Errorf("sweeping the tombstones of erased submissions: %w", err)
		}
		if n < expireBatch {
			break
		}
	}
	if pol.AuditDays > 0 {
		// A policy an earlier release stored may be shorter than the floor
		// the API now keeps: the sweep keeps it too.
		n, err := st.DeleteAuditBefore(ctx, res.At.Add(-days(max(pol.AuditDays, MinAuditDays))))
		res.Counts[ExpireAudit] += n
		if err != nil {
			return changed, fmt.Errorf("sweeping the audit trail: %w", err)
		}
	}
	return changed, nil
}

// heldEvent is the audit event, at at, of a change of what retention
// holds back of a case: the kinds before (none: not held) and after
// (none: let go).
func heldEvent(at time.Time) func(HeldChange) AuditEvent {
	return func(ch HeldChange) AuditEvent {
		ev := AuditEvent{ID: httpx.NewRequestID(), At: at, Actor: "retention", Action: AuditRetentionHeld,
			Subject: "case:" + ch.Ref.DeviceID + "/" + ch.Ref.Key, Count: len(ch.After)}
		if len(ch.Before) > 0 {
			ev.Before, _ = json.Marshal(ch.Before)
		}
		ev.After, _ = json.Marshal(append([]DataKind{}, ch.After...))
		return ev
	}
}

// ErasureRequest names whose submissions to erase: a person by one or
// more identifiers (all must match), or one submission by its device and
// id. DryRun counts without erasing.
type ErasureRequest struct {
	NIK            string `json:"nik,omitempty"`
	DocumentNumber string `json:"document_number,omitempty"`
	Name           string `json:"name,omitempty"`
	DeviceID       string `json:"device_id,omitempty"`
	SubmissionID   string `json:"submission_id,omitempty"`
	DryRun         bool   `json:"dry_run,omitempty"`
}

// maxErasureBody bounds an erasure request.
const maxErasureBody = 16 << 10

// tokens turns the identifiers of a request into blind-index tokens.
func (p *privacy) tokens(ids map[IdentifierKind]string) ([][]byte, error) {
	var out [][]byte
	for _, kind := range []IdentifierKind{IdentNIK, IdentDocumentNumber, IdentName} {
		v := ids[kind]
		if v == "" {
			continue
		}
		if p.index == nil {
			return nil, httpx.Errorf(http.StatusNotImplemented, "no_index", "this central stores submissions without encryption and keeps no index to search by %s", kind)
		}
		t, ok := p.index.Token(kind, v)
		if !ok {
			return nil, httpx.Errorf(http.StatusBadRequest, "malformed", "the %s holds nothing to search by", kind)
		}
		out = append(out, t)
	}
	return out, nil
}

// SearchRequest is the body of POST /admin/v1/submissions/search: the
// identifiers (every one given must match) and at most how many to list.
type SearchRequest struct {
	NIK            string `json:"nik,omitempty"`
	DocumentNumber string `json:"document_number,omitempty"`
	Name           string `json:"name,omitempty"`
	Limit          int    `json:"limit,omitempty"`
}

// urlIdentifiers are the query parameters a GET search refuses: a
// person's identifiers (those the POST takes, and a date of birth, which
// it does not), which a URL would leave in proxies' and load balancers'
// access logs, browsers' histories and shell histories (OWASP ASVS 4.0
// V8.3.1).
var urlIdentifiers = []string{"nik", "document_number", "name", "date_of_birth"}

// searchRequest reads a search from a POST's JSON body. A GET carries
// only limit: one with a person's identifier in its query is refused
// (identifier_in_url) before anything is searched or recorded, pointing to
// the POST.
func searchRequest(w http.ResponseWriter, r *http.Request) (SearchRequest, error) {
	var req SearchRequest
	if r.Method == http.MethodPost {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxErasureBody))
		dec.DisallowUnknownFields()
		err := decodeOne(dec, &req)
		if err == nil && req.Limit < 0 {
			err = errors.New("negative limit")
		}
		if err != nil {
			return req, badBody(err, "the search must be a JSON object with nik, document_number or name, and a positive limit")
		}
		return req, nil
	}
	q := r.URL.Query()
	for _, name := range urlIdentifiers {
		if q.Has(name) {
			return req, httpx.Errorf(http.StatusBadRequest, "identifier_in_url",
				"a person's identifiers (%s) are not taken in the URL, which access logs and histories keep: send them as a JSON body to POST %s/submissions/search", name, adminPrefix)
		}
	}
	if v := q.Get("limit"); v != "" {
		var err error
		if req.Limit, err = strconv.Atoi(v); err != nil || req.Limit <= 0 {
			return req, httpx.Errorf(http.StatusBadRequest, "malformed", "limit must be a positive integer")
		}
	}
	return req, nil
}

// search finds submissions by nik, document_number and name (every one
// given must match), through the blind index. The answer lists them
// without payloads or content keys.
func (p *privacy) search(w http.ResponseWriter, r *http.Request) error {
	req, err := searchRequest(w, r)
	if err != nil {
		return err
	}
	ids := map[IdentifierKind]string{IdentNIK: req.NIK, IdentDocumentNumber: req.DocumentNumber, IdentName: req.Name}
	tokens, err := p.tokens(ids)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "search by nik, document_number or name")
	}
	f := Filter{Tokens: tokens, Limit: req.Limit}
	subs, err := p.s.cfg.Store.Submissions(r.Context(), f)
	if err != nil {
		return fmt.Errorf("searching submissions: %w", err)
	}
	subs = withoutKeys(subs)
	var by []string
	for kind, v := range ids {
		if v != "" {
			by = append(by, string(kind))
		}
	}
	p.s.auditRead(r, "search_submissions", slog.Any("by", by), slog.Int("count", len(subs)))
	ev := AuditEvent{ID: httpx.RequestID(r.Context()), At: p.s.cfg.Now().UTC(), Actor: "admin:" + adminID(r.Context()), Action: AuditSearch, Count: len(subs)}
	if err := p.s.cfg.Store.AppendAudit(r.Context(), ev); err != nil {
		return fmt.Errorf("recording the search: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, subs)
	return nil
}

// audit lists the audit trail; query parameters after and before (RFC
// 3339), action and limit.
func (p *privacy) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	action, err := queryID(q, "action")
	if err != nil {
		return err
	}
	f := AuditFilter{Action: action}
	for name, dst := range map[string]*time.Time{"after": &f.After, "before": &f.Before} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return httpx.Errorf(http.StatusBadRequest, "malformed", "%s must be RFC 3339", name)
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return httpx.Errorf(http.StatusBadRequest, "malformed", "limit must be a positive integer")
		}
		f.Limit = n
	}
	evs, err := p.s.cfg.Store.Audit(r.Context(), f)
	if err != nil {
		return fmt.Errorf("reading the audit trail: %w", err)
	}
	writeList(w, evs)
	return nil
}

func (p *privacy) getRetention(w http.ResponseWriter, r *http.Request) error {
	pol, err := p.s.cfg.Store.Retention(r.Context())
	if err != nil {
		return fmt.Errorf("reading the retention policy: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, pol)
	return nil
}

// MinAuditDays is the shortest audit retention the admin API accepts
// (other than 0, forever). The trail holds who did what, never a person's
// data, so keeping it costs little; a stolen admin token could otherwise
// set a day and sweep away the record of its own use (OWASP ASVS V7, as
// PCI DSS keeps security logs a year).
const MinAuditDays = 365

func (p *privacy) putRetention(w http.ResponseWriter, r *http.Request) error {
	var pol RetentionPolicy
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxErasureBody))
	dec.DisallowUnknownFields()
	if err := decodeOne(dec, &pol); err != nil {
		return badBody(err, "the retention policy is a JSON object of images_days, fields_days, decision_days, audit_days, webhooks_days and flows_days")
	}
	if err := pol.Validate(); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "malformed", "%s", err.Error())
	}
	if pol.AuditDays != 0 && pol.AuditDays < MinAuditDays {
		return httpx.Errorf(http.StatusUnprocessableEntity, "audit_too_short",
			"audit_days must be 0 (keep forever) or at least %d: the trail is the record of what the holders of the admin token and the console's users did, which one of them must not be able to sweep away", MinAuditDays)
	}
	// The trail says who decided, confirmed or overrode a decision: it
	// must outlive the decision it explains. 0 keeps either forever.
	if pol.AuditDays != 0 && (pol.DecisionDays == 0 || pol.AuditDays < pol.DecisionDays) {
		return httpx.Errorf(http.StatusUnprocessableEntity, "audit_shorter",
			"audit_days must be 0 (keep forever) or at least decision_days (and decision_days not 0, which keeps decisions forever): the audit trail of a decision must last as long as the decision")
	}
	// The trail keeps the policy before and after: a shortened audit_days
	// deletes the trail's own past at the next sweep, and an auditor must
	// read from what to what, not only that it changed.
	old, err := p.s.cfg.Store.Retention(r.Context())
	if err != nil {
		return fmt.Errorf("reading the retention policy: %w", err)
	}
	if err := p.s.cfg.Store.PutRetention(r.Context(), pol); err != nil {
		return fmt.Errorf("recording the retention policy: %w", err)
	}
	if err := p.s.audit(r.Context(), "admin:"+adminID(r.Context()), AuditRetentionUpdate, "retention", old, pol); err != nil {
		return err
	}
	p.s.log.LogAttrs(r.Context(), slog.LevelInfo, "retention policy updated",
		slog.String("request_id", httpx.RequestID(r.Context())), slog.String("admin", adminID(r.Context())), slog.Any("policy", pol))
	httpx.WriteJSON(w, http.StatusOK, pol)
	return nil
}

// sweepNow runs a sweep at once and answers what it removed.
func (p *privacy) sweepNow(w http.ResponseWriter, r *http.Request) error {
	res, err := p.Sweep(r.Context())
	if err != nil {
		return fmt.Errorf("sweeping: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}
