package hostedflow

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/protocol"
)

// KioskPartner is the partner id of kiosk hand-off sessions whose device's
// branch no partner owns (central.KioskPartner). No partner can read them
// and no webhook fires for their results (the kiosk follows them itself);
// their submissions are in the console's queue like every hosted one.
const KioskPartner = central.KioskPartner

// KioskSessionTTL is how long a kiosk hand-off session lasts: the phone
// link works codeTTL of it, the rest is for capturing and retries.
const KioskSessionTTL = 30 * time.Minute

// maxHandoffBody bounds a hand-off request's body.
const maxHandoffBody = 4 << 10

// Error codes of the device endpoints.
const (
	codeHandoffUnknown = "handoff_unknown" // no such hand-off for this device (404)
	// codePartnerDisabled refuses a hand-off of a branch whose partner is
	// disabled (403): the device shows it to the operator, instead of
	// getting a session the phone would be refused.
	codePartnerDisabled = "partner_disabled"
)

// mountDevice serves the kiosk's Smart QR hand-off (protocol.PathHandoffs)
// behind central's device authentication.
func (f *Flow) mountDevice(srv *central.Server) {
	srv.MountDevice("POST "+protocol.PathHandoffs, maxHandoffBody, f.kioskStart)
	srv.MountDevice("GET "+protocol.PathHandoffs+"{id}", 0, f.kioskStatus)
	srv.MountDevice("DELETE "+protocol.PathHandoffs+"{id}", 0, f.kioskCancel)
}

// kioskStart opens a hosted session for an enrolled device without a
// camera: the session of the partner owning the device's branch (or a
// KioskPartner session), bound to no browser, with the phone's one-time
// link and short code issued at once. A branch whose partner is disabled
// gets 403 partner_disabled.
func (f *Flow) kioskStart(w http.ResponseWriter, r *http.Request, d central.Device, body []byte) error {
	if f.cfg.Engines == nil {
		// 501, not 503: the device's client retries a 503, and models
		// being installed is not a matter of seconds.
		return httpx.Errorf(http.StatusNotImplemented, "unavailable", "the verification service is not available: central's models are not installed")
	}
	var req protocol.HandoffRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return httpx.Wrap(err, http.StatusBadRequest, "malformed", "the hand-off request is not JSON")
		}
	}
	switch {
	case req.Lang != "" && req.Lang != "en" && req.Lang != "id":
		return httpx.Errorf(http.StatusUnprocessableEntity, "invalid", "lang must be en or id")
	case req.LivenessType != "" && req.LivenessType != "passive" && req.LivenessType != "active":
		return httpx.Errorf(http.StatusUnprocessableEntity, "invalid", "liveness_type must be passive or active")
	case !validUserRef(req.PartnerUserID) || !validUserRef(req.PartnerUserIDType):
		return httpx.Errorf(http.StatusUnprocessableEntity, "invalid", "partner_user_id and partner_user_id_type are at most 128 letters, digits or . _ : @ + -")
	case req.PartnerUserIDType == webhook.KioskUserIDType:
		// The type of the kiosk's own sessions (the webhook emitter's); a
		// hand-off is the customer's session.
		return httpx.Errorf(http.StatusUnprocessableEntity, "invalid", "partner_user_id_type kiosk_device is reserved")
	}
	p, err := f.branchOwner(r, d.Branch)
	if err != nil {
		return err
	}
	if p.Disabled {
		return httpx.Errorf(http.StatusForbidden, codePartnerDisabled,
			"the partner owning this device's branch is disabled: no phone hand-off until an administrator enables it")
	}
	owner := p.ID
	cfg := partnerapi.FlowConfig{LivenessType: "passive", MaxRetries: partnerapi.DefaultMaxRetries, SessionTTL: int(KioskSessionTTL / time.Second),
		SmartQR: true, AllowUpload: true, AcceptedCountries: []string{}}
	if req.LivenessType != "" {
		cfg.LivenessType = req.LivenessType
	}
	doc, err := configJSON(cfg, req.Lang)
	if err != nil {
		return err
	}
	now := f.now()
	secret := newSecret()
	userType := req.PartnerUserIDType
	if userType == "" && req.PartnerUserID != "" {
		userType = "user_id"
	}
	fs := central.FlowSession{PartnerID: owner, UserID: req.PartnerUserID, UserIDType: userType, Config: doc,
		Status: central.FlowInProgress, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(KioskSessionTTL),
		Hosted: &central.HostedFlow{HandoffHash: hashOf(secret), HandoffAt: now, LaunchUsedAt: now, Stage: stepDocument,
			Lang: req.Lang, KioskDevice: d.ID, ChallengeOrder: f.challengeOrder()}}
	for try := 0; ; try++ {
		fs.ID = "kiosk-" + randomID()
		err = f.cfg.Store.CreateFlow(r.Context(), fs)
		if !errors.Is(err, central.ErrPartnerExists) || try == 3 {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("creating the hand-off session: %w", err)
	}
	link, err := f.handoffLink(r.Context(), fs.PartnerID, fs.ID, secret, now.Add(codeTTL))
	if err != nil {
		return err
	}
	h := protocol.Handoff{ID: handoffID(fs.PartnerID, fs.ID), SessionID: fs.ID, URL: link.URL, CodeURL: f.base.String() + "/flow/code",
		ShortCode: link.ShortCode, QRSVG: link.QRSVG, LinkExpiresAt: link.ExpiresAt, ExpiresAt: fs.ExpiresAt}
	if owner != KioskPartner {
		h.PartnerID = owner
	}
	httpx.WriteJSON(w, http.StatusCreated, h)
	return nil
}

