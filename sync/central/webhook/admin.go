package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// AdminStore is what the admin endpoints need of central's store.
type AdminStore interface {
	central.Webhooks
	Partner(ctx context.Context, id string) (central.Partner, error)
}

// Admin serves the admin endpoints of webhook events.
type Admin struct {
	Store AdminStore
	// Notify wakes the worker after a replay (Worker.Notify); may be nil.
	Notify func()
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Audit, when set, records a replay (actor from central.AdminActor).
	Audit func(ctx context.Context, ev central.AuditEvent) error
}

// Admin paths, under central's /admin/v1.
const (
	PathPartnerEvents = "GET /admin/v1/partners/{id}/events"
	PathAttempts      = "GET /admin/v1/events/{id}/attempts"
	PathReplay        = "POST /admin/v1/events/{id}/replay"
)

// AuditReplay is the audit action of a replay.
const AuditReplay = "webhook_replay"

// maxEvents caps one page of events.
const maxEvents = 500

// Mount registers the endpoints with mount, which is
// central.Server.MountAdmin (behind the admin bearer token).
func (a *Admin) Mount(mount func(pattern string, h httpx.HandlerFunc) bool) {
	mount(PathPartnerEvents, noStore(a.events))
	mount(PathAttempts, noStore(a.attempts))
	mount(PathReplay, noStore(a.replay))
}

// noStore keeps h's answers out of caches: event bodies and attempts name
// partners' users, sessions and decisions.
func noStore(h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-store")
		return h(w, r)
	}
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// EventView is an event as the admin API lists it: its state and body.
type EventView struct {
	central.WebhookEvent
	State string `json:"state"` // pending, delivered, dead
}

func view(ev central.WebhookEvent) EventView {
	st := "pending"
	switch {
	case !ev.DeliveredAt.IsZero():
		st = "delivered"
	case !ev.DeadAt.IsZero():
		st = "dead"
	}
	return EventView{WebhookEvent: ev, State: st}
}

// EventList is a page of a partner's events, oldest first; NextAfter is
// the after of the next page (the last Seq listed).
type EventList struct {
	Events    []EventView `json:"events"`
	NextAfter int64       `json:"next_after"`
}

// events lists a partner's events; query after (a Seq) and limit.
func (a *Admin) events(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	after, limit := int64(0), 100
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return httpx.Errorf(http.StatusBadRequest, "malformed", "after must be a non-negative integer")
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return httpx.Errorf(http.StatusBadRequest, "malformed", "limit must be a positive integer")
		}
		limit = min(n, maxEvents)
	}
	if _, err := a.Store.Partner(r.Context(), id); err != nil {
		if errors.Is(err, central.ErrNotFound) {
			return httpx.Errorf(http.StatusNotFound, "not_found", "no such partner")
		}
		return fmt.Errorf("reading the partner: %w", err)
	}
	evs, err := a.Store.Events(r.Context(), id, after, limit)
	if err != nil {
		return fmt.Errorf("listing events: %w", err)
	}
	out := EventList{Events: make([]EventView, 0, len(evs)), NextAfter: after}
	for _, ev := range evs {
		out.Events = append(out.Events, view(ev))
		out.NextAfter = max(out.NextAfter, ev.Seq)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// attempts lists an event's delivery attempts, oldest first.
func (a *Admin) attempts(w http.ResponseWriter, r *http.Request) error {
	list, err := a.Store.Attempts(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, central.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "not_found", "no such event")
	case err != nil:
		return fmt.Errorf("listing attempts: %w", err)
	}
	if list == nil {
		list = []central.DeliveryAttempt{}
	}
	httpx.WriteJSON(w, http.StatusOK, list)
	return nil
}

// ReplayResult answers a replay.
type ReplayResult struct {
	EventID string    `json:"event_id"`
	DueAt   time.Time `json:"due_at"`
}

// replay makes an event (delivered or dead) due again now: it is sent
// once more with the same webhook-id, after the session's earlier events.
func (a *Admin) replay(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	now := a.now().UTC()
	err := a.Store.ReplayEvent(r.Context(), id, now)
	switch {
	case errors.Is(err, central.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "not_found", "no such event")
	case err != nil:
		return fmt.Errorf("replaying the event: %w", err)
	}
	if a.Audit != nil {
		ev := central.AuditEvent{ID: httpx.RequestID(r.Context()), At: now, Actor: central.AdminActor(r.Context()),
			Action: AuditReplay, Subject: "webhook_event:" + id}
		if err := a.Audit(r.Context(), ev); err != nil {
			return fmt.Errorf("recording the replay: %w", err)
		}
	}
	if a.Notify != nil {
		a.Notify()
	}
	httpx.WriteJSON(w, http.StatusOK, ReplayResult{EventID: id, DueAt: now})
	return nil
}
