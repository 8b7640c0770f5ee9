package hostedflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The live state every instance shares (central.HostedStates, sealed by
// the store): each capture's bytes under capKey until the session ends
// (the session records which it holds: HostedFlow.Captured), and each
// Smart QR short code under codeKey until it expires.

// stateGrace keeps captures a little past their session's expiry, for a
// verification that started just before it.
const stateGrace = 10 * time.Minute

// capKey is where a step's capture is kept: under the session's prefix,
// which erasure deletes (central.HostedSessionKey).
func capKey(partnerID, sessionID, step string) string {
	return central.HostedSessionKey(partnerID, sessionID, step)
}

func codeKey(code string) string { return "code/" + code }

// codeRef is a short code's value: the session and the phone link's
// secret it stands for.
type codeRef struct {
	PartnerID string `json:"p"`
	SessionID string `json:"s"`
	Secret    string `json:"k"`
}

// storeCapture keeps data as the step's capture (with the selfie's
// challenges done and their frames, under stepChallenge) and records it
// in the session, adding charge to its bytes uploaded, with where a selfie came from (origin: the upload form,
// or a camera feed and how it was judged); 409 when the session is not
// capturing any more (a submit or a result came first).
func (f *Flow) storeCapture(ctx context.Context, s *sess, step string, data []byte, charge int64, done []challengeCapture, origin captureOrigin) error {
	exp := s.fs.ExpiresAt.Add(stateGrace)
	if err := f.hs.PutHostedState(ctx, capKey(s.fs.PartnerID, s.fs.ID, step), data, exp); err != nil {
		return fmt.Errorf("storing the capture: %w", err)
	}
	var challenges []string
	var frames []byte
	if step == stepSelfie && len(done) > 0 {
		var err error
		if frames, err = json.Marshal(done); err != nil {
			return fmt.Errorf("encoding the challenge frames: %w", err)
		}
		if err := f.hs.PutHostedState(ctx, capKey(s.fs.PartnerID, s.fs.ID, stepChallenge), frames, exp); err != nil {
			return fmt.Errorf("storing the challenge frames: %w", err)
		}
		for _, c := range done {
			challenges = append(challenges, c.Prompt)
		}
	}
	now := f.now()
	// keep are the values just stored that the session records as they
	// are (a refused capture that put back the bytes it already held).
	var keep []string
	fs, err := f.cfg.Store.UpdateFlow(ctx, s.fs.PartnerID, s.fs.ID, func(fs *central.FlowSession) ([]central.WebhookEvent, error) {
		h := fs.Hosted
		if !fs.ErasedAt.IsZero() {
			return nil, errErasedMeanwhile
		}
		if h == nil || f.processing(ctx, *fs) || h.Stage == "result" || !h.FinishedAt.IsZero() {
			keep = nil
			if h != nil && bytes.Equal(h.Sums[step], sum(data)) {
				keep = append(keep, step)
			}
			if h != nil && frames != nil && bytes.Equal(h.Sums[stepChallenge], sum(frames)) {
				keep = append(keep, stepChallenge)
			}
			return nil, errUsed
		}
		if !slices.Contains(h.Captured, step) {
			h.Captured = append(h.Captured, step)
		}
		if h.Sums == nil {
			h.Sums = map[string][]byte{}
		}
		h.Sums[step] = sum(data)
		if step == stepSelfie {
			h.Challenges, h.SelfieUploaded, h.FeedSuspect = challenges, origin.uploaded, origin.feed
			delete(h.Sums, stepChallenge)
			if frames != nil {
				h.Sums[stepChallenge] = sum(frames)
			}
		}
		h.Uploaded += charge
		fs.UpdatedAt = now
		return nil, nil
	})
	if errors.Is(err, errErasedMeanwhile) {
		// The erasure deleted the session's captures before these were
		// stored: they go now, not when the session expires.
		steps := []string{step}
		if frames != nil {
			steps = append(steps, stepChallenge)
		}
		f.deleteCaptures(ctx, s.fs, steps...)
		return httpx.Errorf(http.StatusConflict, "not_capturing", "nothing to capture now")
	}
	if errors.Is(err, errUsed) {
		// Refused (a result, a finish or a submit came first): its bytes
		// go now, not when the session expires, unless they are the
		// capture the session holds for its next attempt. A result's or
		// a finish's deletion may have come before they were stored.
		var steps []string
		for _, st := range []string{step, stepChallenge} {
			if (st == step || frames != nil) && !slices.Contains(keep, st) {
				steps = append(steps, st)
			}
		}
		f.deleteCaptures(ctx, s.fs, steps...)
		return httpx.Errorf(http.StatusConflict, "not_capturing", "nothing to capture now")
	}
	if err != nil {
		return fmt.Errorf("recording the capture: %w", err)
	}
	s.fs = fs
	return nil
}

// loadCapture reads a step's capture: ErrNotFound also when its bytes are
// not those the session recorded (HostedFlow.Sums; sessions recorded
// before the sums were kept have none).
func (f *Flow) loadCapture(ctx context.Context, fs central.FlowSession, step string) ([]byte, error) {
	b, err := f.hs.HostedState(ctx, capKey(fs.PartnerID, fs.ID, step), f.now())
	if err != nil {
		return nil, fmt.Errorf("reading the %s capture: %w", step, err)
	}
	if want, ok := fs.Hosted.Sums[step]; ok && !bytes.Equal(sum(b), want) {
		return nil, fmt.Errorf("reading the %s capture: not the one recorded: %w", step, central.ErrNotFound)
	}
	return b, nil
}

// errErasedMeanwhile is storeCapture's: an erasure scrubbed the session
// while its capture was in flight.
var errErasedMeanwhile = errors.New("hostedflow: session erased meanwhile")

func sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// deleteCaptures deletes steps' captures from the store; a failure is
// logged (the values expire with the session anyway).
func (f *Flow) deleteCaptures(ctx context.Context, fs central.FlowSession, steps ...string) {
	keys := make([]string, 0, len(steps))
	for _, st := range steps {
		keys = append(keys, capKey(fs.PartnerID, fs.ID, st))
	}
	if err := f.hs.DeleteHostedState(ctx, keys...); err != nil {
		f.log.LogAttrs(ctx, slog.LevelWarn, "hosted flow: deleting captures", slog.String("session", fs.ID), slog.String("cause", err.Error()))
	}
}

// newCode stores a new short code for ref until exp.
func (f *Flow) newCode(ctx context.Context, ref codeRef, exp time.Time) (string, error) {
	b, err := json.Marshal(ref)
	if err != nil {
		return "", err
	}
	for range 8 {
		code := newShortCode()
		err := f.hs.CreateHostedState(ctx, codeKey(code), b, f.now(), exp)
		if err == nil {
			return code, nil
		}
		if !errors.Is(err, central.ErrConflict) {
			return "", fmt.Errorf("storing the short code: %w", err)
		}
	}
	return "", errors.New("hostedflow: no free short code after 8 tries")
}

// lookupCode finds a short code's session; ErrNotFound if it has none.
func (f *Flow) lookupCode(ctx context.Context, code string) (codeRef, error) {
	var ref codeRef
	b, err := f.hs.HostedState(ctx, codeKey(code), f.now())
	if err != nil {
		return ref, err
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		return ref, fmt.Errorf("reading the short code: %w", err)
	}
	return ref, nil
}
