package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Erasure on request is recorded, then carried out. The record (Erasure)
// holds who asked and whose submissions: blind-index tokens or one
// submission's reference, never a person's identifiers in clear, and only
// until the erasure ends. With Config.ErasureByQueue (PostgreSQL) the
// store enqueues a job with the record in one transaction and the request
// answers at once; otherwise the request carries it out before answering.
// Either way the answer is the record, and GET /admin/v1/erasures/{id}
// reads it again. Carrying it out is idempotent: each deletion counts in
// the transaction that deletes, and the end (status and audit event) is
// written once, so a run cut short and retried erases the rest and counts
// right.

// ErasureStatus is where an erasure request is.
type ErasureStatus string

// Erasure statuses.
const (
	ErasureQueued  ErasureStatus = "queued"
	ErasureRunning ErasureStatus = "running"
	ErasureDone    ErasureStatus = "done"
	ErasureFailed  ErasureStatus = "failed"
)

// Finished reports whether the erasure has ended (done or failed).
func (s ErasureStatus) Finished() bool { return s == ErasureDone || s == ErasureFailed }

// AuditErasureFailed ends an erasure that failed for good; its count is
// what was erased before.
const AuditErasureFailed = "erasure_failed"

// Erasure is the record of an erasure request, and the answer to one.
type Erasure struct {
	ID          string        `json:"id"`
	Status      ErasureStatus `json:"status"`
	Actor       string        `json:"actor"`
	RequestedAt time.Time     `json:"requested_at"`
	FinishedAt  time.Time     `json:"finished_at,omitzero"`
	// Erased is how many submissions it erased so far (or, in a dry run,
	// would).
	Erased int `json:"erased"`
	// Attempts counts the runs that started.
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
	// StatusURL is where to read the record again (answers only).
	StatusURL string `json:"status_url,omitempty"`

	// Whose submissions: Tokens (all must match, blind index) or one
	// submission. Stores keep them until the erasure ends; never answered.
	Tokens        [][]byte `json:"-"`
	DeviceID      string   `json:"-"`
	SubmissionKey string   `json:"-"`
}

// Erasures keeps erasure records (erasure.go).
type Erasures interface {
	// AddErasure records e, which is queued. With queue the store also
	// enqueues the job carrying it out (jobs.Erasure) in the same
	// transaction; a store without a job queue refuses. An ID already
	// recorded is ErrConflict.
	AddErasure(ctx context.Context, e Erasure, queue bool) error
	// Erasure returns the record of erasure id; ErrNotFound if none.
	Erasure(ctx context.Context, id string) (Erasure, error)
	// Erasures lists up to limit records, newest first; with unfinished
	// only those queued or running.
	Erasures(ctx context.Context, unfinished bool, limit int) ([]Erasure, error)
	// StartErasure counts a run of an unfinished erasure, marks it running
	// and returns it with its criteria; a finished one comes back as is.
	StartErasure(ctx context.Context, id string) (Erasure, error)
	// EraseSubmission deletes a submission as DeleteSubmission does (its
	// tombstone kept too) and adds one to erasure id's count, in one
	// transaction; ErrNotFound (and no count) if the submission is absent.
	EraseSubmission(ctx context.Context, id string, ref SubmissionRef) error
	// FinishErasure ends an unfinished erasure with status at at (cause
	// for a failure), drops its criteria and appends ev, its Count set to
	// the erasure's, to the audit trail, in one transaction; it returns
	// the record and true. An erasure finished already comes back as is,
	// with false and nothing appended.
	FinishErasure(ctx context.Context, id string, status ErasureStatus, at time.Time, cause string, ev AuditEvent) (Erasure, bool, error)
}

// maxErasureError bounds the cause kept in a failed erasure's record.
const maxErasureError = 500

