// Package push is the enterprise push of seed 003 (the REL-ID KYC API,
// issue 18 item 5): for a partner that configured it, central POSTs each
// completed submission whole (the user's identity, the document's data
// with each field's source, liveness, face match, the images) to the
// partner's HTTPS endpoint, with an OAuth2 client-credentials bearer token
// and the body encrypted with AES-256-GCM under a key shared with the
// partner; the partner answers with a confirmation JSON, which is recorded.
//
// Delivery is the webhook worker's (package webhook): the emitter follows
// the events log and writes a push.submission event (webhook.EventPush;
// SessionID webhook.PushLane(session), so a failing push endpoint holds
// back only pushes) for each submission.completed of a partner with the
// push configured whose session is COMPLETED (an attempt that ends in
// RETRY is not pushed; the attempt that ends the session is; kiosk and
// hosted sessions alike), and the worker hands it to a Sender, given as
// webhook.Config.Senders[SenderPrefix]:
//
//	sender, err := push.New(push.Config{Source: api, Logger: logger}) // api: the *partnerapi.API
//	svc, err := webhook.New(store, webhook.Config{..., Senders: map[string]webhook.Sender{push.SenderPrefix: sender}})
//
// Pushes so share the webhooks'
// ordering, retries (the Standard Webhooks schedule for three days),
// attempt log and admin replay, and their bounds: a request gets the
// worker's Timeout plus its envelope at webhook.Config.MinRate (the Sender's
// client is a webhook.PacedClient), so a push of many MB on a slow link
// is delivered, and a queue job's lane lease is renewed while it goes.
//
// Each attempt builds the body anew from the store
// (partnerapi.API.PushSubmission: a reviewer's later decision shows, an
// erased submission is not sent), gets a token from the partner's token
// endpoint with golang.org/x/oauth2/clientcredentials (kept until it
// expires; a 401 from the push endpoint fetches a new one and tries once
// more) and POSTs the envelope. The envelope is written as it is sent,
// sealed a segment at a time into the bytes Seal gives, the images read
// from the store a stored chunk at a time: a push holds about a chunk, not
// its images (up to 32 of 64 MiB). Its length is counted first and sent as
// Content-Length, never chunked (some endpoints, e.g. AWS API Gateway,
// refuse chunked bodies with 411): the images' sizes come from the
// manifest, their content types from their first bytes, read once per
// attempt (partnerapi.PushBody.Len). Each send of the request (the 401's,
// a transport's retry through GetBody) reads the store anew under a new
// nonce. Should the store fail midway, the request is cut off before the
// tag and the attempt fails like any other; should the envelope come out
// of another length than announced (retention dropped an image in
// between), it is cut off before its last byte and the attempt fails
// saying the submission changed while it was sent.
//
// # Wire format
//
//	POST <partner's URL>
//	Authorization: Bearer <access token from the partner's token URL>
//	Content-Type: application/json
//	Idempotency-Key: <push id>       (the same on every retry: dedupe by it)
//
//	{"id": "<push id>", "partner_id": "ptn_...", "alg": "A256GCM", "kid": "pek_...",
//	 "nonce": "<base64, 12 bytes>", "ciphertext": "<base64: ciphertext || 16-byte tag>"}
//
// The plaintext is the JSON of partnerapi.PushSubmission; the additional
// data is AAD(id, partner_id), "openkyc-push-v1\n" + id + "\n" + partner_id,
// so an envelope replayed under another id or partner does not open. The
// nonce is random for each attempt. kid names the key (rotation gives a new
// key and kid, shown once; pushes use the new one at once, retries
// included). Open is the partner's side.
//
// The partner answers 2xx with a confirmation JSON, e.g.
// {"status": "success", "reference": "..."}: its first ConfirmationBytes
// are kept as the attempt's excerpt. A 2xx whose JSON says "status":
// "failure" (or "error") is a failed attempt (read from the answer's
// first 64 KiB, however long its details), retried like any other
// failure, as is any other status or no answer but 410 Gone, which ends
// the push at once (dead, as a webhook's: the endpoint wants no more of
// it; a replay still sends it). An answer's Retry-After (seconds or an
// HTTP date, httpx.ParseRetryAfter) is passed on to the worker
// (webhook.RetryAfterSender), which retries no sooner than it asks and no
// later than the schedule's longest wait, as for a webhook.
package push
