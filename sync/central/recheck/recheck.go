// Package recheck gives central's second opinion on every approval a
// device reports: once a submission is complete (all its images
// received), central's own face engine compares the document front with
// the selfie and scores the selfie's passive liveness. An approval the
// engine contradicts goes to review (central.ReasonCentralRecheckContradicts).
//
// The device's own OS user holds the vault key and can rewrite a pending
// result before it syncs, its score made to agree with the bands (the
// attestation signs only the device report); the images are what central
// can judge for itself.
//
// The engine is a partnerapi.FaceMatcher (sync/central/facematch), which
// kyc-central gives only when the models are installed and
// --recheck-approvals is set; this package links no cgo itself. Rechecks
// run off the request path, in order of completion (central.Reviews
// Completed), behind a stored cursor (central.Partners Cursor) that moves
// only past what was judged: a restart, on either store, picks up where
// the last sweep stopped. Run is the single bbolt instance's loop; on
// PostgreSQL the job queue runs Sweep, on one instance at a time
// (jobs.Recheck), since two would judge the same approvals: each instance
// with the engine queues it (jobs.QueueRechecks), whichever instance
// leads, and only those work it.
package recheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// Cursor is the name of the stored cursor: the CompletedSeq of the last
// submission rechecked (or passed over as no approval).
const Cursor = "recheck.approvals"

// Config configures a Rechecker.
type Config struct {
	Store   central.Store
	Matcher partnerapi.FaceMatcher
	Log     *slog.Logger
	// Now stamps audit events; time.Now when nil.
	Now func() time.Time
	// Every is how often Run sweeps; DefaultEvery when 0.
	Every time.Duration
	// Batch is how many completions a sweep reads at a time; 100 when 0.
	Batch int
}

// DefaultEvery is how often Run sweeps unless Config.Every says otherwise:
// a routed approval reaches the review queue within about a minute.
const DefaultEvery = time.Minute

// Rechecker sweeps completed approvals (Sweep), on a timer (Run).
type Rechecker struct {
	cfg Config
}

// New returns a Rechecker of cfg.
func New(cfg Config) *Rechecker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Rechecker{cfg: cfg}
}

