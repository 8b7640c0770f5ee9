package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// AuditVerify is the audit action of a chain verification from the console.
const AuditVerify = "audit_verify"

// auditPageSize is how many events one page of the audit view lists.
const auditPageSize = 100

// routeAudit registers the audit view and its chain verification. Both
// only read, so auditors may use them.
func (c *Console) routeAudit() {
	c.route("GET /console/audit", central.RoleAuditor, c.auditPage)
	c.route("POST /console/audit/verify", central.RoleAuditor, c.auditVerify)
}

type auditData struct {
	Events  []auditRow
	Q       url.Values
	Next    string
	Invalid bool
	Verify  *verifyResult
	// VerifyAt is when "Verify chain" may run again, zero when it may
	// now; VerifyRefused says this answer refused it (429).
	VerifyAt      time.Time
	VerifyRefused bool
	// refusedWait is, with VerifyRefused, how long the refusal said to
	// wait.
	refusedWait time.Duration
}

type auditRow struct {
	central.AuditEvent
	HashHex string
}

type verifyResult struct {
	OK     bool
	Count  int
	Seq    int64
	Reason string
	// Checkpoints checked, and the newest: what follows it is held by
	// the hash chain alone.
	Checkpoints      int
	LastCheckpoint   int64
	LastCheckpointAt time.Time
}

// VerifyAtText is VerifyAt to the second: a cooldown may be a minute.
func (d auditData) VerifyAtText() string { return d.VerifyAt.Format("2006-01-02 15:04:05 UTC") }

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	return c.renderAudit(w, r, v, auditData{})
}

// renderAudit renders the audit view with d's verification fields, the
// time the next verification may start and the events the query asks for.
func (c *Console) renderAudit(w http.ResponseWriter, r *http.Request, v *Viewer, d auditData) error {
	q := r.URL.Query()
	d.Q = q
	status := http.StatusOK
	wait := d.refusedWait
	if !d.VerifyRefused {
		var err error
		if wait, err = c.verifyWait(r.Context()); err != nil {
			return err
		}
	}
	if wait > 0 {
		d.VerifyAt = c.cfg.Now().Add(wait).UTC()
	}
	if d.VerifyRefused {
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	}
	f := central.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Subject: strings.TrimSpace(q.Get("subject")), Limit: auditPageSize}
	d.Invalid = !storable(f.Actor, f.Action, f.Subject)
	var err error
	if f.After, err = parseDay(q.Get("from")); err != nil {
		d.Invalid = true
	}
	if f.Before, err = parseDay(q.Get("to")); err != nil {
		d.Invalid = true
	} else if !f.Before.IsZero() {
		f.Before = f.Before.AddDate(0, 0, 1)
	}
	if s := q.Get("after"); s != "" {
		if f.AfterSeq, err = strconv.ParseInt(s, 10, 64); err != nil {
			d.Invalid = true
		}
	}
	if !d.Invalid {
		evs, err := c.cfg.Store.Audit(r.Context(), f)
		if err != nil {
			return fmt.Errorf("reading the audit trail: %w", err)
		}
		// A user scoped to some branches sees the events of cases in
		// them only (notes in a review's before/after may name people).
		var sc *auditScope
		if len(v.User.Scopes) > 0 {
			if sc, err = c.auditScopeOf(r.Context(), v); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if sc != nil {
				if !sc.seesEvent(e) {
					continue
				}
				e.After = sc.after(e)
			}
			d.Events = append(d.Events, auditRow{AuditEvent: e, HashHex: fmt.Sprintf("%x", e.Hash)})
		}
		if len(evs) == auditPageSize {
			q2 := url.Values{}
			for k, vs := range q {
				q2[k] = vs
			}
			q2.Set("after", strconv.FormatInt(evs[len(evs)-1].Seq, 10))
			q2.Del("msg")
			d.Next = "/console/audit?" + q2.Encode()
		}
	}
	return c.render(w, r, v, status, "audit.html", d)
}

// auditScope is what a user scoped to some branches sees of the trail.
type auditScope struct {
	v        *Viewer
	devs     map[string]central.Device
	partners map[string]central.Partner
}