// branchOwner is the partner owning branch, an enabled one before a
// disabled one, else one whose ID is KioskPartner. A disabled partner
// keeps its branches: falling back to a kiosk session would run its
// customers' hand-offs past its checks and without its webhooks.
func (f *Flow) branchOwner(r *http.Request, branch string) (central.Partner, error) {
	kiosk := central.Partner{ID: KioskPartner}
	if branch == "" {
		return kiosk, nil
	}
	ps, err := f.cfg.Store.PartnersList(r.Context())
	if err != nil {
		return central.Partner{}, fmt.Errorf("listing partners: %w", err)
	}
	var disabled []central.Partner
	for _, p := range ps {
		switch {
		case !slices.Contains(p.Branches, branch):
		case !p.Disabled:
			return p, nil
		default:
			disabled = append(disabled, p)
		}
	}
	if len(disabled) > 0 {
		return disabled[0], nil
	}
	return kiosk, nil
}

// configJSON is a session configuration as stored, with the language
// member configLang reads.
func configJSON(c partnerapi.FlowConfig, lang string) (json.RawMessage, error) {
	b, err := json.Marshal(c)
	if err != nil || lang == "" {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["language"] = lang
	return json.Marshal(m)
}

func validUserRef(s string) bool {
	if len(s) > 128 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:@+-", r))
	})
}

func randomID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// handoffID names a hand-off in the device's requests: the partner and
// the session.
func handoffID(partnerID, sessionID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(partnerID)) + "." + sessionID
}

// kioskFlow reads the hand-off a device names; another device's, or no
// hand-off at all, is 404 handoff_unknown. The id is the device's to
// write: one no store can hold (NUL, not UTF-8) names no hand-off and must
// not reach PostgreSQL, which fails on it (500) rather than find nothing.
func (f *Flow) kioskFlow(r *http.Request, d central.Device) (central.FlowSession, error) {
	unknown := httpx.Errorf(http.StatusNotFound, codeHandoffUnknown, "no such hand-off for this device")
	p, sid, ok := strings.Cut(r.PathValue("id"), ".")
	pid, err := base64.RawURLEncoding.DecodeString(p)
	if !ok || err != nil || !storable(pid) || !storable([]byte(sid)) {
		return central.FlowSession{}, unknown
	}
	fs, err := f.cfg.Store.Flow(r.Context(), string(pid), sid)
	if errors.Is(err, central.ErrNotFound) {
		return central.FlowSession{}, unknown
	}
	if err != nil {
		return central.FlowSession{}, fmt.Errorf("reading the hand-off: %w", err)
	}
	if fs.Hosted == nil || fs.Hosted.KioskDevice != d.ID {
		return central.FlowSession{}, unknown
	}
	return fs, nil
}

// kioskStatus tells the device where its hand-off stands.
func (f *Flow) kioskStatus(w http.ResponseWriter, r *http.Request, d central.Device, _ []byte) error {
	fs, err := f.kioskFlow(r, d)
	if err != nil {
		return err
	}
	if fs.PartnerID == KioskPartner && f.status(fs) == central.FlowExpired && fs.Status != central.FlowExpired {
		// The emitter records a kiosk session's expiry (without an
		// event) when it passes; the kiosk asking first records it here.
		now := f.now()
		if upd, err := f.cfg.Store.UpdateFlow(r.Context(), fs.PartnerID, fs.ID, func(s *central.FlowSession) ([]central.WebhookEvent, error) {
			if s.Status == central.FlowCreated || s.Status == central.FlowInProgress {
				s.Status, s.NextAction, s.ErrorCode, s.UpdatedAt = central.FlowExpired, "EXIT", "session_expired", now
			}
			return nil, nil
		}); err == nil {
			fs = upd
		}
	}
	httpx.WriteJSON(w, http.StatusOK, f.kioskView(r, fs))
	return nil
}

