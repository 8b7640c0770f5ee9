// Package webhook tells partners what happened to their verification
// sessions: signed webhooks after Standard Webhooks
// (https://www.standardwebhooks.com/), delivered in order per session,
// retried for up to three days, every attempt logged, replayable by an
// admin.
//
// Three parts, each a goroutine its owner starts with Run(ctx) and ends
// with ctx (RunOnce does one pass, for tests):
//
//   - Emitter follows central's logs with cursors (Reviews.Completed,
//     Reviews.ReviewChanges) and the sessions past their ttl
//     (Partners.ExpiredFlows), and turns each change that concerns a
//     partner into a central.WebhookEvent: submission.completed for a
//     submission stored from a device of a branch the partner owns
//     (creating or updating the partner's FlowSession whose id is the
//     device's session id, its partner_user_id the device's id with
//     partner_user_id_type "kiosk_device"), decision.changed and resubmission.requested
//     once for each final decision of a reviewer (Review.InForce: a
//     declined override restoring one tells nothing) (on a kiosk's submission, or on an
//     attempt of a hosted session the partner initiated: next action
//     EXIT, the session is over), session.expired (session.ended,
//     for a hosted session ending in ERROR, is written by the hosted
//     flow with the change itself); and, following
//     the events log itself (CursorPush), push.submission (EventPush, on
//     the lane PushLane(session)) for each submission.completed that
//     completes a session of a partner with the enterprise push, which
//     Config.Senders["push."] (package push) delivers. Event ids are
//     derived from their cause, so a pass repeated after a crash (at
//     least once: events are written before the cursor moves) adds
//     nothing twice. Event data name no person and carry no image:
//     session id, the partner's own user reference, status, next action,
//     decision, score, reason codes, the reviewer's outcome.
//
//   - Worker delivers due events (Webhooks.DueEvents: at most one per
//     session, the oldest undelivered, so a session's events arrive in
//     order and a failing session holds back only itself) concurrently
//     with a bounded pool and a cap per partner and destination (its
//     webhook endpoint, its push endpoint), so a dead or slow
//     endpoint (10 s to connect and answer, plus the body at 64 KiB/s,
//     per request: pace.go) never slows the others. An
//     answer 2xx is a delivery; 410 Gone ends the event at once (dead: the
//     endpoint wants no more of it, as Standard Webhooks says; a replay
//     still sends it); anything else is retried with full jitter
//     under the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h,
//     then every 10 h; an answer's Retry-After puts it later, up to
//     10 h) until three days after its first attempt, then the
//     event is dead. Each attempt is recorded (status, latency, the first
//     256 bytes of the answer or the transport error). The events of a
//     disabled partner (webhooks and pushes alike) are held: DueEvents
//     passes over them, so no attempt is made or recorded, and the time
//     held does not count towards their three days (those retrying
//     already have the time they had left: central.Partner.HeldFor);
//     once the partner is enabled they go out in their sessions' order on
//     the normal schedule. A queue job of a disabled partner
//     snoozes (Config.Hold) instead. A deleted partner's events fail and
//     die as usual. Notify wakes the
//     worker at once (a new event, a replay); otherwise it sleeps until
//     the earliest retry it scheduled or its fallback poll.
//
//   - Admin: GET /admin/v1/partners/{id}/events, GET
//     /admin/v1/events/{id}/attempts, POST /admin/v1/events/{id}/replay,
//     behind the admin bearer token.
//
// Service wires the three (what kyc-central serve does):
//
//	svc, err := webhook.New(store, webhook.Config{Logger: logger, Open: func(pid string, sealed []byte) ([]byte, error) {
//		s, err := partnerapi.OpenWebhookSecret(partnerKey, pid, sealed)
//		return []byte(s), err
//	}})
//	svc.Mount(srv.MountAdmin)  // or svc.Routes(r) from a partnerapi.Config.Routes function
//	defer svc.Start(ctx)()
//
// Code that writes events itself (the partner API's hosted flows, through
// UpdateFlow; NewEvent gives them the one body shape) or completes a
// submission calls svc.Notify so they go out at once; otherwise the
// emitter reads the logs every second and the worker looks for due events
// every 5 s.
//
// Several instances sharing a PostgreSQL store deliver through the job
// queue instead (Config.Lanes, queue.go, package jobs): the store queues a
// River job with each event in the transaction that writes it, each
// instance's River client works them with QueueWorker, and a lease on a
// session's head event (central.WebhookLanes) lets one instance at a time
// send it, renewed while a long send lasts (lease.go). An instance that
// dies mid-delivery leaves a lease that runs out
// and a job River rescues: the event is sent again (at least once, as
// Standard Webhooks allows; receivers dedupe by webhook-id), and the
// session's later events only after it. The polling Worker above is the
// single bbolt instance's; it sends and records under the same lease, so
// an attempt is recorded one way (RecordLeased), by the lease's owner
// only (a random token per lease, not its end time).
//
// Signing: every request carries webhook-id (the event id, the same on
// every retry and replay, which receivers dedupe by), webhook-timestamp
// (unix seconds of the attempt) and webhook-signature, "v1,<base64
// HMAC-SHA256(key, id.timestamp.body)>" once per valid secret, separated
// by spaces (two during a rotation's overlap; a secret rotated out keeps
// its whole overlap through later rotations, up to
// partnerapi.MaxWebhookSecrets signatures). Secrets are "whsec_" and
// the base64 of 32 random bytes (NewSecret); the partner API stores them
// sealed, and the Worker opens them with Config.Open, which returns either
// the secret as shown ("whsec_...") or the raw key bytes. Receivers
// (examples/partner) check with Verify, which is the Standard Webhooks
// reference library's: a wrong signature, or a timestamp more than five
// minutes off, is refused, comparing in constant time.
package webhook
