package partnerapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The enterprise push (seed 003, the REL-ID KYC API): per partner,
// optionally, central POSTs each completed submission whole to the
// partner's HTTPS endpoint, with an OAuth2 client-credentials token and
// the body encrypted with AES-256-GCM under a key shared with the
// partner. This file keeps its settings (in Partner.Config "push", secrets
// sealed), their admin endpoints, and the submission the push sends
// (PushSubmission); package push sends it.

// Audit actions of the push settings (Subject "partner:<id>").
const (
	AuditPartnerPush       = "partner_push"
	AuditPartnerPushKey    = "partner_push_key"
	AuditPartnerPushRemove = "partner_push_remove"
)

// PushKeySize is the size of the AES-256 key shared with the partner.
const PushKeySize = 32

// prefixPushKey starts a push encryption key's id.
const prefixPushKey = "pek_"

// ErrNoPush means the partner has no enterprise push configured.
var ErrNoPush = errors.New("partnerapi: the partner has no enterprise push")

// pushSettings is the stored form (secrets sealed with keys.settings).
type pushSettings struct {
	URL          string    `json:"url"`
	TokenURL     string    `json:"token_url"`
	ClientID     string    `json:"client_id"`
	ClientSecret []byte    `json:"client_secret"` // sealed
	Scopes       []string  `json:"scopes,omitempty"`
	KeyID        string    `json:"key_id"`
	Key          []byte    `json:"key"` // sealed
	KeyCreatedAt time.Time `json:"key_created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Additional data binding each sealed push secret to its partner and use.
func aadPushClientSecret(partnerID string) string {
	return "partner:" + partnerID + ":push-client-secret"
}
func aadPushKey(partnerID, keyID string) string { return "partner:" + partnerID + ":push-key:" + keyID }

// PushView is a partner's push settings as the admin API shows them: no
// secrets.
type PushView struct {
	URL          string    `json:"url"`
	TokenURL     string    `json:"token_url"`
	ClientID     string    `json:"client_id"`
	Scopes       []string  `json:"scopes"`
	KeyID        string    `json:"key_id"`
	KeyCreatedAt time.Time `json:"key_created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func pushView(p central.Partner) *PushView {
	var s pushSettings
	if ok, err := configMember(p, configPush, &s); !ok || err != nil {
		return nil
	}
	v := &PushView{URL: MaskURL(s.URL), TokenURL: MaskURL(s.TokenURL), ClientID: s.ClientID, Scopes: s.Scopes, KeyID: s.KeyID,
		KeyCreatedAt: s.KeyCreatedAt, UpdatedAt: s.UpdatedAt}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

// PushConfigured reports whether p takes the enterprise push: the webhook
// emitter writes push events only for such partners.
func PushConfigured(p central.Partner) bool {
	var s pushSettings
	ok, err := configMember(p, configPush, &s)
	return ok && err == nil && s.URL != ""
}

// PushRequest configures a partner's push. ClientSecret may be left out
// to keep the stored one.
type PushRequest struct {
	URL          string   `json:"url"`
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
}

// PushConfiguredResult is a partner with its push settings, and the
// encryption key when one was made: shown once, central keeps it sealed.
type PushConfiguredResult struct {
	Partner PartnerView `json:"partner"`
	KeyID   string      `json:"key_id"`
	// EncryptionKey is the AES-256 key (base64, 32 bytes) the partner
	// decrypts pushes with; set only when it was made by this call.
	EncryptionKey string `json:"encryption_key,omitempty"`
}

// printable reports whether s is 1 to n printable ASCII characters
// without spaces.
func printable(s string, n int) bool {
	return s != "" && len(s) <= n && !strings.ContainsFunc(s, func(r rune) bool { return r <= 0x20 || r >= 0x7f })
}

func checkPush(ve *ValidationError, req PushRequest, haveSecret bool) {
	if req.URL == "" {
		ve.add("url", "required", "url is required")
	} else {
		checkWebhookURL(ve, "url", req.URL)
	}
	if req.TokenURL == "" {
		ve.add("token_url", "required", "token_url is required")
	} else {
		checkWebhookURL(ve, "token_url", req.TokenURL)
	}
	if !printable(req.ClientID, 256) {
		ve.add("client_id", "invalid", "client_id must be 1-256 printable characters without spaces")
	}
	switch {
	case req.ClientSecret == "" && !haveSecret:
		ve.add("client_secret", "required", "client_secret is required")
	case req.ClientSecret != "" && !printable(req.ClientSecret, 1024):
		ve.add("client_secret", "invalid", "client_secret must be 1-1024 printable characters without spaces")
	}
	if len(req.Scopes) > 20 {
		ve.add("scopes", "too_many", "at most 20 scopes")
	}
	for i, sc := range req.Scopes {
		if !printable(sc, 128) {
			ve.add(fmt.Sprintf("scopes[%d]", i), "invalid", "a scope is 1-128 printable characters without spaces")
		}
	}
}

// newPushKey makes an encryption key and its sealed form.
func (a *API) newPushKey(partnerID string) (id string, key, sealed []byte, err error) {
	key = make([]byte, PushKeySize)
	rand.Read(key)
	id = prefixPushKey + random(9)
	sealed, err = seal(a.keys.settings, aadPushKey(partnerID, id), key)
	return id, key, sealed, err
}

// SetPush configures (or reconfigures) a partner's enterprise push; the
// first time it makes the encryption key, returned once. Reconfiguring
// keeps the key (RotatePushKey changes it).
func (a *API) SetPush(ctx context.Context, actor, id string, req PushRequest) (PushConfiguredResult, error) {
	now := a.now()
	var (
		before         *PushView
		newKey         []byte
		keyID, kidMade string
		sealedKey      []byte
		err            error
	)
	// The key is made outside the transaction (random), used only if the
	// partner has none yet.
	if kidMade, newKey, sealedKey, err = a.newPushKey(id); err != nil {
		return PushConfiguredResult{}, fmt.Errorf("sealing the push key: %w", err)
	}
	var ve ValidationError
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = pushView(*p)
		var s pushSettings
		had, err := configMember(*p, configPush, &s)
		if err != nil {
			return err
		}
		checkPush(&ve, req, had && len(s.ClientSecret) > 0)
		if err := ve.err(); err != nil {
			return err
		}
		if req.ClientSecret != "" {
			if s.ClientSecret, err = seal(a.keys.settings, aadPushClientSecret(p.ID), []byte(req.ClientSecret)); err != nil {
				return fmt.Errorf("sealing the client secret: %w", err)
			}
		}
		s.URL, s.TokenURL, s.ClientID, s.Scopes, s.UpdatedAt = req.URL, req.TokenURL, req.ClientID, slices.Clone(req.Scopes), now
		if s.KeyID == "" {
			s.KeyID, s.Key, s.KeyCreatedAt = kidMade, sealedKey, now
		}
		keyID = s.KeyID
		return setConfigMember(p, configPush, s)
	})
	if err != nil {
		return PushConfiguredResult{}, fmt.Errorf("setting the push: %w", err)
	}
	v := View(p)
	if err := a.audit(ctx, actor, AuditPartnerPush, id, before, v.Push); err != nil {
		return PushConfiguredResult{}, err
	}
	out := PushConfiguredResult{Partner: v, KeyID: keyID}
	if keyID == kidMade {
		out.EncryptionKey = base64.StdEncoding.EncodeToString(newKey)
	}
	return out, nil
}

