package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// Follower cursors (Webhooks.Cursor names).
const (
	CursorCompleted = "webhook.completed"
	CursorReviews   = "webhook.reviews"
	// CursorPush follows the events log itself: each submission.completed
	// of a partner with the enterprise push becomes a push event.
	CursorPush = "webhook.push"
)

// EventPush is the enterprise push of a completed submission (package
// push sends it, as webhook.Config.Senders["push."]). Its SessionID is
// PushLane(session): pushes are ordered apart from the session's
// webhooks, so a failing push endpoint holds back only pushes.
const EventPush = "push.submission"

// PushLane is the SessionID of a session's push events.
func PushLane(sessionID string) string { return central.PushLane(sessionID) }

// Emitter defaults.
const (
	// DefaultEmitterPoll is how often the emitter reads central's logs
	// when nothing woke it.
	DefaultEmitterPoll = time.Second
	// DefaultBatch is how many log entries one read takes.
	DefaultBatch = 200
	// kioskTTL is the expiry given a kiosk session's FlowSession before
	// its completion is recorded (it is COMPLETED a moment later).
	kioskTTL = 24 * time.Hour
)

// KioskUserIDType is the partner_user_id_type of a kiosk session: it has
// no partner user, so its partner_user_id is the device's id (what
// Get Submission Details is then asked with). Defined by partnerapi,
// which refuses it on sessions a partner initiates.
const KioskUserIDType = partnerapi.KioskUserIDType

// Next actions (the seeds' and the engine's).
const (
	NextRetry  = "RETRY"
	NextStatus = "STATUS"
	NextExit   = "EXIT"
)

// EmitterStore is what the emitter needs of central's store.
type EmitterStore interface {
	central.Webhooks
	Completed(ctx context.Context, after int64, limit int) ([]central.Case, error)
	ReviewChanges(ctx context.Context, deviceID string, after int64, limit int) ([]central.ReviewChange, error)
	Case(ctx context.Context, ref central.SubmissionRef) (central.Case, error)
	Device(ctx context.Context, id string) (central.Device, error)
	PartnersList(ctx context.Context) ([]central.Partner, error)
	CreateFlow(ctx context.Context, f central.FlowSession) error
	UpdateFlow(ctx context.Context, partnerID, id string, fn func(*central.FlowSession) ([]central.WebhookEvent, error)) (central.FlowSession, error)
	ExpiredFlows(ctx context.Context, now time.Time, limit int) ([]central.FlowSession, error)
	central.FlowEraser
}

// EmitterConfig configures an Emitter.
type EmitterConfig struct {
	Store EmitterStore // required
	// Notify is called after a pass wrote events (Worker.Notify).
	Notify func()
	// Poll (DefaultEmitterPoll) and Batch (DefaultBatch).
	Poll  time.Duration
	Batch int
	Now   func() time.Time
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
}

// Emitter turns central's changes into partners' webhook events.
type Emitter struct {
	cfg  EmitterConfig
	wake chan struct{}
}