func (c *Console) auditScopeOf(ctx context.Context, v *Viewer) (*auditScope, error) {
	devs, err := c.devices(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := c.cfg.Store.PartnersList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing partners: %w", err)
	}
	sc := &auditScope{v: v, devs: devs, partners: make(map[string]central.Partner, len(ps))}
	for _, p := range ps {
		sc.partners[p.ID] = p
	}
	return sc, nil
}

// sees reports whether the scoped user sees the event on subject: those
// of cases and devices (by the device's branch), branches (enrolment
// tokens) in scope and partners all of whose branches are (as the
// partners page shows them: partnerInScope), and events on anything else
// (users, lists, the risk configuration, sign-ins) but webhook events,
// which are some partner's.
func (sc *auditScope) sees(subject string) bool {
	kind, rest, _ := strings.Cut(subject, ":")
	switch kind {
	case "case", "device":
		dev, _, _ := strings.Cut(rest, "/")
		d, known := sc.devs[dev]
		return known && sc.v.User.InScope(d.Branch)
	case "branch":
		return sc.v.User.InScope(rest)
	case "partner":
		p, known := sc.partners[rest]
		return known && partnerInScope(sc.v, p)
	case "webhook_event":
		return false
	}
	return true
}

// seesEvent reports whether the scoped user sees e: by its subject
// (sees), but an erasure only when it names a device in scope, as a
// scoped admin may erase only there (erasePost): an erasure of one
// submission names its device (central's Erasure), one of a person's
// nothing, as its submissions may lie in any branch. Another branch's
// erasures, and a person's, are other branches' activity.
func (sc *auditScope) seesEvent(e central.AuditEvent) bool {
	switch e.Action {
	case central.AuditErasure, central.AuditErasureFailed, central.AuditErasureDryRun:
		if !strings.HasPrefix(e.Subject, "device:") {
			return false
		}
	}
	return sc.sees(e.Subject)
}

// after is the After of e as a user scoped to some branches reads it. A
// case view's lists the submissions it was compared with, which for a
// viewer of every branch include other branches' (that the person
// applied there): those out of v's scope are left out. An export's counts
// cases of its maker's scope: shown only when that scope (recorded in the
// event) lies within v's. The event's hash is of the stored After, shown
// as stored.
func (sc *auditScope) after(e central.AuditEvent) json.RawMessage {
	v := sc.v
	switch {
	case len(e.After) == 0:
		return e.After
	case e.Action == AuditExport:
		var ex struct{ Scopes []string }
		if json.Unmarshal(e.After, &ex) != nil || len(ex.Scopes) == 0 ||
			slices.ContainsFunc(ex.Scopes, func(b string) bool { return !v.User.InScope(b) }) {
			return nil
		}
		return e.After
	case e.Action != AuditCaseView:
		return e.After
	}
	var seen map[string][]string
	if json.Unmarshal(e.After, &seen) != nil {
		return nil // not the list the console writes: shown to nobody scoped
	}
	seen["linked"] = slices.DeleteFunc(seen["linked"], func(s string) bool { return !sc.sees(s) })
	if len(seen["linked"]) == 0 {
		return nil
	}
	b, _ := json.Marshal(seen) // a map of strings encodes
	return b
}

