package seal

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// A partner's user reference (partner_user_id, often an e-mail address) is
// personal data of a session, not of a submission: it is stored before any
// attempt exists and outlives every KEK a rotation retires. It is sealed
// with the Indexer's field key (SealField), bound to where it belongs: a
// FlowSession's UserID to its partner and session id, an event body's
// partner_user_id members to the event id. A sealed reference is stored
// as userSealPrefix and the base64 of the sealed bytes: user references
// hold only letters, digits and "._:@+-" (partnerapi and hostedflow check
// them), so one stored before sealing never starts with it and reads as it
// is, until SealStoredUsers (storedusers.go) seals it at central's start.
// Erasure needs nothing more: it overwrites the session's reference
// (central.ScrubFlow) and its events' bodies. No store looks a session up
// by its user reference, so there is no blind index of it.

// userSealPrefix marks a sealed user reference ('~' is in no clear one).
const userSealPrefix = "~s1~"

// userField is the member of webhook and push event bodies holding the
// partner's user reference, at whatever depth.
const userField = "partner_user_id"

func flowUserAAD(partnerID, id string) []byte {
	return []byte("openkyc central seal v1\x00flow-user\x00" + partnerID + "\x00" + id)
}

func eventUserAAD(eventID string) []byte {
	return []byte("openkyc central seal v1\x00event-user\x00" + eventID)
}

// sealUser returns the stored form of a user reference.
func (s *Store) sealUser(plain, aad []byte) (string, error) {
	sealed, err := s.idx.SealField(plain, aad)
	if err != nil {
		return "", err
	}
	return userSealPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openUser returns the plain user reference of a stored one, which is
// plain already when it lacks userSealPrefix.
func (s *Store) openUser(stored string, aad []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(stored, userSealPrefix)
	if !ok {
		return []byte(stored), nil
	}
	sealed, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, ErrTampered
	}
	return s.idx.OpenField(sealed, aad)
}

// keepsClearUser reports whether a session's user reference is stored
// clear: none, one erased, and a kiosk's own session's, which is the
// device's id (no person's; central.ScrubFlow, run inside the stores,
// compares it with the session's submissions).
func keepsClearUser(f *central.FlowSession) bool {
	return f.UserID == "" || f.UserID == central.ErasedUserID || f.UserIDType == partnerapi.KioskUserIDType
}

func (s *Store) sealFlow(f *central.FlowSession) error {
	if keepsClearUser(f) {
		return nil
	}
	u, err := s.sealUser([]byte(f.UserID), flowUserAAD(f.PartnerID, f.ID))
	if err != nil {
		return fmt.Errorf("sealing the session's user reference: %w", err)
	}
	f.UserID = u
	return nil
}

func (s *Store) openFlow(f *central.FlowSession) error {
	u, err := s.openUser(f.UserID, flowUserAAD(f.PartnerID, f.ID))
	if err != nil {
		return fmt.Errorf("opening the session's user reference: %w", err)
	}
	f.UserID = string(u)
	return nil
}

// userValues returns where each userField member's value (a JSON string)
// is in body, [start, end) pairs in order; nil when body is not JSON.
func userValues(body []byte) [][2]int {
	dec := json.NewDecoder(bytes.NewReader(body))
	var (
		objects []bool // the open containers, true for an object
		key     bool   // the next token is a member's name
		isUser  bool   // the next token is userField's value
		out     [][2]int
	)
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF && len(objects) == 0 {
			return out
		}
		if err != nil {
			return nil
		}
		d, isDelim := tok.(json.Delim)
		switch str, isStr := tok.(string); {
		case isDelim && (d == '{' || d == '['):
			objects = append(objects, d == '{')
			key, isUser = d == '{', false
			continue
		case isDelim:
			objects = objects[:len(objects)-1]
		case isStr && key:
			key, isUser = false, str == userField
			continue
		case isStr && isUser:
			// The value starts at the first quote after the name's end
			// (past ':' and blanks).
			start := before + int64(bytes.IndexByte(body[before:], '"'))
			out = append(out, [2]int{int(start), int(dec.InputOffset())})
		}
		// A value ended: in an object, a name comes next.
		key, isUser = len(objects) > 0 && objects[len(objects)-1], false
	}
}

