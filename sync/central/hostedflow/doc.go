// Package hostedflow is the hosted capture flow (issue 19): the web page a
// partner's launch URL opens, on a phone, a tablet or a desktop browser,
// which captures the document and the selfie with live guidance, has
// central verify them with the same engine the kiosk runs, and ends with
// the engine's next action (RETRY, STATUS, EXIT); and the Smart QR
// hand-off, which moves a session from a browser without a camera to the
// person's phone while the first page follows along.
//
// Routes, all under /flow/ (JSON answers; errors {code, message,
// request_id} through httpx; Cache-Control no-store everywhere):
//
//	GET  /flow/{token}            launch URL: single-use, binds the session to this browser
//	                              (cookie kyc_flow) and 303 -> /flow/app; another browser 410,
//	                              expired 410, unknown 404
//	GET  /flow/app                the page (web/app.html, data-csrf and data-lang filled in)
//	GET  /flow/static/...         the page's files (web/static)
//	GET  /flow/api/state          where the session stands (State)
//	POST /flow/api/frame?step=S   a camera frame (JPEG <= 2 MB): guidance overlay, auto-capture
//	POST /flow/api/capture?step=S the manual button or an upload (<= 10 MB)
//	POST /flow/api/submit         verify the captures (asynchronously; poll state)
//	POST /flow/api/retry          after RETRY: back to the step that failed
//	POST /flow/api/handoff        Smart QR: {url, short_code, qr_svg}
//	POST /flow/api/finish         the STATUS screen's call to action: {redirect}
//	GET  /flow/h/{token}          the phone's one-time link: binds the phone, 303 -> /flow/app
//	GET  /flow/code               the short-code form (no script); POST /flow/code looks it up
//
// S is document, back or selfie. Every POST under /flow/api/ carries the
// header X-Flow-CSRF with the token the page got in data-csrf; the cookie
// (HttpOnly, Secure, SameSite=Lax, Path=/flow/) names the session and holds
// the browser's secret, whose hash the session stores (central.HostedFlow),
// so a cookie works on any instance and after a restart.
//
// Guidance runs engine/capture's DocumentGuide and SelfieGuide on the
// frames the page sends a few times a second: the same rules and the same
// English and Indonesian messages as the kiosk, the active liveness
// challenges (turn left, turn right, as the kiosk asks them) when the
// session's liveness_type is active. When a guide captures by itself, the
// bytes of the frame it chose are kept as that step's capture. Every image
// is untrusted input, decoded by engine/imageio.
//
// Verification runs engine/verify.Engine.Verify (engines loaded by package
// internal/engines, as `kyc verify` does), at most one per core at a time,
// with the session's max_retries as the risk policy's attempts. Screening
// uses the watchlists central publishes (the *.list.json.gz files the
// console's lists page uploads), reloaded every WatchlistRefresh; without
// any, the engines' own index (Config.Engines.Screening), else the
// sanctions signal is missing and the risk policy handles that. The risk
// configuration is central's published one, else risk.DefaultConfig.
// The session's configuration applies after the engine: a document type or
// issuing country the partner does not accept, or a face match whose score
// is below the partner's face_match_threshold, turns an approve into a
// reject (RETRY while attempts remain) with the reason code
// DOC_TYPE_NOT_ACCEPTED, COUNTRY_NOT_ACCEPTED or FACE_MATCH_BELOW_PARTNER_THRESHOLD.
//
// Each attempt is stored as a central submission (the payload the kiosk
// seals, internal/submission.Payload, without an attestation; the images as
// captured) under the pseudo-device id "hosted" (DeviceID), its id
// "<partner>:<session>-<attempt>", so the console's queue shows hosted
// sessions beside kiosk ones (with no device, a reviewer scoped to branches
// does not see them; an unscoped one does) and Get Submission Details finds
// them through the session's Submissions. The session is then updated
// with UpdateFlow, which writes submission.completed (webhook.NewEvent, the
// emitter's shape; id webhook.EventID("submission.completed", "hosted",
// partner, session, attempt)) in the same transaction. The webhook emitter
// never emits it a second time: it turns a completed submission into an
// event only for a device of a branch a partner owns, and "hosted" is no
// enrolled device.
//
// State kept in memory: the guides, the frames of the current window and
// the captures of each live session, bounded (MaxLiveSessions; a session
// holds no more than its MaxUploadBytes budget) and dropped when the session expires or finishes, by the
// sweeper Run owns. This state is per instance: behind a load balancer a
// session's requests must reach one instance (issue 22 moves it to shared
// storage); the binding, the stage and the results are in the store.
package hostedflow
