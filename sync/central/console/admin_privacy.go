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

// Privacy: erasure of a person's data on request (by NIK, document number
// or name through the blind index, or one submission), in two steps (a
// count, then a confirmation where the admin types ERASE), and the
// retention policy with what its sweeps removed.

func (c *Console) routeAdminPrivacy() {
	c.route("GET /console/privacy", central.RoleAdmin, c.privacyPage)
	c.route("POST /console/privacy/erase", central.RoleAdmin, c.erasePost)
}

// eraseWord is what the admin types to confirm an erasure.
const eraseWord = "ERASE"

// maxIdentifier bounds an identifier typed into the erasure form.
const maxIdentifier = 200

// privacyEvents is how many sweeps and erasures the page lists.
const privacyEvents = 20

type privacyPage struct {
	Policy central.RetentionPolicy
	Sweeps []central.AuditEvent
	// Held is what the last sweep held back, by kind (its event's
	// held_<kind>: a sweep leaves one only when that changed, so it stands
	// until the next), nil before any sweep; HeldAt when it was counted.
	Held     map[central.DataKind]int
	HeldAt   time.Time
	Erasures []central.AuditEvent
	HasIndex bool
	// Erasure is the one just asked for (from the redirect), Pending those
	// the job queue has not finished; the page refreshes while any is.
	Erasure *central.Erasure
	Pending []central.Erasure
	// The erasure form, and its confirmation step.
	Req     central.ErasureRequest
	Confirm bool
	Count   int
	Wrong   bool // the confirmation word was not typed right
	// scope is what an admin scoped to some branches sees; nil for an
	// admin of every branch.
	scope *auditScope
}

func (c *Console) privacyPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	p, err := c.privacyData(r.Context(), v)
	if err != nil {
		return err
	}
	if id := r.URL.Query().Get("erasure"); id != "" {
		e, err := c.cfg.Store.Erasure(r.Context(), id)
		switch {
		case err == nil:
			// A scoped admin reads the erasures they asked for (an
			// ended one no longer names its device) and those under
			// way in their scope.
			if p.scope == nil || e.Actor == v.Actor() || p.scope.seesErasure(e) {
				p.Erasure = &e
			}
		case !errors.Is(err, central.ErrNotFound):
			return fmt.Errorf("reading the erasure: %w", err)
		}
	}
	return c.render(w, r, v, http.StatusOK, "admin_privacy.html", p)
}

// privacyData reads the page for v. An admin scoped to some branches
// sees the erasures of submissions of devices in scope only (the audit
// view's rule, auditScope.seesEvent): another branch's, and a person's
// (which may lie in any branch), are other branches' activity. Sweeps
// and the policy are central's, the same for every branch.
func (c *Console) privacyData(ctx context.Context, v *Viewer) (*privacyPage, error) {
	st := c.cfg.Store
	pol, err := st.Retention(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the retention policy: %w", err)
	}
	p := &privacyPage{Policy: pol, HasIndex: c.cfg.Central != nil && c.cfg.Central.HasIndex()}
	if len(v.User.Scopes) > 0 {
		if p.scope, err = c.auditScopeOf(ctx, v); err != nil {
			return nil, err
		}
	}
	if p.Sweeps, err = c.latestEvents(ctx, central.AuditSweep, nil); err != nil {
		return nil, err
	}
	if len(p.Sweeps) > 0 {
		n := sweepCounts(p.Sweeps[0])
		p.Held, p.HeldAt = map[central.DataKind]int{}, p.Sweeps[0].At
		for _, kind := range central.HeldKinds {
			p.Held[kind] = n["held_"+string(kind)]
		}
	}
	var keep func(central.AuditEvent) bool
	if p.scope != nil {
		keep = p.scope.seesEvent
	}
	if p.Erasures, err = c.latestEvents(ctx, central.AuditErasure, keep); err != nil {
		return nil, err
	}
	if p.Pending, err = st.Erasures(ctx, true, privacyEvents); err != nil {
		return nil, fmt.Errorf("listing the erasures under way: %w", err)
	}
	if p.scope != nil {
		p.Pending = slices.DeleteFunc(p.Pending, func(e central.Erasure) bool { return !p.scope.seesErasure(e) })
	}
	return p, nil
}

// seesErasure reports whether the scoped user sees e, an erasure under
// way: one of a submission of a device in scope.
func (sc *auditScope) seesErasure(e central.Erasure) bool {
	return e.DeviceID != "" && sc.sees("device:"+e.DeviceID)
}

