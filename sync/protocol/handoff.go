package protocol

import "time"

// PathHandoffs is where an enrolled device without a camera opens a Smart
// QR hand-off (POST, a HandoffRequest, answered 201 with a Handoff), and
// under which it follows one (GET PathHandoffs+id, a HandoffStatus) or
// cancels it (DELETE PathHandoffs+id). Requests are signed like every
// device request; a device sees only its own hand-offs. Opening one for a
// branch whose partner is disabled is refused, 403 partner_disabled.
const PathHandoffs = "/v1/handoffs/"

// Hand-off stages (HandoffStatus.Stage).
const (
	HandoffWaiting    = "waiting"    // the QR code is shown; no phone yet
	HandoffPhone      = "phone"      // a phone took over and is capturing
	HandoffProcessing = "processing" // central is verifying the phone's captures
	HandoffResult     = "result"     // an attempt is decided (Final tells whether more may come)
	HandoffExpired    = "expired"    // the session's time ran out first
	HandoffCanceled   = "canceled"   // the kiosk canceled it
)

// HandoffRequest opens a hand-off. Every member is optional.
type HandoffRequest struct {
	// Lang is the phone page's language, en or id; empty: the phone's
	// browser decides.
	Lang string `json:"lang,omitempty"`
	// LivenessType is passive (the default) or active.
	LivenessType string `json:"liveness_type,omitempty"`
	// PartnerUserID and PartnerUserIDType are the owning partner's
	// reference for the person, when the operator has it (Get Submission
	// Details asks for them).
	PartnerUserID     string `json:"partner_user_id,omitempty"`
	PartnerUserIDType string `json:"partner_user_id_type,omitempty"`
}

// Handoff is an open hand-off: what the kiosk shows the customer.
type Handoff struct {
	// ID names the hand-off in the device's requests; SessionID is the
	// hosted session's id (the partner's session id, as its webhooks and
	// Get Submission Details name it).
	ID        string `json:"id"`
	SessionID string `json:"session_id"`
	// PartnerID is the partner owning the device's branch, whose session
	// this is (its webhooks fire); empty when no partner owns the branch
	// (a kiosk session only the device and the console see).
	PartnerID string `json:"partner_id,omitempty"`
	// URL is the phone's one-time link, the QR code's content.
	URL string `json:"url"`
	// CodeURL is the page where a phone that cannot scan types ShortCode.
	CodeURL   string `json:"code_url"`
	ShortCode string `json:"short_code"`
	// QRSVG is URL's QR code as an SVG document.
	QRSVG string `json:"qr_svg"`
	// LinkExpiresAt ends URL and ShortCode (nobody took over by then:
	// open a new hand-off); ExpiresAt ends the session.
	LinkExpiresAt time.Time `json:"link_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// HandoffStatus is where a hand-off stands.
type HandoffStatus struct {
	ID    string `json:"id"`
	Stage string `json:"stage"`
	// Final: nothing will change any more (a decision the phone cannot
	// retry, an error, expiry or cancellation); stop polling.
	Final bool `json:"final"`
	// Status is COMPLETED (a decision) or ERROR once the session ended,
	// empty while it goes on; NextAction RETRY (the phone takes it
	// again), STATUS or EXIT; ErrorCode says why an ERROR ended it.
	Status     string `json:"status,omitempty"`
	NextAction string `json:"next_action,omitempty"`
	ErrorCode  string `json:"error_code,omitempty"`
	// Decision is the engine's (approve, review, reject) of the last
	// attempt; Message its generic words for the person, in the
	// session's language (never naming a fraud signal).
	Decision string `json:"decision,omitempty"`
	Message  string `json:"message,omitempty"`
	// Attempt is the attempt the phone is at (or the last decided one);
	// MaxRetries how many the session allows.
	Attempt    int `json:"attempt"`
	MaxRetries int `json:"max_retries"`
	// SubmissionID is central's id of the last decided attempt, as the
	// console shows it.
	SubmissionID string    `json:"submission_id,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
}