// NewEmitter returns an emitter; it does nothing until Run or RunOnce.
func NewEmitter(cfg EmitterConfig) (*Emitter, error) {
	if cfg.Store == nil {
		return nil, errors.New("webhook: EmitterConfig needs a Store")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultEmitterPoll
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Emitter{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Notify makes the emitter read the logs now (a submission completed, a
// review changed). It never blocks.
func (e *Emitter) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run follows the logs until ctx ends.
func (e *Emitter) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := e.RunOnce(ctx); err != nil && ctx.Err() == nil {
			e.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook emitter failed", slog.String("cause", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.wake:
		}
	}
}

// RunOnce reads everything new in the logs and the expired sessions,
// writes their events and moves the cursors; it returns how many events it
// wrote.
func (e *Emitter) RunOnce(ctx context.Context) (int, error) {
	p := &pass{e: e, branches: map[string]string{}, now: e.cfg.Now().UTC()}
	if err := p.loadOwners(ctx); err != nil {
		return 0, err
	}
	err := p.followCompleted(ctx)
	if err == nil {
		err = p.followReviews(ctx)
	}
	if err == nil {
		err = p.expire(ctx)
	}
	if err == nil {
		err = p.followPush(ctx)
	}
	if p.events > 0 && e.cfg.Notify != nil {
		e.cfg.Notify()
	}
	return p.events, err
}

// pass is one RunOnce: the owners of branches and the devices' branches
// read once.
type pass struct {
	e        *Emitter
	now      time.Time
	owners   map[string]central.Partner // branch → partner
	partners map[string]central.Partner // id → partner
	branches map[string]string          // device → branch
	events   int
}

func (p *pass) loadOwners(ctx context.Context) error {
	list, err := p.e.cfg.Store.PartnersList(ctx)
	if err != nil {
		return fmt.Errorf("webhook: listing partners: %w", err)
	}
	p.owners = map[string]central.Partner{}
	p.partners = map[string]central.Partner{}
	for _, pt := range list {
		p.partners[pt.ID] = pt
		for _, b := range pt.Branches {
			p.owners[b] = pt
		}
	}
	return nil
}

// owner is the partner owning the branch of a submission's device.
func (p *pass) owner(ctx context.Context, deviceID string) (central.Partner, bool, error) {
	if len(p.owners) == 0 {
		return central.Partner{}, false, nil
	}
	b, ok := p.branches[deviceID]
	if !ok {
		d, err := p.e.cfg.Store.Device(ctx, deviceID)
		switch {
		case errors.Is(err, central.ErrNotFound):
		case err != nil:
			return central.Partner{}, false, fmt.Errorf("webhook: reading device: %w", err)
		default:
			b = d.Branch
		}
		p.branches[deviceID] = b
	}
	pt, ok := p.owners[b]
	return pt, ok && b != "", nil
}

func (p *pass) followCompleted(ctx context.Context) error {
	st := p.e.cfg.Store
	for {
		cur, err := st.Cursor(ctx, CursorCompleted)
		if err != nil {
			return fmt.Errorf("webhook: reading cursor: %w", err)
		}
		cases, err := st.Completed(ctx, cur, p.e.cfg.Batch)
		if err != nil {
			return fmt.Errorf("webhook: reading completed submissions: %w", err)
		}
		last := cur
		for _, c := range cases {
			pt, ok, err := p.owner(ctx, c.Ref.DeviceID)
			if err == nil && ok {
				err = p.completed(ctx, pt, c)
			}
			if err != nil {
				return errors.Join(err, p.putCursor(ctx, CursorCompleted, cur, last))
			}
			last = max(last, c.CompletedSeq)
		}
		if err := p.putCursor(ctx, CursorCompleted, cur, last); err != nil {
			return err
		}
		if len(cases) < p.e.cfg.Batch {
			return nil
		}
	}
}

func (p *pass) putCursor(ctx context.Context, name string, from, to int64) error {
	if to == from {
		return nil
	}
	if err := p.e.cfg.Store.PutCursor(ctx, name, to); err != nil {
		return fmt.Errorf("webhook: storing cursor: %w", err)
	}
	return nil
}

// errUnchanged aborts an UpdateFlow that has nothing to change.
var errUnchanged = errors.New("webhook: nothing to change")

// errNotKiosk aborts an UpdateFlow of a session that is not the kiosk
// session of the submission's device: a session the partner initiated for
// one of its customers, whose id the device's session id (the device's
// choice) happens to name. A kiosk's result is never that customer's.
var errNotKiosk = errors.New("webhook: the session is not the device's kiosk session")

// kioskSessionOf reports whether f is the kiosk session completed made for
// the device: not a hosted session (a kiosk's hand-off is told its id),
// not another device's.
func kioskSessionOf(f *central.FlowSession, deviceID string) bool {
	return f.Hosted == nil && f.UserIDType == KioskUserIDType && f.UserID == deviceID
}

// skipNotKiosk logs a submission left out by errNotKiosk.
func (p *pass) skipNotKiosk(ctx context.Context, partnerID, sessionID string, ref central.SubmissionRef) {
	p.e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "kiosk submission names a session that is not the kiosk's; left out",
		slog.String("partner", partnerID), slog.String("session", sessionID), slog.String("device", ref.DeviceID))
}

// sessionID is the FlowSession id of a kiosk submission: the device's
// session id (the submission id when the device gave none).
func sessionID(c central.Case) string {
	if c.Summary.SessionID != "" {
		return c.Summary.SessionID
	}
	return c.ID
}

// completed records a kiosk submission in its partner's FlowSession and
// writes submission.completed in the same transaction; the session is
// created as of central's receipt of the submission, never the device's
// clock (which may read 2000-01-01); a submission the
// session holds already changes nothing (a repeated pass).
func (p *pass) completed(ctx context.Context, pt central.Partner, c central.Case) error {
	st := p.e.cfg.Store
	sid := sessionID(c)
	err := st.CreateFlow(ctx, central.FlowSession{ID: sid, PartnerID: pt.ID, UserID: c.Ref.DeviceID, UserIDType: KioskUserIDType, Config: json.RawMessage(`{}`),
		Status: central.FlowInProgress, CreatedAt: c.ReceivedAt.UTC(), UpdatedAt: p.now, ExpiresAt: p.now.Add(kioskTTL)})
	if err != nil && !errors.Is(err, central.ErrPartnerExists) {
		return fmt.Errorf("webhook: creating the session: %w", err)
	}
	_, err = st.UpdateFlow(ctx, pt.ID, sid, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		if !kioskSessionOf(f, c.Ref.DeviceID) {
			return nil, errNotKiosk
		}
		if slices.Contains(f.Submissions, c.Ref) {
			return nil, errUnchanged
		}
		f.Submissions = append(f.Submissions, c.Ref)
		f.Status, f.NextAction, f.ErrorCode = central.FlowCompleted, c.Summary.NextAction, ""
		f.Attempts = max(f.Attempts, len(f.Submissions), c.Summary.Attempt)
		f.UpdatedAt = p.now
		d := FlowData(*f)
		d.Decision, d.Score, d.ReasonCodes, d.Attempt = c.Summary.Decision, &c.Summary.Score, c.Summary.Reasons, c.Summary.Attempt
		ev, err := p.event(central.EventSubmissionCompleted, pt.ID, sid, d, "completed", c.Ref.DeviceID, c.Ref.Key)
		return []central.WebhookEvent{ev}, err
	})
	switch {
	case errors.Is(err, errUnchanged):
		return nil
	case errors.Is(err, errNotKiosk):
		p.skipNotKiosk(ctx, pt.ID, sid, c.Ref)
		return nil
	case err != nil:
		return fmt.Errorf("webhook: recording the completed session: %w", err)
	}
	p.events++
	return p.erasedMeanwhile(ctx, c.Ref)
}

