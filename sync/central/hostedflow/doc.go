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
//	GET  /flow/{token}            launch URL (HEAD alike): changes nothing; 200 a landing page (what will
//	                              happen, a Start button posting to the link); the browser
//	                              bound 303 -> /flow/app; another browser 410, expired 410,
//	                              unknown 404
//	POST /flow/{token}            Start: single-use, binds the session to this browser
//	                              (cookie __Host-kyc_flow) and 303 -> /flow/app; another browser 410
//	GET  /flow/app                the page (web/app.html, data-csrf and data-lang filled in)
//	GET  /flow/static/...         the page's files (web/static)
//	GET  /flow/api/state          where the session stands (State)
//	POST /flow/api/frame?step=S   a camera frame (JPEG <= 2 MB): guidance overlay, auto-capture
//	POST /flow/api/capture?step=S the manual button or, with &source=upload, an upload
//	                              (<= 10 MB; uploads refused 403 when allow_upload is off;
//	                              CaptureBurst a session, then one every CaptureInterval, else 429)
//	POST /flow/api/submit         verify the captures (asynchronously; poll state)
//	POST /flow/api/retry          after RETRY: back to the step that failed
//	POST /flow/api/handoff        Smart QR: {url, short_code, qr_svg}
//	POST /flow/api/finish         the STATUS screen's call to action: {redirect}
//	POST /flow/api/lang           {"lang": "en"|"id"}: the session's language from now on
//	                              (guidance messages, the result's message); with handoff,
//	                              ActionBurst a session, then one every ActionInterval, else 429
//	GET  /flow/h/{token}          the phone's one-time link: the landing page, as the launch URL
//	POST /flow/h/{token}          its Start: binds the phone, 303 -> /flow/app
//	GET  /flow/code               the short-code form (no script); POST /flow/code looks it up
//
// A cookie or phone link names its session in the clear (the partner's
// id, its session id, which the partner may have chosen): one without
// that session's secret is answered as one naming no session (401
// no_session; the link's "used" page), whatever the session's state or
// its owner's access, so nobody can probe which sessions exist.
//
// A session's owner is checked at every step (the landing page, Start, the
// page, each API call, the short code) and again before a verification's
// result is stored: while its partner is disabled, or for good once the
// kiosk that handed it off is revoked, each answers 410 link_unavailable
// (a page or the error object, saying only that the link is no longer
// available) and changes nothing; a verification running then stores no
// result and writes no event, the session keeps its captures and goes back
// to its submit. Enabling the partner again lets its sessions go on.
//
// Opening a link changes nothing because link previews (chat apps) and mail
// scanners (Safe Links, Proofpoint) fetch every link in a message before
// the person taps it: were the GET to bind, they would use the link up and
// the person would be told it was used. The person's Start binds instead.
// Cross-site POSTs are refused (http.CrossOriginProtection), so another
// site cannot bind a session of its own to a visitor's browser.
//
// S is document, back or selfie. Every POST under /flow/api/ carries the
// header X-Flow-CSRF with the token the page got in data-csrf; the cookie
// __Host-kyc_flow (HttpOnly, Secure, Path=/, no Domain) names the session
// and holds the browser's secret, whose hash the session stores
// (central.HostedFlow), so a cookie works on any instance and after a
// restart. The __Host- prefix keeps a sibling subdomain or a network
// attacker from setting or overwriting it (browsers refuse one with a
// Domain); a request with two is answered as one with none. The cookie
// before it, kyc_flow (Path=/flow/), is still read for sessions opened
// before the upgrade (created before the instance started, so the door
// closes by itself once they have expired), only without a __Host- one
// (beside it, it is ignored: one planted for the parent domain cannot
// override the person's) and only alone (two were planted,
// sessionCookie); the session's next request moves it to __Host-kyc_flow
// and expires it.
//
// Embedding: a partner may run the flow in an iframe of its own site. The
// origins of the session's redirect_url and callback_url are the ones
// allowed to: the launch and the page answer with a Content-Security-Policy
// frame-ancestors of central and those origins (every other page: central
// only), the session's cookie is then SameSite=None and Partitioned (the
// frame is a third-party context; partitioned, it lives under the
// partner's site only and survives third-party cookie blocking), and the
// page posts its result {type: "kyc.flow.result", status, error_code,
// session_id} to its parent with each of those origins as the target,
// never "*", once: at its end, or when it finds the session expired
// (ERROR, session_expired), so the partner's page does not wait on the
// frame for good. Sessions without them keep SameSite=Lax cookies.
//
// The kiosk's Smart QR (issue 19 item 4), for enrolled devices without a
// camera, behind central's device authentication (central.Server.MountDevice;
// client: internal/handoff):
//
//	POST   /v1/handoffs/     opens a hosted session for the customer's phone: 201
//	                         {id, session_id, partner_id, url, code_url, short_code, qr_svg, ...}
//	GET    /v1/handoffs/{id} where it stands (protocol.HandoffStatus), polled
//	DELETE /v1/handoffs/{id} cancels it (ERROR canceled; 409 once final)
//
// The session belongs to the partner whose branches hold the device's
// branch (its webhooks fire, Get Submission Details finds it), else to
// KioskPartner, which no partner sees and no webhook serves. A branch
// whose partner is disabled stays that partner's: the POST is refused,
// 403 partner_disabled (handoff.ErrPartnerDisabled), rather than opening
// a kiosk session past the partner's checks and webhooks. No browser
// is bound: the device plays the first screen, the phone link and short
// code are issued at once.
//
// The page is held to WCAG 2.1 AA (its browser test runs axe-core on every
// screen): each screen moves focus to its heading, the guidance is a
// polite live region, the manual capture appears after a few seconds or at
// once on any key (a person may not frame the card by sight), and the
// page's lang follows the language shown.
//
// A phone loses the network (a lift, a train, Wi-Fi to mobile data), so
// the page never asks again for a photo central holds: a state of the
// selfie step with every capture taken is the submit's (the page loaded
// again, a submit lost), which the page sends, and sends again while the
// network fails, saying the photos are kept, with a "Try now" button, at
// once when the browser is back online, else after a wait that doubles (2
// s to 30 s); its polls back off too (to 8 s). A submit is idempotent: one
// running answers its processing state, one done 409, after which the page
// follows the session (web/e2e/offline.mjs, TestOfflineInBrowser). A
// capture lost to the network says there is no connection, and the same
// photo chosen again is sent; a page whose first state is lost says so and
// fetches it again by itself, as its polls do; a guidance frame's answer
// naming the step's capture held (the capture's own answer lost) moves the
// page on, to the next step or the submit.
//
// Guidance runs engine/capture's DocumentGuide and SelfieGuide on the
// frames the page sends a few times a second: the same rules and the same
// English and Indonesian messages as the kiosk, the active liveness
// challenges (the two head turns) when the session's liveness_type is
// active, or, in a passive session, once an attempt's passive liveness
// fell in the risk policy's band of doubt: that attempt is a RETRY of the
// selfie ("one more step") and the session asks for the turns from then
// on (HostedFlow.DoubtChallenge), as the kiosk's challenge_on_doubt does.
// The turns' order is drawn at random when the session is opened and kept
// in its state (HostedFlow.ChallengeOrder, the page's state.challenges),
// so the page and every instance's guide ask alike; each turn must come
// within 5 s of its prompt by the server's clock, or the guide ends with
// the selfie and the turns done so far, which do not pass. When a guide
// captures by itself, the bytes of the frame it chose are kept as that
// step's capture, and the frames that met the turns beside the selfie's
// (stepChallenge): the verification compares their faces with the
// selfie's, and another person's fails the challenge
// (FACE_CHALLENGE_IDENTITY), as do a screen's or a print's traces on one
// (FACE_CHALLENGE_REPRODUCTION), whatever the passive liveness says. A
// session that asks for the turns approves only with them done: a selfie
// without them (the manual button, an upload) that would approve takes the
// challenge instead (FACE_CHALLENGE_NOT_DONE: a RETRY of the selfie, at
// the last attempt a reject). Every image is untrusted input, decoded by
// engine/imageio; the manual captures and uploads (the document's up to
// 40 megapixels, the selfie's, like the partner's reference image, up to
// the Face Match API's 4096x4096, judged from the header: a larger one is
// 413 too_many_pixels, which the page explains) as many at once as
// Config.MaxConcurrent, a partner's at most half;
// the guidance frames twice as many, and a frame that waits a second for
// its turn is dropped (429 busy: the page sends a later one).
//
// Verification runs engine/verify.Engine.Verify (engines loaded by package
// internal/engines, as `kyc verify` does), at most one per core at a time,
// with the session's max_retries as the risk policy's attempts; a
// submitted session reads its captures from the store only once it holds
// a slot, so the sessions waiting for one hold no image. Screening
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
// A selfie from the upload form (allow_upload) turns an approve into a
// review, SELFIE_UPLOADED: nothing shows the photo was taken live. A
// selfie from the camera (the guide's or the manual button's) is judged by
// the step's last guidance frames received here (feedEvidence): frames that
// repeat each other byte for byte (a still fed through a virtual camera) or
// fewer than three (a script posting a photo) make its passive liveness
// doubtful whatever the score, FACE_FEED_SUSPECT, and the attempt takes
// the head-turn challenge as the band of doubt does.
//
// Each attempt is stored as a central submission (the payload the kiosk
// seals, internal/submission.Payload, without an attestation; the images as
// captured) under the pseudo-device id of a branch (central.HostedDevice:
// the kiosk's branch for a kiosk's hand-off, the partner's for a partner
// owning exactly one; "hosted" without a branch),
// its id "<partner>:<session>-<attempt>" ("~" and the session's creation
// after it when an earlier session of that id, removed by retention, holds
// it: attemptID), so the console's queue shows
// hosted sessions beside kiosk ones, to the reviewers of that branch and
// to unscoped ones (a session of no branch: to unscoped ones only), and Get
// Submission Details finds them through the session's Submissions. The session is then updated
// with UpdateFlow, which writes submission.completed (webhook.NewEvent, the
// emitter's shape; id webhook.EventID("submission.completed", "hosted",
// partner, session, attempt)) in the same transaction. The webhook emitter
// never emits it a second time: it turns a completed submission into an
// event only for a device of a branch a partner owns, and "hosted" is no
// enrolled device. A verification whose session an erasure scrubbed while
// it ran (central.ScrubFlow) stores nothing: no submission, no result, no
// event; the erasure wins.
// A session that ends in ERROR with no result (the person exits at a
// RETRY, user_exit; a verification that could not run; a kiosk's cancel,
// canceled) writes
// session.ended the same way (id webhook.EventID("session.ended",
// partner, session, its creation)), so a partner following webhooks learns it ended.
//
// State: everything a session needs to go on is in the store, so any
// instance serves any request of it (issue 22): the binding, the stage,
// the captures taken (their bytes in central.HostedStates, sealed; which
// steps hold one and their SHA-256, the challenges done and the bytes
// uploaded in central.HostedFlow), "processing" with its start, renewed
// while the attempt waits for a slot (an instance that dies verifying or
// queued holds the session at most processingTimeout; the session's
// expiry waits for a verification under way), the results,
// the Smart QR short codes, the budgets of guidance frames per session and
// of short codes typed per address (central.RateLimits). Kept in an
// instance's memory, as a cache: the guides (engine/capture keeps the last
// frames' history; on another instance a step's guide starts again from
// the next frames, a couple of seconds of guidance) and the bytes of the
// guidance frames it received (counted in the session's upload budget
// per instance), bounded (MaxLiveSessions, one partner's at most half)
// and dropped when idle or expired by the sweeper Run owns, which also
// expires the store's hosted state. Of those frames a session keeps a
// step's last eight as received (keepFrame), freed once the step's
// capture is kept, within SessionFrameBudget over its steps (the oldest
// go first, never the current step's last five, which its guide's window
// and feedEvidence need), and an instance within Config.MaxFrameMemory,
// which counts too the frames a guide chose that wait for their step to
// complete (the selfie's and its turns'): past it a frame answers 503
// guidance_busy with a Retry-After, and the page sends a later one.
//
// A session with use_reference_image matches the selfie against the
// partner's reference image (Config.ReferenceImage, fetched at each
// attempt, decoded by engine/imageio) instead of the document's portrait;
// without it the session ends in ERROR reference_image_unavailable.
package hostedflow