// latestEvents returns the newest privacyEvents events of action that
// keep (nil: all) keeps, newest first: the trail lists oldest first, so it
// pages to the end.
func (c *Console) latestEvents(ctx context.Context, action string, keep func(central.AuditEvent) bool) ([]central.AuditEvent, error) {
	var last []central.AuditEvent
	f := central.AuditFilter{Action: action, Limit: central.MaxListLimit}
	for {
		evs, err := c.cfg.Store.Audit(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		if len(evs) > 0 {
			f.AfterSeq = evs[len(evs)-1].Seq
		}
		full := len(evs) == central.MaxListLimit
		if keep != nil {
			evs = slices.DeleteFunc(evs, func(e central.AuditEvent) bool { return !keep(e) })
		}
		if len(evs) > 0 {
			last = append(last, evs...)
			if len(last) > privacyEvents {
				last = last[len(last)-privacyEvents:]
			}
		}
		if !full {
			break
		}
	}
	out := make([]central.AuditEvent, 0, len(last))
	for i := len(last) - 1; i >= 0; i-- {
		out = append(out, last[i])
	}
	return out, nil
}

// erasureForm reads the erasure form: by="person" with nik,
// document_number and name (any of them), or by="submission" with
// device_id and submission_id.
func erasureForm(r *http.Request) (central.ErasureRequest, error) {
	get := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	var req central.ErasureRequest
	switch get("by") {
	case "person":
		req.NIK, req.DocumentNumber, req.Name = get("nik"), get("document_number"), get("name")
	case "submission":
		req.DeviceID, req.SubmissionID = get("device_id"), get("submission_id")
	default:
		return req, fail(http.StatusBadRequest, "adm.erase_what")
	}
	for _, s := range []string{req.NIK, req.DocumentNumber, req.Name, req.DeviceID, req.SubmissionID} {
		if len(s) > maxIdentifier {
			return req, fail(http.StatusBadRequest, "adm.erase_what")
		}
	}
	return req, nil
}

// erasePost is both steps: without confirm it counts (a dry run, audited
// as such) and shows the confirmation; with confirm it erases if the word
// was typed, else shows the confirmation again.
func (c *Console) erasePost(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	ctx := r.Context()
	req, err := erasureForm(r)
	if err != nil {
		return err
	}
	// An admin scoped to some branches erases only there: one submission
	// of a device in scope. A person's submissions are found across every
	// branch (and even the count would tell whether someone was verified
	// elsewhere), so erasure by person is for an admin of every branch.
	if len(v.User.Scopes) > 0 {
		if req.DeviceID == "" {
			return fail(http.StatusForbidden, "erase_scope")
		}
		if err := c.checkDeviceChange(ctx, v, req.DeviceID, nil); err != nil {
			return err
		}
	}
	step := r.PostFormValue("step")
	if step == "confirm" && r.PostFormValue("confirm") == eraseWord {
		res, err := srv.Erase(ctx, v.Actor(), req)
		if err != nil {
			return opError(err)
		}
		// Queued on PostgreSQL, done already on bbolt: the page shows which.
		return c.seeOther(w, r, "/console/privacy?erasure="+url.QueryEscape(res.ID), "msg.adm.erasure_taken")
	}
	dry := req
	dry.DryRun = true
	res, err := srv.Erase(ctx, v.Actor(), dry)
	if err != nil {
		return opError(err)
	}
	p, err := c.privacyData(ctx, v)
	if err != nil {
		return err
	}
	p.Req, p.Confirm, p.Count, p.Wrong = req, true, res.Erased, step == "confirm"
	status := http.StatusOK
	if p.Wrong {
		status = http.StatusUnprocessableEntity
	}
	return c.render(w, r, v, status, "admin_privacy.html", p)
}

// retentionDays is a period for the page: "keep" for 0.
// HeldOf is how many submissions' data of kind the last sweep held back,
// "" before any sweep.
func (p *privacyPage) HeldOf(kind central.DataKind) string {
	if p.Held == nil {
		return ""
	}
	return strconv.Itoa(p.Held[kind])
}

// HeldAny reports whether the last sweep held anything back.
func (p *privacyPage) HeldAny() bool {
	for _, n := range p.Held {
		if n > 0 {
			return true
		}
	}
	return false
}

func retentionDays(d int) string {
	if d == 0 {
		return ""
	}
	return strconv.Itoa(d)
}

// sweepCounts reads what a sweep removed, by kind, from its audit event
// (nil for events written before sweeps recorded it).
func sweepCounts(e central.AuditEvent) map[string]int {
	var m map[string]int
	if json.Unmarshal(e.After, &m) != nil {
		return nil
	}
	return m
}