// erasedMeanwhile scrubs the sessions holding ref (central.FlowEraser)
// when its submission is gone by now: an erasure that ran whole between
// this pass's read of the submission and its write of the session's event
// found no session holding it yet, or scrubbed the session before the
// event was written, which would otherwise carry the erased submission's
// decision, score and reasons to the partner. An event written after the
// erasure's scrub but before the submission went is the erasure's to
// scrub: it scrubs the sessions again once the submission is gone.
func (p *pass) erasedMeanwhile(ctx context.Context, ref central.SubmissionRef) error {
	st := p.e.cfg.Store
	switch _, err := st.Case(ctx, ref); {
	case errors.Is(err, central.ErrNotFound):
	case err != nil:
		return fmt.Errorf("webhook: reading the case again: %w", err)
	default:
		return nil
	}
	if _, _, err := st.EraseFlows(ctx, ref, p.now); err != nil {
		return fmt.Errorf("webhook: scrubbing the sessions of a submission erased meanwhile: %w", err)
	}
	return nil
}

// followReviews reads the review log to its end from where the last pass
// ended, and tells each decision made final since (reviewed). The log
// keeps one change per case, at its last: a case changed again moves up
// it, so a decision made final before the end of a page may sit in a
// later one, under an override proposed over it. A page's end is thus no
// mark of what was told, and the cursor moves only once the log is read
// to its end; a pass cut short starts again from where it began (the
// events it wrote are known to the store and skipped).
func (p *pass) followReviews(ctx context.Context) error {
	st := p.e.cfg.Store
	from, err := st.Cursor(ctx, CursorReviews)
	if err != nil {
		return fmt.Errorf("webhook: reading cursor: %w", err)
	}
	last := from
	for {
		chs, err := st.ReviewChanges(ctx, "", last, p.e.cfg.Batch)
		if err != nil {
			return fmt.Errorf("webhook: reading review changes: %w", err)
		}
		for _, ch := range chs {
			if err := p.reviewed(ctx, ch, from); err != nil {
				return err
			}
			last = max(last, ch.Review.Seq)
		}
		if len(chs) < p.e.cfg.Batch {
			return p.putCursor(ctx, CursorReviews, from, last)
		}
	}
}

