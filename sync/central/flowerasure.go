package central

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Erasure reaches a partner's sessions too: a submission erased on request
// leaves no personal data in the FlowSession that holds it (the partner's
// user reference, the hosted flow's result and capture hashes) nor in that
// session's webhook events (decision, score, reason codes, review). The
// session keeps its id, status and times, marked erased (ErasedAt), so the
// partner API answers it consistently; each event keeps its id, type and
// time, its body reduced to ErasedEventPayload. An event still owed is
// delivered with that body: the partner learns the session was erased
// (at-least-once kept), and nothing personal leaves (erasure wins).

// ErasedUserID replaces the partner's user reference of an erased session.
const ErasedUserID = "erased"

// FlowEraser scrubs partners' sessions of an erased submission.
type FlowEraser interface {
	// EraseFlows scrubs every partner session whose Submissions hold ref
	// (ScrubFlow, stamped at) and rewrites the payload of each of its
	// webhook events, pending or not, to ErasedEventPayload, in one
	// transaction; it returns how many sessions and events it changed.
	// A session scrubbed already is scrubbed again the same (a retried
	// erasure), and counted.
	EraseFlows(ctx context.Context, ref SubmissionRef, at time.Time) (flows, events int, err error)
}

// PushLane is the SessionID of a session's enterprise push events
// (webhook.PushLane): they are the session's events too.
func PushLane(sessionID string) string { return "push/" + sessionID }

// FlowLanes are the SessionIDs of a session's events: its webhooks' and
// its pushes'.
func FlowLanes(sessionID string) []string { return []string{sessionID, PushLane(sessionID)} }

// ScrubFlow removes the personal data of a session erased at at: the
// partner's user reference and the hosted flow's result, captures and
// browser bindings. Its status, attempts and times stay: they tell the
// partner what became of the session, not about whom. A kiosk's own
// session keeps its user reference, the device's id (no person's, and
// what tells the emitter the session is the kiosk's).
func ScrubFlow(f *FlowSession, at time.Time) {
	if !slices.ContainsFunc(f.Submissions, func(r SubmissionRef) bool { return r.DeviceID == f.UserID }) {
		f.UserID = ErasedUserID
	}
	if f.ErasedAt.IsZero() {
		f.ErasedAt = at
	}
	if h := f.Hosted; h != nil {
		// The stage and kiosk stay: the hosted page still knows where the
		// session stands (it shows the result screen, without a result).
		f.Hosted = &HostedFlow{Stage: h.Stage, Lang: h.Lang, LaunchUsedAt: h.LaunchUsedAt, FinishedAt: h.FinishedAt, KioskDevice: h.KioskDevice}
	}
}

// erasedEvent is the body of a webhook event whose session was erased:
// the shape of every event (type, timestamp, data with the session id and
// status) with erased set and nothing about the person.
type erasedEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		SessionID string     `json:"session_id"`
		Status    FlowStatus `json:"status"`
		Attempts  int        `json:"attempts"`
		Erased    bool       `json:"erased"`
	} `json:"data"`
}

// ErasedEventPayload is ev's body once its session was erased: its type,
// timestamp, session id, and the status and attempts it reported (the
// members every event has), with erased: true.
func ErasedEventPayload(ev WebhookEvent) (json.RawMessage, error) {
	var old erasedEvent
	_ = json.Unmarshal(ev.Payload, &old) // a body of another shape keeps nothing
	out := erasedEvent{Type: ev.Type, Timestamp: old.Timestamp}
	if out.Timestamp.IsZero() {
		out.Timestamp = ev.CreatedAt.UTC()
	}
	out.Data.SessionID, out.Data.Status, out.Data.Attempts, out.Data.Erased = old.Data.SessionID, old.Data.Status, old.Data.Attempts, true
	if out.Data.SessionID == "" {
		out.Data.SessionID = ev.SessionID
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding an erased event: %w", err)
	}
	return b, nil
}
