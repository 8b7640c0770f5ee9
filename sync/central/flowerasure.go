package central

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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
// The receivers' answers kept with the events' delivery attempts lose
// their excerpts, and the Idempotency-Key answers naming the session are
// dropped (AnswerSession).

// ErasedUserID replaces the partner's user reference of an erased session.
const ErasedUserID = "erased"

// FlowEraser scrubs partners' sessions of an erased submission.
type FlowEraser interface {
	// EraseFlows scrubs every partner session whose Submissions hold ref
	// (ScrubFlow, stamped at) and rewrites the payload of each of its
	// webhook events, pending or not, to ErasedEventPayload, in one
	// transaction; it returns how many sessions and events it changed.
	// In that transaction it also empties the Excerpt of those events'
	// delivery attempts that had an answer (Status not 0: the receiver's
	// body, which may echo the event), deletes the stored
	// Idempotency-Key answers of those sessions (AnswerSession) and, in a
	// store that keeps HostedStates, every hosted state value under those
	// sessions' HostedSessionPrefix (a session in progress, after a
	// RETRY, holds the captures of its next attempt). The
	// sessions are found by an index of their Submissions, not by reading
	// every session. A session scrubbed already is scrubbed again the
	// same (a retried erasure), and counted. Expire(ExpireDecision) does
	// the same in its transaction for each submission it deletes:
	// retention reaches the sessions as erasure does.
	EraseFlows(ctx context.Context, ref SubmissionRef, at time.Time) (flows, events int, err error)
}

// PushLane is the SessionID of a session's enterprise push events
// (webhook.PushLane): they are the session's events too.
func PushLane(sessionID string) string { return "push/" + sessionID }

// FlowLanes are the SessionIDs of a session's events: its webhooks' and
// its pushes'.
func FlowLanes(sessionID string) []string { return []string{sessionID, PushLane(sessionID)} }

// ScrubFlow removes the personal data of a session erased at at: the
// partner's user reference, the hosted flow's result, captures and
// browser bindings, and its Config's URLs but for their origins
// (personalConfig). Its status, attempts and times stay: they tell the
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
	f.Config = scrubConfig(f.Config)
}

// personalConfig are the members of a session's Config (the partner API's
// schema) that may name the person: partners put their user's id in
// their URLs' paths and queries; the origin is the partner's own.
var personalConfig = []string{"callback_url", "redirect_url"}

// scrubConfig cuts cfg's personalConfig URLs to their origins, which the
// hosted page of the erased session still frames and redirects to; the
// rest of the Config (documents, thresholds, times) is the partner's
// policy, about no one. A Config of another shape is kept as it is.
func scrubConfig(cfg json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &m); err != nil || m == nil {
		return cfg
	}
	changed := false
	for _, k := range personalConfig {
		var raw string
		if err := json.Unmarshal(m[k], &raw); err != nil || raw == "" {
			continue
		}
		origin := ""
		if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
			origin = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
		}
		if origin == raw {
			continue
		}
		m[k], _ = json.Marshal(origin) // a string always encodes
		changed = true
	}
	if !changed {
		return cfg
	}
	out, err := json.Marshal(m)
	if err != nil {
		return cfg
	}
	return out
}

// AnswerSession is the partner session a stored Idempotency-Key answer is
// about: its top-level session_id (Initiate Flow's answer, which carries
// the session's Config); "" for any other answer. The stores keep the
// answer under that session, so that EraseFlows finds and drops it.
func AnswerSession(body []byte) string {
	var a struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return ""
	}
	return a.SessionID
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
