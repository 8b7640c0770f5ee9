package central

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Partner errors, returned (wrapped) by every Partners and Webhooks
// implementation.
var (
	// ErrPartnerExists means a partner with that id or client id exists.
	ErrPartnerExists = errors.New("central: partner already exists")
	// ErrIdempotency means an Idempotency-Key was used before with a
	// different request: the caller answers 422, never replays.
	ErrIdempotency = errors.New("central: idempotency key reused with a different request")
)

// Partner is a backend that integrates with central through the partner
// API (the seeds' "client id and pass key"). Secrets are stored as the
// partner API keeps them: pass keys as hashes, webhook secrets sealed.
type Partner struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	ClientID string `json:"client_id"`
	// Keys are the pass keys' hashes: the current one, and during a
	// rotation the previous one until its NotAfter.
	Keys []PartnerKey `json:"keys"`
	// Branches are the branches whose kiosk sessions (synced from devices)
	// the partner owns and sees.
	Branches []string `json:"branches,omitempty"`
	// Webhook is where events are delivered; empty URL: none.
	Webhook WebhookEndpoint `json:"webhook"`
	// Config is the partner API's own per-partner settings (defaults of
	// the flow, rate limits, the enterprise push, the reference image
	// endpoint), JSON the partner API package owns.
	Config json.RawMessage `json:"config,omitempty"`
	// Disabled partners are refused everywhere and their webhook events
	// are held (SetDisabled keeps the two fields after it).
	Disabled bool `json:"disabled,omitempty"`
	// DisabledAt is when the partner was disabled; zero while enabled (or
	// disabled before it was recorded).
	DisabledAt time.Time `json:"disabled_at,omitzero"`
	// HeldFor is how long the partner was disabled in all, its current
	// period aside: the time its events were held, which a webhook event's
	// MaxAge does not count (WebhookEvent.HeldBefore). It only grows, so
	// instances and restarts agree on it.
	HeldFor time.Duration `json:"held_for,omitempty"`
	// TokensNotBefore: tokens created before it stop working once it has
	// passed. A rotation sets it to the end of the rotated-out key's
	// overlap, since the partner's tokens are shared by its keys: after a
	// leak, the key's holder keeps no token past that key.
	TokensNotBefore time.Time `json:"tokens_not_before,omitzero"`
	// TokenCutoffs are earlier rotations' TokensNotBefore, each ending
	// the tokens created before it as TokensNotBefore does: a later
	// rotation with a longer overlap must neither bring back the tokens
	// an earlier one ended nor let them outlive that one's overlap.
	TokenCutoffs []time.Time `json:"token_cutoffs,omitempty"`
	CreatedAt    time.Time   `json:"created_at"`
}

// SetDisabled disables the partner or enables it again at now, adding a
// disabled period that ends to HeldFor.
func (p *Partner) SetDisabled(disabled bool, now time.Time) {
	switch {
	case disabled && !p.Disabled:
		p.DisabledAt = now.UTC()
	case !disabled && p.Disabled:
		if !p.DisabledAt.IsZero() {
			p.HeldFor += max(now.Sub(p.DisabledAt), 0)
		}
		p.DisabledAt = time.Time{}
	}
	p.Disabled = disabled
}