// errNoPushHTTP is ErrNoPush as the admin API answers it.
func errNoPushHTTP(err error) error {
	return httpx.Wrap(err, http.StatusConflict, "push_not_configured", "the partner has no enterprise push; configure it first")
}

// RotatePushKey replaces a partner's push encryption key: pushes are
// encrypted with the new one from now on (retries included), so the
// partner installs it at once; the key id in each push says which key it
// takes. ErrNoPush when none is configured.
func (a *API) RotatePushKey(ctx context.Context, actor, id string) (PushConfiguredResult, error) {
	now := a.now()
	kid, key, sealedKey, err := a.newPushKey(id)
	if err != nil {
		return PushConfiguredResult{}, fmt.Errorf("sealing the push key: %w", err)
	}
	var before *PushView
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = pushView(*p)
		var s pushSettings
		ok, err := configMember(*p, configPush, &s)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoPush
		}
		s.KeyID, s.Key, s.KeyCreatedAt, s.UpdatedAt = kid, sealedKey, now, now
		return setConfigMember(p, configPush, s)
	})
	if err != nil {
		return PushConfiguredResult{}, fmt.Errorf("rotating the push key: %w", err)
	}
	v := View(p)
	if err := a.audit(ctx, actor, AuditPartnerPushKey, id, before, v.Push); err != nil {
		return PushConfiguredResult{}, err
	}
	return PushConfiguredResult{Partner: v, KeyID: kid, EncryptionKey: base64.StdEncoding.EncodeToString(key)}, nil
}