// reviewed turns a reviewer's final decision into decision.changed, or
// resubmission.requested when the reviewer asked for another attempt:
// once per decision, named after the change that made it final
// (Review.InForce). A change whose decision in force was made final at
// or before from, where the pass began (a declined override restoring
// it, an override proposed over it), tells nothing: the pass that read
// the log past it told it. One made final after from is told even when a
// later change holds it aside (an override proposed before this pass).
func (p *pass) reviewed(ctx context.Context, ch central.ReviewChange, from int64) error {
	r, ok := ch.Review.InForce()
	if !ok || r.Seq <= from {
		return nil
	}
	typ, next := central.EventDecisionChanged, NextExit
	switch r.Outcome {
	case central.OutcomeApprove, central.OutcomeReject:
	case central.OutcomeResubmit:
		typ, next = central.EventResubmission, NextRetry
	default:
		return nil
	}
	hosted := central.IsHostedDevice(ch.Ref.DeviceID)
	var pt central.Partner
	if !hosted {
		var ok bool
		var err error
		if pt, ok, err = p.owner(ctx, ch.Ref.DeviceID); err != nil || !ok {
			return err
		}
	}
	st := p.e.cfg.Store
	c, err := st.Case(ctx, ch.Ref)
	if errors.Is(err, central.ErrNotFound) {
		return nil // erased meanwhile
	}
	if err != nil {
		return fmt.Errorf("webhook: reading the case: %w", err)
	}
	if hosted {
		return p.reviewedHosted(ctx, ch, r, c, typ)
	}
	// The completion first (a no-op when the completed log gave it).
	if err := p.completed(ctx, pt, c); err != nil {
		return err
	}
	sid := sessionID(c)
	_, err = st.UpdateFlow(ctx, pt.ID, sid, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		if !kioskSessionOf(f, ch.Ref.DeviceID) {
			return nil, errNotKiosk
		}
		f.Status, f.NextAction, f.UpdatedAt = central.FlowCompleted, next, p.now
		d := reviewData(*f, r, c)
		// The store skips an event id it holds: a repeated pass adds
		// nothing (the session's state is rewritten the same).
		ev, err := p.event(typ, pt.ID, sid, d, "review", ch.Ref.DeviceID, ch.Ref.Key, fmt.Sprint(r.Seq))
		return []central.WebhookEvent{ev}, err
	})
	if errors.Is(err, errNotKiosk) {
		p.skipNotKiosk(ctx, pt.ID, sid, ch.Ref)
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook: recording the review in the session: %w", err)
	}
	p.events++
	return p.erasedMeanwhile(ctx, ch.Ref)
}

// reviewedHosted tells the partner a reviewer's final decision on an
// attempt of a session it initiated, which the hosted flow stored under a
// hosted pseudo-device with the id "<partner>:<session>-<attempt>" (the
// session names the submission: a forged id finds nothing). The session
// is over (its result was a review): the next action is EXIT whatever the
// outcome, so a resubmission asks the partner for a new session, and the
// person's finished page is never reopened. Sessions of KioskPartner (a
// kiosk's hand-off no partner owns) have no webhook: the kiosk follows
// them.
func (p *pass) reviewedHosted(ctx context.Context, ch central.ReviewChange, r central.Standing, c central.Case, typ string) error {
	partnerID, _, ok := strings.Cut(c.ID, ":")
	sid := c.Summary.SessionID
	if !ok || sid == "" || partnerID == central.KioskPartner {
		return nil
	}
	_, err := p.e.cfg.Store.UpdateFlow(ctx, partnerID, sid, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		if f.Hosted == nil || !slices.Contains(f.Submissions, ch.Ref) {
			return nil, errUnchanged
		}
		f.NextAction, f.UpdatedAt = NextExit, p.now
		ev, err := p.event(typ, partnerID, sid, reviewData(*f, r, c), "review", ch.Ref.DeviceID, ch.Ref.Key, fmt.Sprint(r.Seq))
		return []central.WebhookEvent{ev}, err
	})
	switch {
	case errors.Is(err, errUnchanged), errors.Is(err, central.ErrNotFound):
		return nil // not a session of the partner's (or erased)
	case err != nil:
		return fmt.Errorf("webhook: recording the review in the hosted session: %w", err)
	}
	p.events++
	return p.erasedMeanwhile(ctx, ch.Ref)
}

