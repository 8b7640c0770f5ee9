// Package central is the backend that devices sync to: it enrols devices,
// authenticates their signed requests, opens their end-to-end encrypted
// submissions, verifies the device attestation each carries (package
// attest) and its freshness, dedupes and stores them (through a Store:
// boltstore embedded, pgstore to scale out), takes large images in
// resumable chunks, serves signed configuration and watchlists to devices,
// and offers an authenticated admin API and /healthz; Prometheus /metrics
// only on a listener of their own (Config.MetricsAddr), and the review
// console, when Config.ConsoleAddr is set, too (Server.MountConsole).
//
// Every handler returns its error; httpx.Responder turns it into a public
// code and message with a request id, and logs the cause under that id.
//
// # How the parts join
//
// Central's parts join the server without this package importing them:
// cmd/kyc-central builds the store (wrapped in seal.Store), New, then
// console.New, partnerapi.New and the rest, each mounted with Server.Mount
// (or MountAdmin, MountDevice). The console and the bearer admin API share
// the server's operations (operations.go: enrolment tokens for a branch,
// revocation, publishing lists, erasure; riskproposal.go: risk settings,
// proposed and confirmed by a second admin), each audited.
//
// # Device requests
//
// A device request is authenticated from its headers alone (the signature
// covers the body's hash) before it takes a slot or a byte of the body is
// read: an unauthenticated client holds nothing however slowly it sends,
// and is cut off. Then a per-device slot, one of MaxInFlight, and the body
// within a deadline of 15 s plus its declared Content-Length at 8 KiB/s;
// once it has arrived, the device is looked up again, so one revoked
// while it sent is refused (403) and nothing of the body is kept.
// /healthz says "degraded" (503) while every slot is taken. A device
// holds at most MaxOpenUploads submissions whose images are still
// arriving, counted over a day (429 with Retry-After for one more; an
// upload it abandoned stops counting then), and the last chunk of an
// image is checked against its SHA-256 by hashing the stored chunks as
// they are read, never the image whole in memory. Failed
// authentications are budgeted per address (for IPv6, per /64) in the
// store, so instances share the budget (429 with Retry-After; for the
// admin token before any comparison). Behind a load balancer the address
// is the client's only if the balancer is named with --trusted-proxies (then
// the rightmost X-Forwarded-For entry it appended; what a client writes
// left of it is never believed); otherwise forwarding headers are ignored.
//
// Central signs configuration and watchlists with its Ed25519 key
// (sign.key, pinned by devices at enrolment through the token's
// fingerprint) and derives from it the secret of its stateless attestation
// challenges. Every answer carries Date (central's clock, which agents
// correct theirs by) and X-Request-Id.
//
// # Retention and erasure
//
// Retention (/admin/v1/retention: days per kind of data: images, extracted
// fields, decision, audit, webhook events, partner sessions) is applied by
// a sweep that Serve runs hourly (on PostgreSQL, the job queue's leader);
// a payload's decision, score and reason codes are stored apart, sealed,
// so they outlive its fields. Erasure (/admin/v1/erasures, by NIK,
// document number, name or submission) deletes the rows with their wrapped
// data key; the audit trail records who, when and how many, never whom. A
// request is recorded first (erasure.go: whose submissions as blind-index
// tokens, dropped at the end) and, on PostgreSQL, carried out by a job
// enqueued in the same transaction; each deletion is counted in its own
// transaction and the end is written once, so a retried job finishes the
// rest and audits once.
//
// # Audit
//
// One hash chain holds every privacy operation and console action, with
// its before and after: the store computes each link in the transaction
// that appends it (PostgreSQL: under a locked head row, so instances share
// one chain); retention leaves an anchor; VerifyAuditChain names the first
// entry that was changed, removed or inserted behind the store's back. The
// chain alone cannot stop whoever writes the store from recomputing it:
// hourly checkpoints signed with central's sign key (AuditCheckpoint) can.
package central
