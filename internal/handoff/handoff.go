// Package handoff is the kiosk's side of the Smart QR hand-off (issue 19
// item 4): an enrolled device without a camera asks central to open a
// hosted capture session, shows its QR code and short code, the customer
// continues on their phone, and the device follows the session until
// central has the result.
//
// Requests are signed with the device's key like every sync request (an
// agent.Uploader carries them, with its clock correction and retries);
// central's side is the hosted flow's device endpoints
// (protocol.PathHandoffs). The session belongs to the partner owning the
// device's branch (its webhooks fire and Get Submission Details finds it),
// or, when no partner owns the branch, it is a kiosk session only the
// device and central's console see.
package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/protocol"
)

// Errors of the client; others are the agent's (agent.ErrUnreachable,
// *agent.CentralError, ...) wrapped with what was being done.
var (
	// ErrUnavailable means central does not offer the hand-off now: the
	// hosted flow is not served, or its models are not installed.
	ErrUnavailable = errors.New("handoff: central does not offer the phone hand-off")
	// ErrNotFound means central knows no hand-off of this device by that
	// id.
	ErrNotFound = errors.New("handoff: no such hand-off for this device")
	// ErrFinished means the hand-off cannot be canceled any more: it has
	// a final result, or expired.
	ErrFinished = errors.New("handoff: the hand-off is finished")
	// ErrPartnerDisabled means the partner owning the device's branch is
	// disabled on central: no hand-off until an administrator enables it.
	ErrPartnerDisabled = errors.New("handoff: the partner of this branch is disabled on central")
)

// Wire types, shared with central.
type (
	// Request opens a hand-off; every member is optional.
	Request = protocol.HandoffRequest
	// Handoff is an open hand-off: the QR code (URL, QRSVG), the short
	// code and the page to type it at (CodeURL), their expiry.
	Handoff = protocol.Handoff
	// Status is where a hand-off stands; Final says to stop polling.
	Status = protocol.HandoffStatus
)

// Stages of Status.Stage.
const (
	StageWaiting    = protocol.HandoffWaiting
	StagePhone      = protocol.HandoffPhone
	StageProcessing = protocol.HandoffProcessing
	StageResult     = protocol.HandoffResult
	StageExpired    = protocol.HandoffExpired
	StageCanceled   = protocol.HandoffCanceled
)

// DefaultPoll is how often Wait asks central when given no interval.
const DefaultPoll = time.Second

// Client opens and follows hand-offs for one enrolled device. It is safe
// for concurrent use.
type Client struct {
	up *agent.Uploader
}

// New returns a client that sends through up (the device's uploader, as
// the sync loop has it).
func New(up *agent.Uploader) *Client { return &Client{up: up} }

// Start opens a hand-off.
func (c *Client) Start(ctx context.Context, req Request) (Handoff, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Handoff{}, fmt.Errorf("handoff: encoding the request: %w", err)
	}
	var h Handoff
	if err := c.call(ctx, http.MethodPost, protocol.PathHandoffs, body, &h); err != nil {
		return Handoff{}, fmt.Errorf("opening a hand-off: %w", err)
	}
	return h, nil
}

// Status asks central where hand-off id stands.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	var st Status
	if err := c.call(ctx, http.MethodGet, protocol.PathHandoffs+url.PathEscape(id), nil, &st); err != nil {
		return Status{}, fmt.Errorf("reading hand-off %s: %w", id, err)
	}
	return st, nil
}

// Wait polls hand-off id every interval (0: DefaultPoll) until its status
// is final or ctx ends, and returns the last status. onChange, when not
// nil, gets each status that differs from the one before (the first one
// included), on Wait's goroutine. A failed poll (central unreachable for a
// moment) is retried at the next tick; ErrNotFound and ErrUnavailable end
// the wait.
func (c *Client) Wait(ctx context.Context, id string, interval time.Duration, onChange func(Status)) (Status, error) {
	if interval <= 0 {
		interval = DefaultPoll
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last Status
	var lastErr error
	seen := false
	for {
		st, err := c.Status(ctx, id)
		switch {
		case err == nil:
			if !seen || st != last {
				if onChange != nil {
					onChange(st)
				}
			}
			last, seen, lastErr = st, true, nil
			if st.Final {
				return st, nil
			}
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnavailable), ctx.Err() != nil:
			return last, err
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("%w (last poll: %v)", ctx.Err(), lastErr)
			}
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// Cancel ends hand-off id before a result (the customer left): the phone
// link stops working and the session ends in ERROR (error_code canceled).
// ErrFinished if it already has a final result or expired.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if err := c.call(ctx, http.MethodDelete, protocol.PathHandoffs+url.PathEscape(id), nil, nil); err != nil {
		return fmt.Errorf("canceling hand-off %s: %w", id, err)
	}
	return nil
}

// call sends a request and decodes its JSON answer into out (nil: none),
// mapping central's refusals to the package's errors.
func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	status, answer, err := c.up.Call(ctx, method, path, body)
	if ce, ok := errors.AsType[*agent.CentralError](err); ok {
		switch {
		case ce.Code == "handoff_unknown":
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case ce.Code == "partner_disabled":
			return fmt.Errorf("%w: %w", ErrPartnerDisabled, err)
		// 501: the hosted flow is served without its models; 404: not
		// served at all. Neither is retried.
		case ce.Status == http.StatusNotImplemented, ce.Status == http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if err != nil {
		return err
	}
	if status == http.StatusConflict {
		return ErrFinished
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("reading central's answer: %w", err)
	}
	return nil
}
