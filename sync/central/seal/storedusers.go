package seal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/openkyc/kyc/sync/central"
)

// Sessions, events and attempts stored before partners' user references
// were sealed keep them clear until they expire; SealStoredUsers seals
// them once, at central's start. Each batch is one transaction of the
// store (central.StoredUserRewriter), and a value is sealed only when
// clear, so a run cut short leaves every record readable (clear ones read
// as they are) and the next start goes on; cursors in the store record
// where the events stand and that it is done.

// userRewriteBatch is how many sessions or events one transaction
// rewrites, unless told.
const userRewriteBatch = 500

// The store's cursors (central.Webhooks.Cursor) of SealStoredUsers: the
// sessions' is 1 once they are done, the events' the last Seq done
// (math.MaxInt64: done).
const (
	cursorUserFlows  = "seal-users-flows"
	cursorUserEvents = "seal-users-events"
)

// ErrNoUserRewrite means the inner store cannot rewrite stored user
// references (central.StoredUserRewriter).
var ErrNoUserRewrite = errors.New("seal: the store cannot seal the user references it holds clear")

// SealStoredUsers seals the partners' user references stored clear (by a
// release before they were sealed at rest): sessions' UserID, events'
// bodies and their delivery attempts' excerpts, batch (0: 500) sessions or
// events a transaction. It returns how many records it changed; once
// done, it reads two cursors and returns 0.
func (s *Store) SealStoredUsers(ctx context.Context, batch int) (int, error) {
	rw, ok := s.Store.(central.StoredUserRewriter)
	if !ok {
		return 0, ErrNoUserRewrite
	}
	if batch <= 0 {
		batch = userRewriteBatch
	}
	changed := 0
	done, err := s.Cursor(ctx, cursorUserFlows)
	if err != nil {
		return 0, fmt.Errorf("sealing stored user references: %w", err)
	}
	if done == 0 {
		var after central.FlowKey
		for {
			last, n, err := rw.RewriteFlowUsers(ctx, after, batch, func(f *central.FlowSession) error {
				if keepsClearUser(f) || strings.HasPrefix(f.UserID, userSealPrefix) {
					return nil
				}
				changed++
				return s.sealFlow(f)
			})
			if err != nil {
				return changed, err
			}
			if n < batch {
				break
			}
			after = last
		}
		if err := s.PutCursor(ctx, cursorUserFlows, 1); err != nil {
			return changed, fmt.Errorf("sealing stored user references: %w", err)
		}
	}
	after, err := s.Cursor(ctx, cursorUserEvents)
	if err != nil {
		return changed, fmt.Errorf("sealing stored user references: %w", err)
	}
	for after != math.MaxInt64 {
		last, n, err := rw.RewriteEventUsers(ctx, after, batch, func(ev *central.WebhookEvent, as []central.DeliveryAttempt) error {
			return s.sealClearEvent(ev, as, &changed)
		})
		if err != nil {
			return changed, err
		}
		after = last
		if n < batch {
			after = math.MaxInt64
		}
		if err := s.PutCursor(ctx, cursorUserEvents, after); err != nil {
			return changed, fmt.Errorf("sealing stored user references: %w", err)
		}
	}
	return changed, nil
}

// sealClearEvent seals the clear user references of ev's body and the
// clear excerpts of its attempts, counting each record it changes.
func (s *Store) sealClearEvent(ev *central.WebhookEvent, as []central.DeliveryAttempt, changed *int) error {
	sealed := false
	p, err := mapUsers(ev.Payload, func(raw []byte) ([]byte, error) {
		var v string
		if json.Unmarshal(raw, &v) != nil || v == "" || strings.HasPrefix(v, userSealPrefix) {
			return raw, nil
		}
		u, err := s.sealUser(raw, eventUserAAD(ev.ID))
		if err != nil {
			return nil, fmt.Errorf("sealing the user reference of event %s: %w", ev.ID, err)
		}
		sealed = true
		return []byte(`"` + u + `"`), nil
	})
	if err != nil {
		return err
	}
	if sealed {
		ev.Payload = p
		*changed++
	}
	for i := range as {
		if as[i].Excerpt == "" || strings.HasPrefix(as[i].Excerpt, userSealPrefix) {
			continue
		}
		if err := s.sealAttempt(&as[i]); err != nil {
			return err
		}
		*changed++
	}
	return nil
}