// Erase takes an erasure request: a person's submissions found through the
// blind index, or one submission. A dry run counts at once and records
// nothing but its audit event. Otherwise the request is recorded and, with
// Config.ErasureByQueue, left to the job queue (status queued); without,
// carried out before Erase returns (status done). The audit event records
// who, when and how many, never whose.
func (s *Server) Erase(ctx context.Context, actor string, req ErasureRequest) (Erasure, error) {
	return s.privacy.eraseRequest(ctx, actor, req)
}

// ErasureStatus returns the record of erasure id (ErrNotFound if none).
func (s *Server) ErasureStatus(ctx context.Context, id string) (Erasure, error) {
	e, err := s.cfg.Store.Erasure(ctx, id)
	if err != nil {
		return Erasure{}, err
	}
	return answer(e), nil
}

// RunErasure carries out erasure id, the work of its job (jobs.Erasure):
// it erases what is left and ends it once. final says no retry follows: an
// error then ends the erasure as failed.
func (s *Server) RunErasure(ctx context.Context, id string, final bool) error {
	_, err := s.privacy.runErasure(ctx, id, final)
	return err
}

// auditSubject is the subject of e's audit events: the device of one
// submission erased ("device:<id>", which says no more of the person than
// the device's other events do), so the console shows it to the admins of
// that device's branch only; none for a person's, whose submissions may lie
// in any branch. The store forgets the device when the erasure ends, so
// the event is where its branch is kept.
func (e Erasure) auditSubject() string {
	if e.DeviceID == "" {
		return ""
	}
	return "device:" + e.DeviceID
}

// answer is e as the API shows it: without criteria, with its status URL.
func answer(e Erasure) Erasure {
	e.Tokens, e.DeviceID, e.SubmissionKey = nil, "", ""
	if !e.DryRun {
		e.StatusURL = adminPrefix + "/erasures/" + e.ID
	}
	return e
}

func (p *privacy) eraseRequest(ctx context.Context, actor string, req ErasureRequest) (Erasure, error) {
	person := map[IdentifierKind]string{IdentNIK: req.NIK, IdentDocumentNumber: req.DocumentNumber, IdentName: req.Name}
	byPerson := req.NIK != "" || req.DocumentNumber != "" || req.Name != ""
	bySubmission := req.DeviceID != "" || req.SubmissionID != ""
	if byPerson == bySubmission || bySubmission && (req.DeviceID == "" || req.SubmissionID == "") {
		return Erasure{}, httpx.Errorf(http.StatusBadRequest, "malformed", "name a person (nik, document_number, name) or one submission (device_id and submission_id), not both")
	}
	if _, err := storableID(req.DeviceID, "the device_id"); err != nil {
		return Erasure{}, err
	}
	e := Erasure{ID: httpx.NewRequestID(), Status: ErasureQueued, Actor: actor, RequestedAt: p.s.cfg.Now().UTC(), DryRun: req.DryRun}
	if bySubmission {
		e.DeviceID, e.SubmissionKey = req.DeviceID, protocol.SubmissionKey(req.SubmissionID)
	} else {
		var err error
		if e.Tokens, err = p.tokens(person); err != nil {
			return Erasure{}, err
		}
	}
	if err := p.refusePendingReview(ctx, e); err != nil {
		return Erasure{}, err
	}
	log := func(e Erasure) {
		p.s.log.LogAttrs(ctx, slog.LevelInfo, "erasure",
			slog.String("erasure_id", e.ID), slog.String("request_id", httpx.RequestID(ctx)), slog.String("actor", actor),
			slog.Bool("dry_run", req.DryRun), slog.Bool("by_submission", bySubmission), slog.String("status", string(e.Status)),
			slog.Int("erased", e.Erased))
	}
	if req.DryRun {
		n, err := p.countErasure(ctx, e)
		if err != nil {
			return Erasure{}, err
		}
		e.Status, e.Erased, e.FinishedAt = ErasureDone, n, e.RequestedAt
		ev := AuditEvent{ID: e.ID, At: e.RequestedAt, Actor: actor, Action: AuditErasureDryRun, Subject: e.auditSubject(), Count: n}
		if err := p.s.cfg.Store.AppendAudit(ctx, ev); err != nil {
			return Erasure{}, fmt.Errorf("recording the erasure count: %w", err)
		}
		log(e)
		return answer(e), nil
	}
	queue := p.s.cfg.ErasureByQueue
	if err := p.s.cfg.Store.AddErasure(ctx, e, queue); err != nil {
		return Erasure{}, fmt.Errorf("recording the erasure request: %w", err)
	}
	if !queue {
		// The request's own run: a failure is final (the request answers
		// it); an instance dying here leaves it to resumeErasures.
		var err error
		if e, err = p.runErasure(ctx, e.ID, true); err != nil {
			return Erasure{}, err
		}
	}
	log(e)
	return answer(e), nil
}

