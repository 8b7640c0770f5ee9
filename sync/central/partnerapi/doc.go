// Package partnerapi is central's partner API (issue 18): the REST API that
// partner backends integrate with, after the seeds (KYC Lite, Face Match,
// the KYC API guide) and, where they are silent, Stripe's and Onfido's
// conventions. kyc-central serve mounts it next to the device API and the
// console:
//
//	POST /api/v1/partner-token            client id + pass key -> bearer token (Generate Partner Token)
//	POST /api/v1/flows                    Initiate Flow: session configuration -> session id, launch URL, QR
//	GET  /api/v1/flows/{id}               status (status, next_action, error_code, attempts)
//	GET  /api/v1/flows/{id}/qr.png|qr.svg the launch URL's QR code
//	GET  /api/v1/submission-details       Get Submission Details (x-partner-session-id, x-partner-user-id, x-partner-user-id-type)
//	GET  /api/v1/images/{token}           an image of a submission, by a signed link that expires
//	POST /api/v1/face-match               the Face Match API (facematch_handler.go)
//	GET  /openapi.json                    the OpenAPI 3.1 document of all of it, and of central's own admin API (openapi.json, embedded)
//	GET  /flow/{token}                    the launch URL (package hostedflow serves it when Config.HostedFlow)
//	/admin/v1/partners...                 partners, pass keys, branches, webhook endpoint, enterprise push
//	                                      (push.go), reference-image endpoint (refimage.go) (admin bearer token)
//
// The integration, as the seeds describe it: a token from client id and
// pass key; Initiate Flow returns a launch URL and its QR code; the person
// verifies in the hosted flow on a phone or desktop (or at a kiosk of a
// branch the partner owns: synced sessions appear under the device's
// session id); central calls the partner's webhook (package webhook, at
// least once, deduplicated by webhook-id) and the partner fetches the
// details. Central's requests to partners' URLs (webhooks, push, reference
// images) go through httpx.OutboundTransport, which refuses link-local,
// multicast, unspecified and cloud metadata addresses as they are dialled.
//
// # Wiring
//
// New builds the API from a Config; Mount registers it on a central.Server
// (Server.Mount for /api/, /flow/ and /openapi.json; Server.MountAdmin for
// the admin routes, which run behind the admin bearer token):
//
//	api, err := partnerapi.New(partnerapi.Config{Store: store, SecretKey: key, PublicURL: "https://central.example"})
//	api.Mount(srv)
//
// cmd/kyc-central keeps SecretKey in DATA/partner.key (--partner-key); it
// keys the pass-key hashes, derives the partner tokens and launch tokens,
// signs image links and seals webhook secrets, so every instance sharing a
// store must share it.
//
// # Adding routes (webhooks, Face Match)
//
// Packages outside this one add routes through Config.Routes, functions
// called by Mount with a Router:
//
//	partnerapi.Config{..., Routes: []func(partnerapi.Router){webhook.Routes(w)}}
//
//	func Routes(w *Worker) func(partnerapi.Router) {
//		return func(r partnerapi.Router) {
//			r.Admin("GET /admin/v1/partners/{id}/events", w.listEvents)   // admin bearer token
//			r.Partner("GET /api/v1/events", w.partnerEvents)             // partner token
//		}
//	}
//
// Router.Partner registers a handler behind the partner token
// (Authenticate): inside it, PartnerFrom(r.Context()) is the authenticated
// partner. Router.Admin registers behind the admin token;
// central.AdminActor(r.Context()) names the admin for audit events.
// Router.Public registers without authentication. Handlers are
// httpx.HandlerFunc: they return errors, written as the one error object
// {code, message, request_id} (a 422 of field errors: ValidationError).
//
// Files of this package register their routes from a method Mount calls
// (routeFaceMatch in facematch_handler.go) and reach the configuration through a.cfg (a.cfg.FaceMatcher, a.cfg.Store,
// a.now()); Idempotency-Key goes through a.cfg.Store.Idempotent with the
// key prefixed by the endpoint ("flows:", "face-match:"), so one key used
// on two endpoints never collides.
//
// # Isolation
//
// A partner sees only its own sessions (the store keys them by partner) and
// the kiosk sessions of branches it owns (flow sessions the webhook emitter
// creates for them). Anything of another partner answers 404, exactly as
// for something that does not exist: never 403, which would confirm it
// exists.
//
// # Secrets
//
// Pass keys and partner tokens are 32 random bytes (256 bits); a fast keyed
// hash is the right way to store them (HMAC-SHA256 under a key derived from
// SecretKey): a slow password hash protects low-entropy secrets people
// choose, buys nothing against 256-bit random ones, and would turn the token
// endpoint into a CPU sink for anyone sending wrong keys. Keyed, a copy of
// the store alone does not even let one test a guess offline. Partner
// tokens are derived (HMAC of the partner and the token's creation time), so
// the store keeps only their SHA-256 (PartnerToken.Hash) and the same token
// can be handed out again until it is near expiry. Both end with a tag
// (a truncated HMAC of the rest): a credential central made is told from a
// guess before any lookup, and only guesses spend an address's failure
// budget, so a partner backend still sending its expired, revoked or
// disabled credential does not lock out its neighbours behind a NAT. Webhook secrets are
// sealed with AES-256-GCM under a key derived from SecretKey (OpenSecret
// opens them for the webhook worker).
//
// # Per-partner settings
//
// central.Partner.Config is this package's JSON object, one member per
// feature (settings.go): "face_match_limit", "push" (the enterprise push:
// endpoint, OAuth2 client credentials, the AES-256 key shared with the
// partner; PushTarget opens them for package push, PushSubmission builds
// what it sends) and "reference_image" (the partner's reference-image
// endpoint; ReferenceImage fetches from it for the hosted flow). Their
// secrets are sealed with AES-256-GCM under another key derived from
// SecretKey, each bound to its partner and use.
package partnerapi