// RemovePush ends a partner's enterprise push (pushes already written
// then fail their attempts until they are dead).
func (a *API) RemovePush(ctx context.Context, actor, id string) (PartnerView, error) {
	var before *PushView
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = pushView(*p)
		return setConfigMember(p, configPush, nil)
	})
	if err != nil {
		return PartnerView{}, fmt.Errorf("removing the push: %w", err)
	}
	return View(p), a.audit(ctx, actor, AuditPartnerPushRemove, id, before, nil)
}

// PushTarget is where and how a partner takes the push, secrets opened.
type PushTarget struct {
	URL, TokenURL          string
	ClientID, ClientSecret string
	Scopes                 []string
	KeyID                  string
	Key                    []byte // AES-256
}

// PushTarget returns p's push settings with their secrets opened;
// ErrNoPush when it has none.
func (a *API) PushTarget(p central.Partner) (PushTarget, error) {
	var s pushSettings
	ok, err := configMember(p, configPush, &s)
	if err != nil {
		return PushTarget{}, err
	}
	if !ok || s.URL == "" {
		return PushTarget{}, ErrNoPush
	}
	secret, err := unseal(a.keys.settings, aadPushClientSecret(p.ID), s.ClientSecret)
	if err != nil {
		return PushTarget{}, errors.New("partnerapi: the push client secret does not open (another SecretKey?)")
	}
	key, err := unseal(a.keys.settings, aadPushKey(p.ID, s.KeyID), s.Key)
	if err != nil || len(key) != PushKeySize {
		return PushTarget{}, errors.New("partnerapi: the push key does not open (another SecretKey?)")
	}
	return PushTarget{URL: s.URL, TokenURL: s.TokenURL, ClientID: s.ClientID, ClientSecret: string(secret),
		Scopes: s.Scopes, KeyID: s.KeyID, Key: key}, nil
}

// PushSubmission is what one push carries, encrypted: the whole KYC
// submission as seed 003 lists it (the user's identity, the document's
// data with each field's source, liveness, face match, the images
// themselves).
type PushSubmission struct {
	// ID is the push's id: the same on every retry of it, so the partner
	// dedupes by it.
	ID   string `json:"id"`
	Type string `json:"type"` // "kyc.submission"
	// CreatedAt is when this body was built (each attempt builds it anew
	// from the store: a reviewer's later decision shows).
	CreatedAt time.Time `json:"created_at"`
	User      PushUser  `json:"user"`
	// Session is the session's status, as status polling shows it.
	Session FlowStatusView `json:"session"`
	// Submission is the result as Get Submission Details gives it, without
	// image links; nil when the submission was erased.
	Submission *Result `json:"submission"`
	// Images are the submission's images (none once retention dropped
	// them).
	Images []PushImage `json:"images"`
}

// PushType is PushSubmission.Type.
const PushType = "kyc.submission"

// PushUser is who the submission is about, in the partner's terms.
type PushUser struct {
	PartnerUserID     string `json:"partner_user_id"`
	PartnerUserIDType string `json:"partner_user_id_type"`
	SessionID         string `json:"session_id"`
	// DeviceID is where it was captured: the kiosk's device id, or
	// "hosted" for the hosted flow (the seed's "mobile app ID").
	DeviceID string `json:"device_id"`
}

// pushDevice is a submission's device as the push names it: "hosted" for
// every hosted pseudo-device (their branch is central's business).
func pushDevice(deviceID string) string {
	if central.IsHostedDevice(deviceID) {
		return central.HostedDevice("")
	}
	return deviceID
}