// reviewData is the event data of session f after decision r of case c.
func reviewData(f central.FlowSession, r central.Standing, c central.Case) Data {
	d := FlowData(f)
	d.Decision, d.Score, d.ReasonCodes, d.Attempt = r.Outcome, &c.Summary.Score, c.Summary.Reasons, c.Summary.Attempt
	d.Review = &ReviewData{Outcome: r.Outcome, Reason: r.Reason, EngineDecision: c.Summary.Decision, DecidedAt: r.DecidedAt}
	return d
}

// expire marks sessions past their ttl EXPIRED, each with its
// session.expired in the same transaction, but for one whose attempt is
// being verified.
func (p *pass) expire(ctx context.Context) error {
	st := p.e.cfg.Store
	for {
		flows, err := st.ExpiredFlows(ctx, p.now, p.e.cfg.Batch)
		if err != nil {
			return fmt.Errorf("webhook: listing expired sessions: %w", err)
		}
		changed := 0
		for _, fl := range flows {
			_, err := st.UpdateFlow(ctx, fl.PartnerID, fl.ID, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
				switch f.Status {
				case central.FlowCompleted, central.FlowError, central.FlowExpired:
					return nil, errUnchanged
				}
				madeAhead := f.CreatedAt.After(p.now.Add(central.FlowClockSlack)) // by a clock since put back
				if !f.ExpiresAt.Before(p.now) && !madeAhead || f.StatusAt(p.now) != central.FlowExpired {
					// An attempt submitted in time is verified first:
					// its result completes the session (or, should its
					// instance die, a later pass expires it).
					return nil, errUnchanged
				}
				f.Status, f.NextAction, f.UpdatedAt = central.FlowExpired, NextExit, p.now
				if f.PartnerID == central.KioskPartner {
					return nil, nil // no partner to tell
				}
				// With the session's creation: once retention removed a
				// session, its id may name another one, whose expiry is
				// an event of its own.
				ev, err := p.event(central.EventSessionExpired, f.PartnerID, f.ID, FlowData(*f), "expired", f.PartnerID, f.ID,
					f.CreatedAt.UTC().Format(time.RFC3339Nano))
				return []central.WebhookEvent{ev}, err
			})
			switch {
			case errors.Is(err, errUnchanged), errors.Is(err, central.ErrNotFound):
			case err != nil:
				return fmt.Errorf("webhook: expiring a session: %w", err)
			default:
				changed++
				p.events++
			}
		}
		if len(flows) < p.e.cfg.Batch || changed == 0 {
			return nil
		}
	}
}

// followPush reads the events log after its cursor and writes, for each
// submission.completed whose session is COMPLETED (an attempt ending in
// RETRY is not pushed) of a partner with the enterprise push, its push
// event (id derived from the source event's, so a repeated pass adds
// nothing). Events written before a partner configured the push, but
// after the cursor, are pushed too.
func (p *pass) followPush(ctx context.Context) error {
	st := p.e.cfg.Store
	for {
		cur, err := st.Cursor(ctx, CursorPush)
		if err != nil {
			return fmt.Errorf("webhook: reading cursor: %w", err)
		}
		evs, err := st.Events(ctx, "", cur, p.e.cfg.Batch)
		if err != nil {
			return fmt.Errorf("webhook: reading the events log: %w", err)
		}
		var out []central.WebhookEvent
		last := cur
		for _, ev := range evs {
			last = max(last, ev.Seq)
			pt, ok := p.partners[ev.PartnerID]
			if ev.Type != central.EventSubmissionCompleted || !ok || !partnerapi.PushConfigured(pt) {
				continue
			}
			var b Body
			if err := json.Unmarshal(ev.Payload, &b); err != nil || b.Data.Status != central.FlowCompleted {
				continue
			}
			pe, err := NewEvent(EventPush, ev.PartnerID, PushLane(b.Data.SessionID),
				Data{SessionID: b.Data.SessionID, PartnerUserID: b.Data.PartnerUserID, PartnerUserIDType: b.Data.PartnerUserIDType,
					Status: b.Data.Status, Attempt: b.Data.Attempt}, p.now, EventID(EventPush, ev.ID))
			if err != nil {
				return err
			}
			out = append(out, pe)
		}
		if len(out) > 0 {
			if err := st.AppendEvents(ctx, out); err != nil {
				return fmt.Errorf("webhook: writing push events: %w", err)
			}
			p.events += len(out)
		}
		if err := p.putCursor(ctx, CursorPush, cur, last); err != nil {
			return err
		}
		if len(evs) < p.e.cfg.Batch {
			return nil
		}
	}
}