// countErasure counts the submissions e would erase.
func (p *privacy) countErasure(ctx context.Context, e Erasure) (int, error) {
	st := p.s.cfg.Store
	if e.DeviceID != "" {
		_, err := st.Upload(ctx, e.DeviceID, e.SubmissionKey)
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("finding the submission to erase: %w", err)
		}
		return 1, nil
	}
	// A person with more than a listing's worth counts as MaxListLimit.
	subs, err := st.Submissions(ctx, Filter{Tokens: e.Tokens, Limit: MaxListLimit})
	if err != nil {
		return 0, fmt.Errorf("finding submissions to erase: %w", err)
	}
	return len(subs), nil
}

// runErasure erases what is left of erasure id and ends it. An error with
// final ends it as failed (audited with what was erased before).
func (p *privacy) runErasure(ctx context.Context, id string, final bool) (Erasure, error) {
	st := p.s.cfg.Store
	e, err := st.StartErasure(ctx, id)
	if err != nil {
		return Erasure{}, fmt.Errorf("starting erasure %s: %w", id, err)
	}
	if e.Status.Finished() {
		return e, nil
	}
	if err := p.eraseAllRecovered(ctx, e); err != nil {
		if final {
			cause := err.Error()
			if len(cause) > maxErasureError {
				cause = cause[:maxErasureError]
			}
			ctx := context.WithoutCancel(ctx)
			if _, ferr := p.finishErasure(ctx, e, ErasureFailed, cause); ferr != nil {
				err = errors.Join(err, ferr)
			}
		}
		return Erasure{}, fmt.Errorf("erasure %s: %w", id, err)
	}
	return p.finishErasure(ctx, e, ErasureDone, "")
}

// eraseAllRecovered is eraseAll with a panic (a damaged record, a
// store's bug) returned as the run's error: a job's last attempt then
// ends the erasure failed, saying why, where a panic would leave it
// running with no job left to finish it (River discards the job), and
// bbolt's resume at start (resumeErasures) logs it rather than take the
// process down at every start.
func (p *privacy) eraseAllRecovered(ctx context.Context, e Erasure) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("erasing submissions panicked: %v", r)
		}
	}()
	return p.eraseAll(ctx, e)
}

// eraseAll deletes every submission e names, each counted with its
// deletion; those gone meanwhile (erased by an earlier run, or by
// retention) are not counted.
func (p *privacy) eraseAll(ctx context.Context, e Erasure) error {
	st := p.s.cfg.Store
	if e.DeviceID != "" {
		err := p.eraseSubmission(ctx, e, SubmissionRef{DeviceID: e.DeviceID, Key: e.SubmissionKey})
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("erasing a submission: %w", err)
		}
		return nil
	}
	done := 0
	for {
		subs, err := st.Submissions(ctx, Filter{Tokens: e.Tokens, Limit: MaxListLimit})
		if err != nil {
			return fmt.Errorf("finding submissions to erase: %w", err)
		}
		for _, sub := range subs {
			switch err := p.eraseSubmission(ctx, e, SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}); {
			case err == nil:
				done++
			case !errors.Is(err, ErrNotFound):
				return fmt.Errorf("erasing submissions (%d done in this run): %w", done, err)
			}
		}
		if len(subs) < MaxListLimit {
			return nil
		}
	}
}