// kioskView is a session as the kiosk sees it.
func (f *Flow) kioskView(r *http.Request, fs central.FlowSession) protocol.HandoffStatus {
	h := fs.Hosted
	cfg := flowConfig(fs)
	st := protocol.HandoffStatus{ID: handoffID(fs.PartnerID, fs.ID), Attempt: fs.Attempts + 1, MaxRetries: cfg.MaxRetries,
		ExpiresAt: fs.ExpiresAt, NextAction: fs.NextAction, ErrorCode: fs.ErrorCode, Decision: h.Decision, Message: resultMessage(h, h.Lang)}
	status := f.status(fs)
	st.Status = callbackStatus(status)
	if n := len(fs.Submissions); n > 0 {
		st.SubmissionID = submissionID(fs.PartnerID, fs.ID, fs.Attempts)
	}
	switch {
	case status == central.FlowExpired:
		st.Stage, st.Final = protocol.HandoffExpired, true
		if st.ErrorCode == "" {
			st.ErrorCode = "session_expired"
		}
	case status == central.FlowError && fs.ErrorCode == errCanceled:
		st.Stage, st.Final = protocol.HandoffCanceled, true
	case status == central.FlowCompleted || status == central.FlowError:
		st.Stage, st.Final = protocol.HandoffResult, true
	case f.processing(r.Context(), fs):
		st.Stage = protocol.HandoffProcessing
	case h.Stage == "result":
		st.Stage = protocol.HandoffResult // a RETRY the phone takes
	case len(h.PhoneHash) > 0:
		st.Stage = protocol.HandoffPhone
	default:
		st.Stage = protocol.HandoffWaiting
	}
	if st.Stage == protocol.HandoffResult || st.Final {
		st.Attempt = max(1, fs.Attempts)
	}
	if st.Stage != protocol.HandoffResult && !st.Final {
		st.NextAction, st.Decision, st.Message = "", "", ""
	}
	return st
}

// errCanceled is the error_code of a hand-off the kiosk canceled.
const errCanceled = "canceled"

// errProcessing: the session's captures are being verified.
var errProcessing = errors.New("hostedflow: the session is being verified")

// kioskCancel ends a hand-off before its result: the phone link stops
// working, the session ends in ERROR canceled; 409 once it is final.
func (f *Flow) kioskCancel(w http.ResponseWriter, r *http.Request, d central.Device, _ []byte) error {
	fs, err := f.kioskFlow(r, d)
	if err != nil {
		return err
	}
	if f.processing(r.Context(), fs) {
		return httpx.Errorf(http.StatusConflict, "handoff_processing", "the phone's captures are being verified; the result comes in a moment")
	}
	now := f.now()
	_, err = f.cfg.Store.UpdateFlow(r.Context(), fs.PartnerID, fs.ID, func(s *central.FlowSession) ([]central.WebhookEvent, error) {
		if f.status(*s) != central.FlowInProgress && f.status(*s) != central.FlowCreated {
			return nil, errUsed
		}
		if f.processing(r.Context(), *s) {
			// A submit that came after the check above: its result,
			// stored over a cancel, would end the session twice.
			return nil, errProcessing
		}
		s.Status, s.NextAction, s.ErrorCode, s.UpdatedAt = central.FlowError, "EXIT", errCanceled, now
		s.Hosted.HandoffHash, s.Hosted.FinishedAt = nil, now
		// The partner owning the kiosk's branch learns that its session
		// ended, as of any other that ends without a result.
		return endedEvent(*s, now)
	})
	if errors.Is(err, errProcessing) {
		return httpx.Errorf(http.StatusConflict, "handoff_processing", "the phone's captures are being verified; the result comes in a moment")
	}
	if errors.Is(err, errUsed) {
		return httpx.Errorf(http.StatusConflict, "handoff_finished", "the hand-off is finished")
	}
	if err != nil {
		return fmt.Errorf("canceling the hand-off: %w", err)
	}
	f.dropSession(r.Context(), fs)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