// PartnerKey is one pass key, as a hash: a keyed HMAC-SHA256 (the partner
// API's choice), since pass keys are 32 random bytes central makes, which
// no slow hash would protect better.
type PartnerKey struct {
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`
	// NotAfter ends a rotated-out key's overlap; zero for the current key.
	NotAfter time.Time `json:"not_after,omitzero"`
}

// WebhookEndpoint is a partner's webhook receiver.
type WebhookEndpoint struct {
	URL string `json:"url,omitempty"`
	// Secrets are the signing secrets, sealed: the newest first, and
	// during a rotation the previous one until its NotAfter (events are
	// signed with every valid secret, as Standard Webhooks allows).
	Secrets []WebhookSecret `json:"secrets,omitempty"`
}

// WebhookSecret is one signing secret, sealed by the partner API.
type WebhookSecret struct {
	Sealed    []byte    `json:"sealed"`
	CreatedAt time.Time `json:"created_at"`
	NotAfter  time.Time `json:"not_after,omitzero"`
}

// PartnerToken is a bearer token of the partner API; only its hash is
// stored.
type PartnerToken struct {
	Hash      []byte    `json:"hash"` // SHA-256 of the token
	PartnerID string    `json:"partner_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// FlowStatus is where a partner's verification session stands (the seeds'
// status, with the engine's next action beside it).
type FlowStatus string

// Flow statuses.
const (
	FlowCreated    FlowStatus = "CREATED"     // launch URL issued, nobody opened it
	FlowInProgress FlowStatus = "IN_PROGRESS" // opened, capturing or processing
	FlowCompleted  FlowStatus = "COMPLETED"   // a decision exists (EXIT or STATUS)
	FlowError      FlowStatus = "ERROR"       // ended without a decision (ErrorCode)
	FlowExpired    FlowStatus = "EXPIRED"     // session_ttl passed first
)

// KioskPartner is the partner id of the hosted sessions a kiosk opens for a
// Smart QR hand-off when no partner owns the kiosk's branch: no partner
// reads them and no webhook is written for them (the kiosk follows them).
// Partner ids never start with '~'.
const KioskPartner = "~kiosk"

// HostedDevice is the pseudo-device id the hosted flow stores a session's
// submissions under: one per branch for a session of a branch (a kiosk's
// hand-off: the kiosk's branch; a partner's session: the one branch the
// partner owns), so that the console scopes its cases to that branch;
// "hosted" for one of no branch (seen by unscoped users only, as every
// hosted case stored before). A branch is any printable text and a device
// id is not (protocol.ValidName), so the id holds a digest of the branch:
// "hosted." and 32 hex digits; the console maps it back from the branches
// it knows.
func HostedDevice(branch string) string {
	if branch == "" {
		return hostedDevice
	}
	sum := sha256.Sum256([]byte(branch))
	return hostedDevice + "." + hex.EncodeToString(sum[:16])
}

// IsHostedDevice reports whether deviceID is a hosted pseudo-device, of a
// branch or not.
func IsHostedDevice(deviceID string) bool {
	return deviceID == hostedDevice || strings.HasPrefix(deviceID, hostedDevice+".")
}

const hostedDevice = "hosted"

// FlowSession is one verification a partner initiated (Initiate Flow), or
// a kiosk session synced from a device of a branch the partner owns.
type FlowSession struct {
	// ID is the partner session id (the seeds' correlation id,
	// x-partner-session-id).
	ID        string `json:"id"`
	PartnerID string `json:"partner_id"`
	// UserID and UserIDType are the partner's own user reference
	// (x-partner-user-id, x-partner-user-id-type).
	UserID     string `json:"user_id"`
	UserIDType string `json:"user_id_type"`
	// Config is the session configuration as accepted (the partner API
	// package owns its schema).
	Config json.RawMessage `json:"config"`
	// LaunchHash is the SHA-256 of the launch URL's secret token.
	LaunchHash []byte     `json:"launch_hash,omitempty"`
	Status     FlowStatus `json:"status"`
	NextAction string     `json:"next_action,omitempty"` // RETRY, STATUS, EXIT
	ErrorCode  string     `json:"error_code,omitempty"`
	Attempts   int        `json:"attempts"`
	// Submissions are the session's attempts stored at central, oldest
	// first.
	Submissions []SubmissionRef `json:"submissions,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Version     int64           `json:"version"`
	// ErasedAt is when an erasure on request scrubbed the session's
	// personal data (ScrubFlow, flowerasure.go); zero while it holds it.
	ErasedAt time.Time `json:"erased_at,omitzero"`
	// Hosted is the hosted capture flow's state (package hostedflow); nil
	// while nobody opened the launch URL, and for kiosk sessions.
	Hosted *HostedFlow `json:"hosted,omitempty"`
}

// HostedFlow is what the hosted capture flow keeps of a session in the
// store: the browsers it is bound to (as hashes of their cookie secrets),
// where the person stands, which captures it holds and the last result's
// user-facing part. The captures themselves are in HostedStates.
type HostedFlow struct {
	// BrowserHash binds the browser that opened the launch URL first
	// (single use); PhoneHash the phone of a Smart QR hand-off, whose
	// one-time link's secret HandoffHash holds until it is used.
	BrowserHash  []byte    `json:"browser_hash,omitempty"`
	PhoneHash    []byte    `json:"phone_hash,omitempty"`
	HandoffHash  []byte    `json:"handoff_hash,omitempty"`
	LaunchUsedAt time.Time `json:"launch_used_at,omitzero"`
	HandoffAt    time.Time `json:"handoff_at,omitzero"`
	// Stage is the capture step the person is at (document, back,
	// selfie) or "result" once an attempt is decided; Lang en or id.
	Stage string `json:"stage,omitempty"`
	Lang  string `json:"lang,omitempty"`
	// Decision, RetryStep and Message are the last attempt's engine
	// decision, the step a RETRY goes back to and the generic user
	// message (never naming a fraud signal).
	Decision  string `json:"decision,omitempty"`
	RetryStep string `json:"retry_step,omitempty"`
	Message   string `json:"message,omitempty"`
	// MessageKey names Message in the engine's catalogue (risk.MessageKey),
	// so the page shows it in the language the person switches to.
	MessageKey string `json:"message_key,omitempty"`
	// FinishedAt is when the STATUS screen's call to action was taken.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Captured are the capture steps (document, back, selfie) whose
	// image is in the hosted state store (central.HostedStates, sealed);
	// Challenges the active liveness challenges done with the selfie;
	// Uploaded the bytes of the captures taken, against the session's
	// upload budget. ProcessingAt is when the verification of an attempt
	// started (Stage "processing"), so an instance that died meanwhile
	// does not hold the session for ever.
	Captured     []string  `json:"captured,omitempty"`
	Challenges   []string  `json:"challenges,omitempty"`
	Uploaded     int64     `json:"uploaded,omitempty"`
	ProcessingAt time.Time `json:"processing_at,omitzero"`
	// SelfieUploaded: the selfie captured last came from the page's upload
	// form, not its camera. Nothing shows such a photo was taken live (it
	// may be anyone's picture of the person), so its attempt is never
	// approved without a reviewer (hostedflow's SELFIE_UPLOADED).
	SelfieUploaded bool `json:"selfie_uploaded,omitempty"`
	// Sums are the SHA-256 of each step's capture as recorded (the
	// challenges' frames under "challenge"): a verification takes only
	// the bytes the session recorded, with how they were taken, not bytes
	// a capture refused meanwhile had already replaced.
	Sums map[string][]byte `json:"sums,omitempty"`
	// FeedSuspect is why the camera feed behind the selfie captured last
	// looks like no camera (hostedflow's feedEvidence; empty for a live
	// feed and for an upload): its attempt takes the active challenge
	// (risk.Input.FeedSuspect).
	FeedSuspect string `json:"feed_suspect,omitempty"`
	// DoubtChallenge is set once an attempt's passive liveness fell in the
	// risk policy's band of doubt: from then on the selfie is taken with
	// the head-turn challenge, whatever the session's liveness_type.
	DoubtChallenge bool `json:"doubt_challenge,omitempty"`
	// ChallengeOrder is the order the head turns are asked in, drawn at
	// random when the session is opened, so that the page and every
	// instance's guide ask them alike; empty in sessions opened before it
	// was drawn (left, then right).
	ChallengeOrder []string `json:"challenge_order,omitempty"`
	// KioskDevice is the enrolled device that opened the session for a
	// Smart QR hand-off (it plays the first screen's part); empty for a
	// session opened by its launch URL.
	KioskDevice string `json:"kiosk_device,omitempty"`
}

// HostedStageProcessing is HostedFlow.Stage while an attempt is verified.
const HostedStageProcessing = "processing"

// HostedProcessingTimeout is how long a verification may hold a session
// in HostedStageProcessing: past it the instance running it is taken for
// dead. Far above a verification's time even on a loaded 2-core machine.
const HostedProcessingTimeout = 3 * time.Minute

// StatusAt is the session's status at now: one past its ExpiresAt that
// nobody finished is EXPIRED, whether the expiry pass has written it yet
// or not, unless an attempt submitted in time is still being verified
// (HostedFlow.Verifying): its result decides. So is one made more than
// FlowClockSlack after now: it was made while central's clock read later
// than it does now (an NTP step back, or a clock set years ahead and
// corrected), and its expiry, reckoned by that clock, would keep its
// launch URL, phone link and page valid for as long as the clock was off.
func (f FlowSession) StatusAt(now time.Time) FlowStatus {
	if (f.Status == FlowCreated || f.Status == FlowInProgress) &&
		(!now.Before(f.ExpiresAt) && !f.Hosted.Verifying(now) || f.CreatedAt.After(now.Add(FlowClockSlack))) {
		return FlowExpired
	}
	return f.Status
}

// FlowClockSlack is how far after central's clock a hosted session, its
// hand-off or its verification may be dated before it is taken as set by
// a clock since put back: the clocks of instances sharing the store
// differ by less.
const FlowClockSlack = time.Minute

// FlowMaxTTL is the longest a session lives (the partner API's
// session_ttl at most, partnerapi.MaxSessionTTL): one expiring further
// ahead was made by a clock since put back.
const FlowMaxTTL = 24 * time.Hour

// Verifying reports whether an attempt of the session is being verified
// (or waits for a slot to be) at now, by an instance not taken for dead.
// The session's expiry waits for it: the person submitted in time. One
// started more than FlowClockSlack after now was started by a clock since
// put back: it is taken for dead, or it would hold the session for as
// long as the clock was off.
func (h *HostedFlow) Verifying(now time.Time) bool {
	return h != nil && h.Stage == HostedStageProcessing && now.Sub(h.ProcessingAt) < HostedProcessingTimeout &&
		!h.ProcessingAt.After(now.Add(FlowClockSlack))
}

// WebhookEvent is one event for a partner, written in the same
// transaction as the change it reports and delivered by the webhook
// worker in order per session.
type WebhookEvent struct {
	// ID is the webhook-id receivers dedupe by ("evt_" + random).
	ID        string          `json:"id"`
	PartnerID string          `json:"partner_id"`
	SessionID string          `json:"session_id"` // ordering key
	Type      string          `json:"type"`       // e.g. "submission.completed"
	Payload   json.RawMessage `json:"payload"`    // the event body, as signed
	CreatedAt time.Time       `json:"created_at"`
	// Seq orders events store-wide (and so per session).
	Seq int64 `json:"seq"`
	// Delivery state.
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at,omitzero"` // next attempt; zero once delivered or dead
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	DeadAt      time.Time `json:"dead_at,omitzero"` // gave up (retries exhausted)
	// HeldBefore is its partner's HeldFor at its first attempt (zero
	// before it), kept by the store from that attempt's Held: the
	// partner's HeldFor less this is how long the event was held since,
	// which its MaxAge does not count. Internal bookkeeping, not shown.
	HeldBefore time.Duration `json:"-"`
}

// Webhook event types.
const (
	EventSubmissionCompleted = "submission.completed"
	EventDecisionChanged     = "decision.changed"
	EventResubmission        = "resubmission.requested"
	EventSessionExpired      = "session.expired"
	// EventSessionEnded: a session ended in ERROR without a result for
	// the partner to fetch: the person left at a RETRY (user_exit), the
	// verification could not run (verification_failed,
	// reference_image_unavailable) or the kiosk that handed it off
	// canceled it (canceled). Its error_code says which.
	EventSessionEnded = "session.ended"
)

// DeliveryAttempt is one try at delivering an event, kept for the admin.
type DeliveryAttempt struct {
	EventID   string    `json:"event_id"`
	At        time.Time `json:"at"`
	Status    int       `json:"status"` // HTTP status; 0 when no answer
	LatencyMS float64   `json:"latency_ms"`
	// Excerpt is the start of the answer's body or the transport error.
	Excerpt string `json:"excerpt,omitempty"`
	// Held is the partner's HeldFor when the attempt was made; the store
	// keeps the first attempt's as the event's HeldBefore, nowhere else.
	Held time.Duration `json:"-"`
}

// WebhookHealth is the delivery state of a partner's newest webhook events
// (Webhooks.WebhookHealth).
type WebhookHealth struct {
	// Events is how many events were looked at: the partner's newest, at
	// most the window asked for.
	Events int
	// Owed and Dead count those still to be delivered and those given up.
	Owed, Dead int
	// Last is the latest delivery attempt of those events (by At); its At
	// is zero when none was attempted.
	Last DeliveryAttempt
}

// Partners is the partner API's store.
type Partners interface {
	// CreatePartner records a partner; ErrPartnerExists if its id or
	// client id is taken.
	CreatePartner(ctx context.Context, p Partner) error
	// UpdatePartner changes a partner in one transaction (fn gets it as
	// stored; an error from fn aborts and is returned as is).
	UpdatePartner(ctx context.Context, id string, fn func(*Partner) error) (Partner, error)
	// Partner returns a partner by id, PartnerByClientID by client id;
	// ErrNotFound if absent.
	Partner(ctx context.Context, id string) (Partner, error)
	PartnerByClientID(ctx context.Context, clientID string) (Partner, error)
	// PartnersList lists partners by id.
	PartnersList(ctx context.Context) ([]Partner, error)

	// PutPartnerToken records a token; PartnerTokenByHash returns it
	// (ErrNotFound if absent or expired at now); ValidPartnerToken returns
	// the partner's newest token still valid at least until minExpiry, so
	// the same token is handed out again (ErrNotFound if none).
	PutPartnerToken(ctx context.Context, t PartnerToken) error
	PartnerTokenByHash(ctx context.Context, hash []byte, now time.Time) (PartnerToken, error)
	ValidPartnerToken(ctx context.Context, partnerID string, minExpiry time.Time) (PartnerToken, error)

	// CreateFlow records a new session (Version 1); ErrPartnerExists if
	// (partner, id) exists. UpdateFlow changes one in a transaction,
	// appending the events fn returns in that same transaction (each gets
	// its Seq; one without PartnerID or SessionID gets the session's), and
	// increments Version; fn cannot change ID or PartnerID, must not call
	// the store, and an error from it aborts and is returned as is.
	// Flow returns a partner's session (ErrNotFound for another partner's:
	// a partner never learns another's session exists). FlowByLaunch finds
	// a session by its launch token's hash.
	CreateFlow(ctx context.Context, f FlowSession) error
	UpdateFlow(ctx context.Context, partnerID, id string, fn func(*FlowSession) ([]WebhookEvent, error)) (FlowSession, error)
	Flow(ctx context.Context, partnerID, id string) (FlowSession, error)
	FlowByLaunch(ctx context.Context, launchHash []byte) (FlowSession, error)
	// ExpiredFlows lists up to limit sessions not COMPLETED, ERROR or
	// EXPIRED whose ExpiresAt is before now, or later than FlowMaxTTL and
	// FlowClockSlack after it (made by a clock since put back, StatusAt).
	ExpiredFlows(ctx context.Context, now time.Time, limit int) ([]FlowSession, error)

	// Idempotent runs fn once per (partner, key): the first call stores
	// fn's answer with the request's hash; a later call with the same hash
	// returns the stored answer without running fn, one with another hash
	// ErrIdempotency. Keys are kept 24 h (from the first call's now).
	// Concurrent calls with one key run fn once: the others wait for it
	// and then replay its answer. An error from fn stores nothing (it is
	// returned as is, and the next call with the key runs fn again).
	Idempotent(ctx context.Context, partnerID, key string, requestHash []byte, now time.Time,
		fn func() (status int, body []byte, err error)) (status int, body []byte, replayed bool, err error)
}

// Webhooks is the webhook worker's store: events written with the changes
// that cause them (UpdateFlow, AppendEvents), taken in order per session.
type Webhooks interface {
	WebhookLanes
	// AppendEvents records events (assigning Seq and NextAt = CreatedAt);
	// an event whose ID is stored already is skipped.
	AppendEvents(ctx context.Context, evs []WebhookEvent) error
	// DueEvents returns up to limit events due at now, at most one per
	// session (the oldest undelivered one of its session, so a session's
	// events go in order and a failing session holds back only itself).
	// It passes over the events of disabled partners: they are held,
	// unchanged, until the partner is enabled (those of a partner that
	// no longer exists are returned). The worker does not count the time
	// held towards an event's MaxAge (Partner.HeldFor).
	DueEvents(ctx context.Context, now time.Time, limit int) ([]WebhookEvent, error)
	// RecordAttempt stores an attempt and the event's new state
	// (delivered, next attempt, or dead) in one transaction; the event's
	// first attempt sets its HeldBefore to a.Held. It holds no lease: the
	// workers record through RecordLeased; this is for tools and tests.
	RecordAttempt(ctx context.Context, a DeliveryAttempt, delivered bool, nextAt, deadAt time.Time) error
	// Events lists a partner's events after seq (all partners when
	// partnerID is empty), at most limit; Attempts an event's attempts.
	Events(ctx context.Context, partnerID string, afterSeq int64, limit int) ([]WebhookEvent, error)
	Attempts(ctx context.Context, eventID string) ([]DeliveryAttempt, error)
	// WebhookHealth sums up the delivery of a partner's newest events, at
	// most window of them, so its cost is bounded however many the
	// partner has (the console's partners page reads it per partner).
	WebhookHealth(ctx context.Context, partnerID string, window int) (WebhookHealth, error)
	// ReplayEvent makes a delivered or dead event due again at now.
	ReplayEvent(ctx context.Context, eventID string, now time.Time) error

	// Cursor returns a follower's position (0 when it never stored one);
	// PutCursor stores it. Followers (the emitter turning completed
	// submissions and review changes into events) read a log after their
	// cursor, write what it causes (idempotently: event ids derived from
	// what caused them, AppendEvents skipping ids it has), then move the
	// cursor: at least once, nothing lost when central stops in between.
	Cursor(ctx context.Context, name string) (int64, error)
	PutCursor(ctx context.Context, name string, seq int64) error
}