// Run sweeps at once and then every Config.Every until ctx ends, which it
// always does with ctx's cause; a failed sweep is logged and tried again
// at the next tick from where it stopped.
func (r *Rechecker) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Error("recheck of approvals failed; trying again at the next sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// Sweep rechecks the approvals completed since the cursor, in order, and
// moves the cursor past each one judged, and returns how many it
// rechecked. It stops at the first failure that is not the submission's
// (a store or engine error, ctx ending): that one is rechecked again by
// the next sweep.
func (r *Rechecker) Sweep(ctx context.Context) (int, error) {
	st := r.cfg.Store
	n := 0
	for {
		cur, err := st.Cursor(ctx, Cursor)
		if err != nil {
			return n, fmt.Errorf("recheck: reading the cursor: %w", err)
		}
		cases, err := st.Completed(ctx, cur, r.cfg.Batch)
		if err != nil {
			return n, fmt.Errorf("recheck: reading completed submissions: %w", err)
		}
		last := cur
		for _, c := range cases {
			// A hosted flow's decision is central's own engine's already.
			if c.Summary.Decision == string(risk.Approve) && !central.IsHostedDevice(c.Ref.DeviceID) {
				if err := r.recheck(ctx, c); err != nil {
					return n, errors.Join(err, r.putCursor(ctx, cur, last))
				}
				n++
			}
			last = max(last, c.CompletedSeq)
		}
		if err := r.putCursor(ctx, cur, last); err != nil {
			return n, err
		}
		if len(cases) < r.cfg.Batch {
			return n, nil
		}
	}
}

func (r *Rechecker) putCursor(ctx context.Context, from, to int64) error {
	if to == from {
		return nil
	}
	if err := r.cfg.Store.PutCursor(ctx, Cursor, to); err != nil {
		return fmt.Errorf("recheck: storing the cursor: %w", err)
	}
	return nil
}

// Finding is the After of the audit event (central.AuditDecisionDistrusted)
// of an approval central's engine contradicts: its numbers against the
// device's claims. Reason, Decision and Score are named as the
// decisionDoubt of the bands check names them, so the console reads both.
type Finding struct {
	Reason   string  `json:"reason"`
	Decision string  `json:"device_decision"`
	Score    float64 `json:"score"`
	// Problem is the image the engine could not use and why
	// ("selfie: no_face: ..."); empty when it compared them.
	Problem string `json:"problem,omitempty"`
	// Similarity, MatchScore and MatchThreshold are central's comparison
	// of the selfie with the document front (MatchScore below
	// MatchThreshold: not the same person).
	Similarity     float64 `json:"similarity"`
	MatchScore     float64 `json:"match_score"`
	MatchThreshold float64 `json:"match_threshold"`
	// Liveness is central's passive liveness of the selfie, and
	// LivenessThreshold the floor below which the risk configuration
	// rejects it as a spoof at any challenge (FaceLivenessChallengeMin).
	Liveness          float64 `json:"liveness"`
	LivenessThreshold float64 `json:"liveness_threshold"`
	// DeviceSimilarity and DeviceLiveness are what the device's report
	// claims; absent when it claims nothing.
	DeviceSimilarity *float64 `json:"device_similarity,omitempty"`
	DeviceLiveness   *float64 `json:"device_liveness,omitempty"`
	Detail           string   `json:"detail"`
}

// errUnjudgeable marks a submission central cannot recheck (its images
// erased, or never sent): it is passed over, not retried.
var errUnjudgeable = errors.New("recheck: the submission's images are not all held")

// recheck judges one complete approval, and routes it to review when the
// engine contradicts it.
func (r *Rechecker) recheck(ctx context.Context, c central.Case) error {
	log := r.cfg.Log.With("device_id", c.Ref.DeviceID, "key", c.Ref.Key)
	f, err := r.judge(ctx, c)
	switch {
	case errors.Is(err, errUnjudgeable):
		log.Warn("approval not rechecked: its images are not all held", "err", err)
		return nil
	case err != nil:
		return err
	case f == nil:
		log.Debug("approval rechecked: central's engine agrees")
		return nil
	}
	after, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("recheck: encoding the finding: %w", err)
	}
	ev := central.AuditEvent{ID: httpx.NewRequestID(), At: r.cfg.Now().UTC(), Actor: "central", Action: central.AuditDecisionDistrusted,
		Subject: "case:" + c.Ref.DeviceID + "/" + c.Ref.Key, Count: 1, After: after}
	routed, err := r.cfg.Store.RouteApproval(ctx, c.Ref, central.ReasonCentralRecheckContradicts, ev)
	if errors.Is(err, central.ErrNotFound) {
		return nil // erased meanwhile
	}
	if err != nil {
		return fmt.Errorf("recheck: %w", err)
	}
	if routed {
		log.Warn("device approval contradicted by central's face engine; routed to review", "detail", f.Detail)
	}
	return nil
}