// PushImage is one image, inline.
type PushImage struct {
	Name        string `json:"name"` // front, back, selfie
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"` // hex
	Data        []byte `json:"data"`   // base64 in JSON
}

// PushBody is one push's plaintext as read from the store: the JSON of a
// PushSubmission, written by Write with the images' bytes read from the
// store a stored chunk at a time as they are written, so a push holds a
// chunk, never its images (up to protocol.MaxImages of
// protocol.MaxImageSize, in base64). Its length is known before it is
// written (Len), so a push can announce it.
type PushBody struct {
	// Submission is the push without its images.
	Submission PushSubmission
	store      central.Store
	ref        central.SubmissionRef
	images     []pushImage
}

// pushImage is an image a PushBody carries: its manifest entry and the
// content type it was found to have when the body was built, which Len
// counts and Write writes.
type pushImage struct {
	central.ImageProgress
	contentType string
}

// PushSubmission builds the push of partner p's session sessionID: its
// submission of the given attempt (the newest one when attempt is 0 or
// none matches), read now from the store, each image's content type
// sniffed from its first bytes (an image gone by then is left out).
// pushID becomes the body's ID. central.ErrNotFound when the session or
// every submission is gone.
func (a *API) PushSubmission(ctx context.Context, p central.Partner, sessionID string, attempt int, pushID string) (*PushBody, error) {
	f, err := a.cfg.Store.Flow(ctx, p.ID, sessionID)
	if err != nil {
		return nil, fmt.Errorf("reading the session: %w", err)
	}
	ref, sub, err := a.pushRef(ctx, f, attempt)
	if err != nil {
		return nil, err
	}
	res, err := a.result(ctx, p.ID, f, ref, false)
	if err != nil {
		return nil, err
	}
	b := &PushBody{store: a.cfg.Store, ref: ref, Submission: PushSubmission{ID: pushID, Type: PushType, CreatedAt: a.now(),
		User:    PushUser{PartnerUserID: f.UserID, PartnerUserIDType: f.UserIDType, SessionID: f.ID, DeviceID: pushDevice(ref.DeviceID)},
		Session: a.statusView(f), Submission: res, Images: []PushImage{}}}
	if res == nil || !sub.ImagesErasedAt.IsZero() || sub.CompletedAt.IsZero() {
		return b, nil
	}
	for _, im := range sub.Images {
		ct := http.DetectContentType(nil) // no bytes to sniff: data is null
		if im.Size > 0 {
			ct, err = central.ImageContentType(ctx, a.cfg.Store, ref, im.Name)
			if errors.Is(err, central.ErrNotFound) {
				continue // dropped by retention
			}
			if err != nil {
				return nil, fmt.Errorf("sniffing the image %s: %w", im.Name, err)
			}
		}
		if !strings.HasPrefix(ct, "image/") {
			ct = "application/octet-stream"
		}
		b.images = append(b.images, pushImage{ImageProgress: im, contentType: ct})
	}
	return b, nil
}

// Len is how many bytes Write writes, counted without reading an image:
// the same encoding with each image's base64 counted from its manifest
// size. Write writes fewer only if an image was dropped from the store
// in between.
func (b *PushBody) Len() (int64, error) {
	var n byteCount
	err := b.encode(&n, func(_ io.Writer, im pushImage, begin func() error) error {
		if err := begin(); err != nil {
			return err
		}
		n += byteCount(central.ImageJSONLen(im.Size))
		return nil
	})
	return int64(n), err
}