// mapUsers returns body with each userField value replaced by fn of its
// JSON text (quotes and escapes as written).
func mapUsers(body []byte, fn func(raw []byte) ([]byte, error)) ([]byte, error) {
	spans := userValues(body)
	if len(spans) == 0 {
		return body, nil
	}
	out := make([]byte, 0, len(body))
	last := 0
	for _, sp := range spans {
		v, err := fn(body[sp[0]:sp[1]])
		if err != nil {
			return nil, err
		}
		out = append(append(out, body[last:sp[0]]...), v...)
		last = sp[1]
	}
	return append(out, body[last:]...), nil
}

// sealEvent seals the user references in an event's body; the JSON text
// of each is sealed as written, so the body opens to the bytes it had
// (the body is signed as stored).
func (s *Store) sealEvent(ev *central.WebhookEvent) error {
	p, err := mapUsers(ev.Payload, func(raw []byte) ([]byte, error) {
		var v string
		if json.Unmarshal(raw, &v) != nil || v == "" {
			return raw, nil
		}
		u, err := s.sealUser(raw, eventUserAAD(ev.ID))
		if err != nil {
			return nil, err
		}
		return []byte(`"` + u + `"`), nil
	})
	if err != nil {
		return fmt.Errorf("sealing the user reference of event %s: %w", ev.ID, err)
	}
	ev.Payload = p
	return nil
}

func (s *Store) openEvent(ev *central.WebhookEvent) error {
	p, err := mapUsers(ev.Payload, func(raw []byte) ([]byte, error) {
		var v string
		if json.Unmarshal(raw, &v) != nil || !strings.HasPrefix(v, userSealPrefix) {
			return raw, nil
		}
		return s.openUser(v, eventUserAAD(ev.ID))
	})
	if err != nil {
		return fmt.Errorf("opening the user reference of event %s: %w", ev.ID, err)
	}
	ev.Payload = p
	return nil
}