// Excerpt cuts an answer or an error to at most n bytes of valid UTF-8
// without NUL bytes, as the worker keeps them: for Senders' excerpts.
func Excerpt(s string, n int) string { return clip(s, n) }

// DescribeTransport is a failed request's error without its URL (which
// may carry a secret in its query), as the worker records it: for
// Senders.
func DescribeTransport(err error) error { return transportError(err) }

// Body is a webhook's JSON body, as Standard Webhooks shapes it.
type Body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is what an event tells about a session: no names, no images.
type Data struct {
	SessionID         string             `json:"session_id"`
	PartnerUserID     string             `json:"partner_user_id,omitempty"`
	PartnerUserIDType string             `json:"partner_user_id_type,omitempty"`
	Status            central.FlowStatus `json:"status"`
	NextAction        string             `json:"next_action,omitempty"`
	ErrorCode         string             `json:"error_code,omitempty"`
	Attempts          int                `json:"attempts"`
	// Decision is the engine's (approve, review, reject, escalate) in
	// submission.completed, the reviewer's (approve, reject, resubmit)
	// after a review.
	Decision    string      `json:"decision,omitempty"`
	Score       *float64    `json:"score,omitempty"`
	ReasonCodes []string    `json:"reason_codes,omitempty"`
	Attempt     int         `json:"attempt,omitempty"` // the submission's attempt number
	Review      *ReviewData `json:"review,omitempty"`
}

// ReviewData is a reviewer's decision as an event tells it.
type ReviewData struct {
	Outcome        string    `json:"outcome"`
	Reason         string    `json:"reason,omitempty"` // a reject reason code
	EngineDecision string    `json:"engine_decision,omitempty"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
}

// FlowData is an event's data about a session as it stands: what every
// event of a session carries (the hosted flow's events start from it too,
// so each has the emitter's shape).
func FlowData(f central.FlowSession) Data {
	return Data{SessionID: f.ID, PartnerUserID: f.UserID, PartnerUserIDType: f.UserIDType, Status: f.Status,
		NextAction: f.NextAction, ErrorCode: f.ErrorCode, Attempts: f.Attempts}
}

// event builds an event whose id is derived from its cause.
func (p *pass) event(typ, partnerID, sessionID string, d Data, cause ...string) (central.WebhookEvent, error) {
	return NewEvent(typ, partnerID, sessionID, d, p.now, EventID(typ, cause...))
}

// NewEvent builds an event with its signed body; the partner API uses it
// for the events of its own paths (hosted flows) so every event has one
// shape.
func NewEvent(typ, partnerID, sessionID string, d Data, at time.Time, id string) (central.WebhookEvent, error) {
	body, err := json.Marshal(Body{Type: typ, Timestamp: at.UTC(), Data: d})
	if err != nil {
		return central.WebhookEvent{}, fmt.Errorf("webhook: encoding the event: %w", err)
	}
	return central.WebhookEvent{ID: id, PartnerID: partnerID, SessionID: sessionID, Type: typ, Payload: body, CreatedAt: at.UTC()}, nil
}

// EventID derives an event id from what caused it, so writing it again
// (a repeated pass) is recognised: "evt_" and 26 hex digits of a hash.
func EventID(typ string, cause ...string) string {
	h := sha256.New()
	h.Write([]byte(typ))
	for _, c := range cause {
		h.Write([]byte{0})
		h.Write([]byte(c))
	}
	return "evt_" + hex.EncodeToString(h.Sum(nil))[:26]
}