// eraseSubmission erases one submission of e: first the personal data of
// the partners' sessions holding it and of their webhook events
// (flowerasure.go), then the submission, so a run cut short between the
// two finds the submission again and scrubs the sessions the same; then
// the sessions once more, for an event the webhook emitter wrote between
// the two (its own check after writing, which scrubs what it wrote once
// the submission is gone, still found the submission then).
func (p *privacy) eraseSubmission(ctx context.Context, e Erasure, ref SubmissionRef) error {
	if err := p.refusePendingCase(ctx, ref); err != nil {
		return err
	}
	if err := p.eraseFlows(ctx, e, ref); err != nil {
		return err
	}
	if err := p.s.cfg.Store.EraseSubmission(ctx, e.ID, ref); err != nil {
		return err
	}
	return p.eraseFlows(ctx, e, ref)
}

// eraseFlows scrubs the partners' sessions holding ref and their events.
func (p *privacy) eraseFlows(ctx context.Context, e Erasure, ref SubmissionRef) error {
	flows, events, err := p.s.cfg.Store.EraseFlows(ctx, ref, p.s.cfg.Now().UTC())
	if err != nil {
		return fmt.Errorf("scrubbing the partners' sessions: %w", err)
	}
	if flows > 0 {
		// Counts only, as the erasure's audit event: never whose.
		p.s.log.LogAttrs(ctx, slog.LevelInfo, "erasure scrubbed partner sessions",
			slog.String("erasure_id", e.ID), slog.Int("sessions", flows), slog.Int("webhook_events", events))
	}
	return nil
}

// finishErasure ends e with its audit event, once: a run finding it ended
// by another changes nothing.
func (p *privacy) finishErasure(ctx context.Context, e Erasure, status ErasureStatus, cause string) (Erasure, error) {
	at := p.s.cfg.Now().UTC()
	action := AuditErasure
	if status == ErasureFailed {
		action = AuditErasureFailed
	}
	ev := AuditEvent{ID: e.ID, At: at, Actor: e.Actor, Action: action, Subject: e.auditSubject()}
	out, ended, err := p.s.cfg.Store.FinishErasure(ctx, e.ID, status, at, cause, ev)
	if err != nil {
		return Erasure{}, fmt.Errorf("ending erasure %s: %w", e.ID, err)
	}
	if ended {
		p.erasures.Inc()
		p.erased.Add(float64(out.Erased))
	}
	return out, nil
}

// resumeErasures carries out, in the background, the erasures a previous
// run of this instance left unfinished (it stopped mid-request); without a
// job queue nothing else would. stop waits for it.
func (p *privacy) resumeErasures(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		es, err := p.s.cfg.Store.Erasures(ctx, true, MaxListLimit)
		for _, e := range es {
			if _, rerr := p.runErasure(ctx, e.ID, false); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		if err != nil && ctx.Err() == nil {
			p.s.log.LogAttrs(ctx, slog.LevelError, "resuming erasures", slog.String("cause", err.Error()))
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (p *privacy) erase(w http.ResponseWriter, r *http.Request) error {
	var req ErasureRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxErasureBody))
	dec.DisallowUnknownFields()
	if err := decodeOne(dec, &req); err != nil {
		return badBody(err, "the erasure request must be a JSON object with nik, document_number, name, or device_id and submission_id")
	}
	e, err := p.eraseRequest(r.Context(), "admin:"+adminID(r.Context()), req)
	if err != nil {
		return err
	}
	if req.DryRun {
		httpx.WriteJSON(w, http.StatusOK, e)
		return nil
	}
	// 202 on every store: the record says whether it is done already.
	w.Header().Set("Location", e.StatusURL)
	httpx.WriteJSON(w, http.StatusAccepted, e)
	return nil
}

func (p *privacy) erasureStatus(w http.ResponseWriter, r *http.Request) error {
	e, err := p.s.ErasureStatus(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "not_found", "no erasure with this id")
	}
	if err != nil {
		return fmt.Errorf("reading the erasure: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, e)
	return nil
}