func (s *Store) sealEvents(evs []central.WebhookEvent) ([]central.WebhookEvent, error) {
	if len(evs) == 0 {
		return evs, nil
	}
	out := make([]central.WebhookEvent, len(evs)) // the caller's stay plain
	copy(out, evs)
	for i := range out {
		if err := s.sealEvent(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) openEvents(evs []central.WebhookEvent) error {
	for i := range evs {
		if err := s.openEvent(&evs[i]); err != nil {
			return err
		}
	}
	return nil
}

// A delivery attempt's Excerpt is the start of the receiver's answer (or
// the transport's error), which may echo the event's body: it is sealed
// whole, bound to the event, as the references are. An excerpt stored
// before sealing reads as it is, unless it began with userSealPrefix
// (no receiver's answer is expected to).

func excerptAAD(eventID string) []byte {
	return []byte("openkyc central seal v1\x00attempt-excerpt\x00" + eventID)
}

func (s *Store) sealAttempt(a *central.DeliveryAttempt) error {
	if a.Excerpt == "" {
		return nil
	}
	e, err := s.sealUser([]byte(a.Excerpt), excerptAAD(a.EventID))
	if err != nil {
		return fmt.Errorf("sealing the excerpt of an attempt at event %s: %w", a.EventID, err)
	}
	a.Excerpt = e
	return nil
}

func (s *Store) openAttempt(a *central.DeliveryAttempt) error {
	e, err := s.openUser(a.Excerpt, excerptAAD(a.EventID))
	if err != nil {
		return fmt.Errorf("opening the excerpt of an attempt at event %s: %w", a.EventID, err)
	}
	a.Excerpt = string(e)
	return nil
}

// RecordAttempt implements central.Webhooks: the excerpt sealed.
func (s *Store) RecordAttempt(ctx context.Context, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	if err := s.sealAttempt(&a); err != nil {
		return err
	}
	return s.Store.RecordAttempt(ctx, a, delivered, nextAt, deadAt)
}

// RecordLeased implements central.WebhookLanes: the excerpt sealed.
func (s *Store) RecordLeased(ctx context.Context, l central.LaneLease, a central.DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error {
	if err := s.sealAttempt(&a); err != nil {
		return err
	}
	return s.Store.RecordLeased(ctx, l, a, delivered, nextAt, deadAt)
}

// Attempts implements central.Webhooks.
func (s *Store) Attempts(ctx context.Context, eventID string) ([]central.DeliveryAttempt, error) {
	as, err := s.Store.Attempts(ctx, eventID)
	if err != nil {
		return nil, err
	}
	for i := range as {
		if err := s.openAttempt(&as[i]); err != nil {
			return nil, err
		}
	}
	return as, nil
}

// WebhookHealth implements central.Webhooks: the last attempt opened.
func (s *Store) WebhookHealth(ctx context.Context, partnerID string, window int) (central.WebhookHealth, error) {
	h, err := s.Store.WebhookHealth(ctx, partnerID, window)
	if err != nil {
		return h, err
	}
	return h, s.openAttempt(&h.Last)
}

// CreateFlow implements central.Partners: the user reference sealed.
func (s *Store) CreateFlow(ctx context.Context, f central.FlowSession) error {
	if err := s.sealFlow(&f); err != nil {
		return err
	}
	return s.Store.CreateFlow(ctx, f)
}

// UpdateFlow implements central.Partners: fn sees the session opened; a
// sealed user reference it leaves unchanged is stored as it was (sealed
// once), any other is sealed (one stored clear before is sealed now), and
// its events' bodies are sealed.
func (s *Store) UpdateFlow(ctx context.Context, partnerID, id string, fn func(*central.FlowSession) ([]central.WebhookEvent, error)) (central.FlowSession, error) {
	f, err := s.Store.UpdateFlow(ctx, partnerID, id, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		stored := f.UserID
		if err := s.openFlow(f); err != nil {
			return nil, err
		}
		opened := f.UserID
		evs, err := fn(f)
		if err != nil {
			return nil, err
		}
		if f.UserID == opened && stored != opened {
			f.UserID = stored
		} else if err := s.sealFlow(f); err != nil {
			return nil, err
		}
		return s.sealEvents(evs)
	})
	if err != nil {
		return f, err
	}
	return f, s.openFlow(&f)
}

// Flow implements central.Partners.
func (s *Store) Flow(ctx context.Context, partnerID, id string) (central.FlowSession, error) {
	f, err := s.Store.Flow(ctx, partnerID, id)
	if err != nil {
		return f, err
	}
	return f, s.openFlow(&f)
}

// FlowByLaunch implements central.Partners.
func (s *Store) FlowByLaunch(ctx context.Context, launchHash []byte) (central.FlowSession, error) {
	f, err := s.Store.FlowByLaunch(ctx, launchHash)
	if err != nil {
		return f, err
	}
	return f, s.openFlow(&f)
}

// ExpiredFlows implements central.Partners.
func (s *Store) ExpiredFlows(ctx context.Context, now time.Time, limit int) ([]central.FlowSession, error) {
	fs, err := s.Store.ExpiredFlows(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	for i := range fs {
		if err := s.openFlow(&fs[i]); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// AppendEvents implements central.Webhooks: the bodies' user references
// sealed.
func (s *Store) AppendEvents(ctx context.Context, evs []central.WebhookEvent) error {
	sealed, err := s.sealEvents(evs)
	if err != nil {
		return err
	}
	return s.Store.AppendEvents(ctx, sealed)
}

// DueEvents implements central.Webhooks.
func (s *Store) DueEvents(ctx context.Context, now time.Time, limit int) ([]central.WebhookEvent, error) {
	evs, err := s.Store.DueEvents(ctx, now, limit)
	if err != nil {
		return nil, err
	}
	return evs, s.openEvents(evs)
}

// Events implements central.Webhooks.
func (s *Store) Events(ctx context.Context, partnerID string, afterSeq int64, limit int) ([]central.WebhookEvent, error) {
	evs, err := s.Store.Events(ctx, partnerID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	return evs, s.openEvents(evs)
}

// LeaseLane implements central.WebhookLanes: the event held, opened.
func (s *Store) LeaseLane(ctx context.Context, l central.Lane, now time.Time, hold time.Duration) (central.LaneLease, error) {
	ll, err := s.Store.LeaseLane(ctx, l, now, hold)
	if err != nil {
		return ll, err
	}
	return ll, s.openEvent(&ll.Event)
}