// judge runs the engine on c's document front and selfie: nil when it
// agrees with the approval.
func (r *Rechecker) judge(ctx context.Context, c central.Case) (*Finding, error) {
	sub, err := r.cfg.Store.Upload(ctx, c.Ref.DeviceID, c.Ref.Key)
	if errors.Is(err, central.ErrNotFound) {
		return nil, fmt.Errorf("%w: erased", errUnjudgeable)
	}
	if err != nil {
		return nil, fmt.Errorf("recheck: reading the submission: %w", err)
	}
	if !sub.ImagesErasedAt.IsZero() {
		return nil, fmt.Errorf("%w: erased by retention", errUnjudgeable)
	}
	f := &Finding{Reason: central.ReasonCentralRecheckContradicts, Decision: c.Summary.Decision, Score: c.Summary.Score}
	f.DeviceSimilarity, f.DeviceLiveness = claims(sub.Payload)
	imgs := map[string][]byte{}
	for _, name := range []string{submission.ImageFront, submission.ImageSelfie} {
		if _, ok := sub.Image(name); !ok {
			// A device seals every attempt with both: an approval without
			// one offers central nothing to check it by.
			f.Problem = "no " + name + " image"
			f.Detail = fmt.Sprintf("the device approved at score %g, but sent no %s image for central's face engine to check", c.Summary.Score, name)
			return f, nil
		}
		b, err := r.cfg.Store.ImageData(ctx, c.Ref.DeviceID, c.Ref.Key, name)
		if errors.Is(err, central.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s erased", errUnjudgeable, name)
		}
		if err != nil {
			return nil, fmt.Errorf("recheck: reading the %s image: %w", name, err)
		}
		imgs[name] = b
	}
	res, err := r.cfg.Matcher.Match(ctx, partnerapi.FaceMatchRequest{Selfie: imgs[submission.ImageSelfie], Reference: imgs[submission.ImageFront]})
	var unusable *partnerapi.FaceMatchError
	switch {
	case errors.As(err, &unusable):
		// The device approved a face match on an image in which central's
		// engine finds no usable face.
		img := unusable.Image
		if img == "reference" {
			img = "document front"
		}
		f.Problem = img + ": " + unusable.Err.Error()
		f.Detail = fmt.Sprintf("the device approved at score %g, but central's face engine cannot use the %s", c.Summary.Score, f.Problem)
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("recheck: matching the selfie with the document: %w", err)
	}
	f.Similarity, f.MatchScore, f.MatchThreshold = res.Similarity, res.Score, res.Threshold
	floor, err := r.livenessFloor(ctx)
	if err != nil {
		return nil, err
	}
	live := true
	if res.Liveness != nil {
		f.Liveness, f.LivenessThreshold = res.Liveness.Score, floor
		live = res.Liveness.Score >= floor
	}
	switch {
	case res.Score < res.Threshold && !live:
		f.Detail = fmt.Sprintf("the device approved at score %g, but central's face engine finds the selfie does not match the document (score %.1f below %.1f) and is not live (%.3f below %.3f)",
			c.Summary.Score, res.Score, res.Threshold, f.Liveness, f.LivenessThreshold)
	case res.Score < res.Threshold:
		f.Detail = fmt.Sprintf("the device approved at score %g, but central's face engine finds the selfie does not match the document (score %.1f below %.1f)",
			c.Summary.Score, res.Score, res.Threshold)
	case !live:
		f.Detail = fmt.Sprintf("the device approved at score %g, but central's face engine finds the selfie not live (%.3f below %.3f)",
			c.Summary.Score, f.Liveness, f.LivenessThreshold)
	default:
		return nil, nil
	}
	return f, nil
}

// livenessFloor is the passive liveness below which the current risk
// configuration rejects a selfie as a spoof whatever else (the bottom of
// its band of doubt, FaceLivenessChallengeMin). Above it, up to
// FaceLivenessMin, the device may have approved after an active
// challenge, whose frames central does not hold: a liveness there does
// not contradict the approval.
func (r *Rechecker) livenessFloor(ctx context.Context) (float64, error) {
	doc, version, err := r.cfg.Store.Risk(ctx)
	if err != nil {
		return 0, fmt.Errorf("recheck: reading the risk configuration: %w", err)
	}
	cfg := risk.DefaultConfig()
	if version > 0 {
		// One the engine cannot apply no device installs: the defaults
		// are what central can name (as the bands check does).
		if parsed, err := risk.ParseConfig(doc); err == nil {
			cfg = parsed
		}
	}
	return cfg.Thresholds.FaceLivenessChallengeMin, nil
}

// claims reads the face match similarity and the liveness score the
// device's report claims; nil for what it does not claim (or a payload
// retention emptied).
func claims(payload []byte) (similarity, liveness *float64) {
	var p struct {
		Report *struct {
			Face struct {
				Match *struct {
					Similarity float64 `json:"similarity"`
				} `json:"match"`
				Liveness *struct {
					Score float64 `json:"score"`
				} `json:"liveness"`
			} `json:"face"`
		} `json:"report"`
	}
	if json.Unmarshal(payload, &p) != nil || p.Report == nil {
		return nil, nil
	}
	if m := p.Report.Face.Match; m != nil {
		similarity = &m.Similarity
	}
	if l := p.Report.Face.Liveness; l != nil {
		liveness = &l.Score
	}
	return similarity, liveness
}