// auditVerify walks the whole chain as central's scheduled check does
// (central.Server.VerifyAuditOf: the same metrics, a break logged and
// audited once) and shows the result: OK with the number of entries, or
// the first broken one.
// One walk at a time: each reads and hashes the whole trail, and any
// auditor may ask, so a burst of them would hold the store and the CPUs.
// And one per cooldown (Config.VerifyCooldown from the start of the last,
// or ten times the last walk's time from its end if later) across every
// instance sharing the store: the cooldown is a budget of the store's
// (central.RateLimits, key verifyBudgetKey, one unit per cooldown), spent
// before the walk, the clock read inside the store's write, so instances
// asked at once walk once between them (the longer cooldown after a long
// walk is verifyLongKey's, read first). One asked for sooner is answered
// 429 with a Retry-After, on the audit view saying when it may run
// again.
func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if !c.verifies.Acquire() {
		return errBusy
	}
	defer c.verifies.Release()
	wait, err := c.longWait(r.Context())
	if err != nil {
		return err
	}
	if wait > 0 {
		return c.renderAudit(w, r, v, auditData{VerifyRefused: true, refusedWait: wait})
	}
	ok, wait, err := c.cfg.Store.SpendBudget(r.Context(), verifyBudgetKey, c.cfg.Now, c.cfg.VerifyCooldown, 1)
	if err != nil {
		return fmt.Errorf("starting the cooldown of a walk of the audit chain: %w", err)
	}
	if !ok {
		return c.renderAudit(w, r, v, auditData{VerifyRefused: true, refusedWait: wait})
	}
	srv, err := c.server()
	if err != nil {
		return err
	}
	ctx := r.Context()
	start := time.Now()
	chk, err := srv.VerifyAuditOf(ctx, c.cfg.Store)
	if lerr := c.verified(ctx, time.Since(start)); lerr != nil {
		return errors.Join(lerr, err)
	}
	vr := &verifyResult{OK: err == nil, Count: chk.Events, Checkpoints: chk.Checkpoints, LastCheckpoint: chk.LastCheckpoint, LastCheckpointAt: chk.LastCheckpointAt}
	var brk *central.AuditBreak
	switch {
	case err == nil:
	case errors.As(err, &brk) && err == error(brk): // not joined with a failure to report it
		vr.Seq, vr.Reason = brk.Seq, brk.Reason
	default:
		return err
	}
	if err := c.audit(ctx, v, AuditVerify, "audit", nil, map[string]any{"ok": vr.OK, "count": vr.Count, "broken_at": vr.Seq}); err != nil {
		return err
	}
	return c.renderAudit(w, r, v, auditData{Verify: vr})
}

// verifyDuty is how many times a walk's own time the cooldown after it
// lasts at least, so walks of a long trail take at most a tenth of the
// time.
const verifyDuty = 10

// verifyBudgetKey is the store's budget (central.RateLimits) of the
// console's walks of the audit chain, shared by every instance.
const verifyBudgetKey = "console-audit-verify"

// verifyLongKey is the store's budget of the longer cooldown after a long
// walk (verified), apart from verifyBudgetKey's: a budget's time further
// ahead than its own spends can set is taken as a clock put back and
// pulled in (central.SpendGCRA), so the longer cooldown cannot ride on
// the cooldown's budget.
const verifyLongKey = "console-audit-verify-long"

// verifyMaxLong bounds the longer cooldown; verifyLongKey is read as a
// budget of one unit per verifyMaxLong, so anything up to it stands.
const verifyMaxLong = 24 * time.Hour

// verified lengthens the cooldown after a walk of the chain that took
// took (whatever its result: a failed walk cost as much) to ten times
// took from now (at most verifyMaxLong), when that is longer than the
// cooldown spent at its start: verifyLongKey's one unit, spent with that
// interval. A walk starts only with that budget whole (longWait), so the
// spend passes unless another instance's walk lengthened it meanwhile.
func (c *Console) verified(ctx context.Context, took time.Duration) error {
	d := min(verifyDuty*took, verifyMaxLong)
	if d <= c.cfg.VerifyCooldown {
		return nil
	}
	if _, _, err := c.cfg.Store.SpendBudget(ctx, verifyLongKey, c.cfg.Now, d, 1); err != nil {
		return fmt.Errorf("lengthening the cooldown after a walk of the audit chain: %w", err)
	}
	return nil
}

// longWait is how long the longer cooldown after a long walk lasts from
// now, 0 when there is none.
func (c *Console) longWait(ctx context.Context) (time.Duration, error) {
	wait, err := c.cfg.Store.BudgetWait(ctx, verifyLongKey, c.cfg.Now, verifyMaxLong, 1)
	if err != nil {
		return 0, fmt.Errorf("reading the cooldown after a long walk of the audit chain: %w", err)
	}
	return wait, nil
}

// verifyWait is how long until the next walk of the chain may start, 0
// when it may now.
func (c *Console) verifyWait(ctx context.Context) (time.Duration, error) {
	wait, err := c.cfg.Store.BudgetWait(ctx, verifyBudgetKey, c.cfg.Now, c.cfg.VerifyCooldown, 1)
	if err != nil {
		return 0, fmt.Errorf("reading the cooldown of the audit chain's walks: %w", err)
	}
	long, err := c.longWait(ctx)
	if err != nil {
		return 0, err
	}
	return max(wait, long), nil
}

// shortID is an id's first 12 characters, for tables.
func shortID(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