// Write writes the push's JSON to w: the bytes json.Marshal gives for the
// PushSubmission with its images, each image's size and SHA-256 from the
// manifest (checked against the bytes as they pass), its content type
// the one sniffed when the body was built. An image gone from the store
// before its first byte is left out (Write then writes fewer than Len
// bytes); a failure later leaves w holding a part of the push, and the
// error says so. Each call reads the store anew.
func (b *PushBody) Write(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	err := b.encode(bw, func(w io.Writer, im pushImage, begin func() error) error {
		h := sha256.New()
		if err := central.WriteImageJSON(ctx, b.store, w, h, b.ref, im.Name, im.Size, begin); err != nil {
			return err
		}
		if !bytes.Equal(h.Sum(nil), im.SHA256) {
			return errors.New("its bytes do not match the manifest's SHA-256")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the push: %w", err)
	}
	return nil
}

// jsonWriter is what encode writes to: a bufio.Writer, whose errors stick
// until Flush, or a byteCount.
type jsonWriter interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
}

// encode writes the push's JSON to w, Write's and Len's alike but for
// each image's data (its JSON string, central.WriteImageJSON's), which
// data writes to w after calling begin, or leaves out by returning
// central.ErrNotFound before calling it.
func (b *PushBody) encode(w jsonWriter, data func(w io.Writer, im pushImage, begin func() error) error) error {
	head, err := json.Marshal(b.Submission)
	if err != nil {
		return fmt.Errorf("encoding the push: %w", err)
	}
	head, ok := bytes.CutSuffix(head, []byte(`[]}`)) // Images, empty, come last
	if !ok {
		return errors.New("encoding the push: its images are not its last member")
	}
	w.Write(head)
	w.WriteByte('[')
	var written int
	for _, im := range b.images {
		// The image's members but its data, as json.Marshal writes them.
		meta := func() error {
			m, err := json.Marshal(PushImage{Name: im.Name, ContentType: im.contentType, Size: im.Size, SHA256: hex.EncodeToString(im.SHA256)})
			if err != nil {
				return err
			}
			m, ok := bytes.CutSuffix(m, []byte(`null}`)) // Data, nil, comes last
			if !ok {
				return errors.New("its data is not its last member")
			}
			if written++; written > 1 {
				w.WriteByte(',')
			}
			_, err = w.Write(m)
			return err
		}
		if im.Size == 0 {
			// No bytes: data is null, as for any empty slice.
			if err := meta(); err != nil {
				return fmt.Errorf("writing the image %s: %w", im.Name, err)
			}
			w.WriteString(`null}`)
			continue
		}
		err := data(w, im, meta)
		if errors.Is(err, central.ErrNotFound) {
			continue // dropped meanwhile (never after a byte: WriteImage)
		}
		if err != nil {
			return fmt.Errorf("writing the image %s: %w", im.Name, err)
		}
		w.WriteByte('}')
	}
	w.WriteString(`]}`)
	return nil
}

// byteCount is a jsonWriter that only counts what is written to it.
type byteCount int64

func (n *byteCount) Write(p []byte) (int, error) {
	*n += byteCount(len(p))
	return len(p), nil
}

func (n *byteCount) WriteByte(byte) error {
	*n++
	return nil
}

func (n *byteCount) WriteString(s string) (int, error) {
	*n += byteCount(len(s))
	return len(s), nil
}

// pushRef picks the session's submission of the attempt, newest first.
func (a *API) pushRef(ctx context.Context, f central.FlowSession, attempt int) (central.SubmissionRef, central.Submission, error) {
	var (
		last    central.SubmissionRef
		lastSub central.Submission
		found   bool
	)
	for i := len(f.Submissions) - 1; i >= 0; i-- {
		ref := f.Submissions[i]
		sub, err := a.cfg.Store.Upload(ctx, ref.DeviceID, ref.Key)
		if errors.Is(err, central.ErrNotFound) {
			continue // erased
		}
		if err != nil {
			return ref, sub, fmt.Errorf("reading the submission: %w", err)
		}
		if !found {
			last, lastSub, found = ref, sub, true
		}
		if attempt == 0 || (sub.Summary != nil && sub.Summary.Attempt == attempt) {
			return ref, sub, nil
		}
	}
	if !found {
		return last, lastSub, fmt.Errorf("the session has no submission: %w", central.ErrNotFound)
	}
	return last, lastSub, nil
}

// --- admin handlers ---

func (a *API) adminPush(w http.ResponseWriter, r *http.Request) error {
	var req PushRequest
	if err := decodeStrict(w, r, &req, "url", "token_url", "client_id", "client_secret", "scopes"); err != nil {
		return err
	}
	res, err := a.SetPush(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), req)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) adminPushKey(w http.ResponseWriter, r *http.Request) error {
	res, err := a.RotatePushKey(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"))
	if errors.Is(err, ErrNoPush) {
		return errNoPushHTTP(err)
	}
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) adminPushRemove(w http.ResponseWriter, r *http.Request) error {
	v, err := a.RemovePush(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"))
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
