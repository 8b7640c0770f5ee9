package partnerapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // JPEG, PNG and WebP headers for image.DecodeConfig
	_ "image/png"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	_ "golang.org/x/image/webp"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The reference image (seed 000): for a flow with use_reference_image,
// the selfie is compared with the image the partner's own
// reference-image endpoint returns for the session's user, instead of
// the document portrait. Its settings are in Partner.Config
// "reference_image", the secret sealed.

// Audit actions of the reference-image settings (Subject "partner:<id>").
const (
	AuditPartnerReferenceImage       = "partner_reference_image"
	AuditPartnerReferenceImageRemove = "partner_reference_image_remove"
)

// Bounds of the reference-image settings.
const (
	DefaultReferenceTimeout = 10 * time.Second
	MaxReferenceTimeout     = 60 * time.Second
	minReferenceTimeout     = 100 * time.Millisecond
	DefaultReferenceBytes   = 5 << 20
	MaxReferenceBytes       = MaxFaceMatchImage
	minReferenceBytes       = 1 << 10
	// maxReferencePixels bounds the image by its header, as engine/imageio
	// bounds what it decodes.
	maxReferencePixels = 40_000_000
)

// Reference-image authentication schemes.
const (
	ReferenceAuthBearer = "bearer" // Authorization: Bearer <secret>
	ReferenceAuthBasic  = "basic"  // Authorization: Basic <username:secret>
	ReferenceAuthHeader = "header" // <header>: <secret>
)

// Reference-image errors: every error ReferenceImage returns wraps exactly
// one of them.
var (
	// ErrNoReferenceEndpoint: the partner has no reference-image endpoint.
	ErrNoReferenceEndpoint = errors.New("the partner has no reference-image endpoint")
	// ErrReferenceNotFound: the endpoint answered 404 (no image for the user).
	ErrReferenceNotFound = errors.New("the reference-image endpoint has no image for this user")
	// ErrReferenceUnauthorized: the endpoint refused central's credentials
	// (401 or 403).
	ErrReferenceUnauthorized = errors.New("the reference-image endpoint refused central's credentials")
	// ErrReferenceTimeout: no complete answer within the partner's timeout.
	ErrReferenceTimeout = errors.New("the reference-image endpoint did not answer in time")
	// ErrReferenceTooLarge: the image is over the partner's size limit (or
	// over 40 megapixels by its header).
	ErrReferenceTooLarge = errors.New("the reference image is too large")
	// ErrReferenceNotImage: not a JPEG, PNG or WebP by its header, or a
	// header that does not parse.
	ErrReferenceNotImage = errors.New("the reference image is not a supported image")
	// ErrReferenceUnavailable: any other failure (transport error, another
	// status, the caller's context ended).
	ErrReferenceUnavailable = errors.New("the reference-image endpoint failed")
)

// ReferenceImageConfig is a partner's reference-image endpoint as the
// admin API takes it. Secret may be left out to keep the stored one.
type ReferenceImageConfig struct {
	URL      string `json:"url"`
	Auth     string `json:"auth"`               // bearer, basic or header
	Header   string `json:"header,omitempty"`   // the header's name (auth "header")
	Username string `json:"username,omitempty"` // auth "basic"
	Secret   string `json:"secret,omitempty"`   // the token, password or header value; never shown again
	// TimeoutMS bounds the whole call (DefaultReferenceTimeout; at most
	// MaxReferenceTimeout); MaxBytes the image (DefaultReferenceBytes; at
	// most MaxReferenceBytes).
	TimeoutMS int   `json:"timeout_ms,omitempty"`
	MaxBytes  int64 `json:"max_bytes,omitempty"`
}

// referenceSettings is the stored form (the secret sealed).
type referenceSettings struct {
	URL       string    `json:"url"`
	Auth      string    `json:"auth"`
	Header    string    `json:"header,omitempty"`
	Username  string    `json:"username,omitempty"`
	Secret    []byte    `json:"secret"` // sealed
	TimeoutMS int       `json:"timeout_ms"`
	MaxBytes  int64     `json:"max_bytes"`
	UpdatedAt time.Time `json:"updated_at"`
}

func aadReferenceSecret(partnerID string) string { return "partner:" + partnerID + ":reference-secret" }

// ReferenceImageView is the reference-image endpoint as the admin API
// shows it: no secret.
type ReferenceImageView struct {
	URL       string    `json:"url"`
	Auth      string    `json:"auth"`
	Header    string    `json:"header,omitempty"`
	Username  string    `json:"username,omitempty"`
	TimeoutMS int       `json:"timeout_ms"`
	MaxBytes  int64     `json:"max_bytes"`
	UpdatedAt time.Time `json:"updated_at"`
}

func referenceImageView(p central.Partner) *ReferenceImageView {
	var s referenceSettings
	if ok, err := configMember(p, configReferenceImage, &s); !ok || err != nil {
		return nil
	}
	return &ReferenceImageView{URL: MaskURL(s.URL), Auth: s.Auth, Header: s.Header, Username: s.Username, TimeoutMS: s.TimeoutMS,
		MaxBytes: s.MaxBytes, UpdatedAt: s.UpdatedAt}
}

// HasReferenceImage reports whether p has a reference-image endpoint.
func HasReferenceImage(p central.Partner) bool {
	var s referenceSettings
	ok, err := configMember(p, configReferenceImage, &s)
	return ok && err == nil && s.URL != ""
}

// headerName is a token (RFC 9110) of at most 64 characters that is no
// header central sets itself.
func headerName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	switch http.CanonicalHeaderKey(s) {
	case "Host", "Content-Length", "Accept", "User-Agent", "Connection", "Transfer-Encoding":
		return false
	}
	return true
}

func checkReference(ve *ValidationError, c *ReferenceImageConfig, haveSecret bool) {
	if c.URL == "" {
		ve.add("url", "required", "url is required")
	} else {
		checkWebhookURL(ve, "url", c.URL)
	}
	switch c.Auth {
	case ReferenceAuthBearer, ReferenceAuthHeader:
		if c.Username != "" {
			ve.add("username", "not_allowed", "username goes with auth basic only")
		}
	case ReferenceAuthBasic:
		if !printable(c.Username, 256) || bytes.ContainsRune([]byte(c.Username), ':') {
			ve.add("username", "invalid", "auth basic needs a username of 1-256 printable characters without spaces or ':'")
		}
	default:
		ve.add("auth", "invalid_value", "auth must be bearer, basic or header")
	}
	if c.Auth == ReferenceAuthHeader {
		if !headerName(c.Header) {
			ve.add("header", "invalid", "auth header needs a header name of 1-64 letters, digits, '-' or '_' (not one central sets)")
		}
	} else if c.Header != "" {
		ve.add("header", "not_allowed", "header goes with auth header only")
	}
	switch {
	case c.Secret == "" && !haveSecret:
		ve.add("secret", "required", "secret is required")
	case c.Secret != "" && !printable(c.Secret, 1024):
		ve.add("secret", "invalid", "secret must be 1-1024 printable characters without spaces")
	}
	switch {
	case c.TimeoutMS == 0:
		c.TimeoutMS = int(DefaultReferenceTimeout / time.Millisecond)
	case c.TimeoutMS < int(minReferenceTimeout/time.Millisecond) || c.TimeoutMS > int(MaxReferenceTimeout/time.Millisecond):
		ve.add("timeout_ms", "out_of_range", "timeout_ms must be from %d to %d", minReferenceTimeout/time.Millisecond, MaxReferenceTimeout/time.Millisecond)
	}
	switch {
	case c.MaxBytes == 0:
		c.MaxBytes = DefaultReferenceBytes
	case c.MaxBytes < minReferenceBytes || c.MaxBytes > MaxReferenceBytes:
		ve.add("max_bytes", "out_of_range", "max_bytes must be from %d to %d", minReferenceBytes, MaxReferenceBytes)
	}
}

// SetReferenceImage configures a partner's reference-image endpoint.
func (a *API) SetReferenceImage(ctx context.Context, actor, id string, c ReferenceImageConfig) (PartnerView, error) {
	now := a.now()
	var before *ReferenceImageView
	var ve ValidationError
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = referenceImageView(*p)
		var s referenceSettings
		had, err := configMember(*p, configReferenceImage, &s)
		if err != nil {
			return err
		}
		checkReference(&ve, &c, had && len(s.Secret) > 0)
		if err := ve.err(); err != nil {
			return err
		}
		if c.Secret != "" {
			if s.Secret, err = seal(a.keys.settings, aadReferenceSecret(p.ID), []byte(c.Secret)); err != nil {
				return fmt.Errorf("sealing the secret: %w", err)
			}
		}
		s.URL, s.Auth, s.Header, s.Username, s.TimeoutMS, s.MaxBytes, s.UpdatedAt = c.URL, c.Auth, c.Header, c.Username, c.TimeoutMS, c.MaxBytes, now
		return setConfigMember(p, configReferenceImage, s)
	})
	if err != nil {
		return PartnerView{}, fmt.Errorf("setting the reference-image endpoint: %w", err)
	}
	v := View(p)
	return v, a.audit(ctx, actor, AuditPartnerReferenceImage, id, before, v.ReferenceImage)
}

// RemoveReferenceImage removes a partner's reference-image endpoint.
func (a *API) RemoveReferenceImage(ctx context.Context, actor, id string) (PartnerView, error) {
	var before *ReferenceImageView
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = referenceImageView(*p)
		return setConfigMember(p, configReferenceImage, nil)
	})
	if err != nil {
		return PartnerView{}, fmt.Errorf("removing the reference-image endpoint: %w", err)
	}
	return View(p), a.audit(ctx, actor, AuditPartnerReferenceImageRemove, id, before, nil)
}

// ReferenceImage fetches the reference image of a flow session from its
// partner's reference-image endpoint:
//
//	GET <url>?partner_user_id=...&partner_user_id_type=...&session_id=...
//
// with the partner's authentication, within its timeout and size limit.
// The answer must be 200 with the image as the body (JPEG, PNG or WebP);
// the bytes are checked by their signature and header
// (image.DecodeConfig: no pixel is decoded here) before they are
// returned, and the caller decodes them through engine/imageio as any
// image. Every error wraps exactly one of the Err* sentinels above.
func (a *API) ReferenceImage(ctx context.Context, fs central.FlowSession) ([]byte, error) {
	p, err := a.cfg.Store.Partner(ctx, fs.PartnerID)
	if errors.Is(err, central.ErrNotFound) {
		return nil, fmt.Errorf("partner %s: %w", fs.PartnerID, ErrNoReferenceEndpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the partner: %w: %w", ErrReferenceUnavailable, err)
	}
	var s referenceSettings
	ok, err := configMember(p, configReferenceImage, &s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReferenceUnavailable, err)
	}
	if !ok || s.URL == "" {
		return nil, fmt.Errorf("partner %s: %w", p.ID, ErrNoReferenceEndpoint)
	}
	start := time.Now()
	data, status, err := a.fetchReference(ctx, p, s, fs)
	attrs := []slog.Attr{slog.String("partner", p.ID), slog.String("session", fs.ID), slog.Int("status", status),
		slog.Int("bytes", len(data)), slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000)}
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "reference image refused", append(attrs, slog.String("cause", err.Error()))...)
		return nil, err
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "reference image fetched", attrs...)
	return data, nil
}

func (a *API) fetchReference(ctx context.Context, p central.Partner, s referenceSettings, fs central.FlowSession) ([]byte, int, error) {
	secret, err := unseal(a.keys.settings, aadReferenceSecret(p.ID), s.Secret)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: its secret does not open (another SecretKey?)", ErrReferenceUnavailable)
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: the URL is invalid", ErrReferenceUnavailable)
	}
	q := u.Query()
	q.Set("partner_user_id", fs.UserID)
	q.Set("partner_user_id_type", fs.UserIDType)
	q.Set("session_id", fs.ID)
	u.RawQuery = q.Encode()
	timeout := time.Duration(s.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = DefaultReferenceTimeout
	}
	maxBytes := s.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultReferenceBytes
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrReferenceTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrReferenceUnavailable, err)
	}
	req.Header.Set("Accept", "image/jpeg, image/png, image/webp")
	req.Header.Set("User-Agent", "kyc-central")
	switch s.Auth {
	case ReferenceAuthBearer:
		req.Header.Set("Authorization", "Bearer "+string(secret))
	case ReferenceAuthBasic:
		req.SetBasicAuth(s.Username, string(secret))
	case ReferenceAuthHeader:
		req.Header.Set(s.Header, string(secret))
	}
	// failed names the sentinel of a transport or read error: our own
	// deadline is a timeout, anything else (the caller's end included)
	// unavailable.
	failed := func(what string, err error) error {
		if errors.Is(context.Cause(cctx), ErrReferenceTimeout) {
			return fmt.Errorf("%w (%v)", ErrReferenceTimeout, timeout)
		}
		return fmt.Errorf("%w: %s: %v", ErrReferenceUnavailable, what, transportCause(err))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, 0, failed("request", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		return nil, resp.StatusCode, ErrReferenceNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, resp.StatusCode, fmt.Errorf("%w (status %d)", ErrReferenceUnauthorized, resp.StatusCode)
	default:
		return nil, resp.StatusCode, fmt.Errorf("%w: status %d", ErrReferenceUnavailable, resp.StatusCode)
	}
	if resp.ContentLength > maxBytes {
		return nil, resp.StatusCode, fmt.Errorf("%w: %d bytes, the limit is %d", ErrReferenceTooLarge, resp.ContentLength, maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, resp.StatusCode, failed("reading the body", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, resp.StatusCode, fmt.Errorf("%w: over the limit of %d bytes", ErrReferenceTooLarge, maxBytes)
	}
	if err := checkImageHeader(data); err != nil {
		return nil, resp.StatusCode, err
	}
	return data, resp.StatusCode, nil
}

// checkImageHeader accepts a JPEG, PNG or WebP file whose header parses
// and whose size is at most maxReferencePixels, before anything decodes
// its pixels.
func checkImageHeader(data []byte) error {
	jpeg := bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF})
	png := bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n"))
	webp := len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP"
	if !jpeg && !png && !webp {
		return fmt.Errorf("%w: not a JPEG, PNG or WebP file", ErrReferenceNotImage)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: its header does not parse: %v", ErrReferenceNotImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fmt.Errorf("%w: %s of %dx%d pixels", ErrReferenceNotImage, format, cfg.Width, cfg.Height)
	}
	if cfg.Width*cfg.Height > maxReferencePixels {
		return fmt.Errorf("%w: %dx%d %s is over %d pixels", ErrReferenceTooLarge, cfg.Width, cfg.Height, format, maxReferencePixels)
	}
	return nil
}

// transportCause is a transport error without its URL (the query names
// the partner's user).
func transportCause(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// --- admin handlers ---

func (a *API) adminReferenceImage(w http.ResponseWriter, r *http.Request) error {
	var c ReferenceImageConfig
	if err := decodeStrict(w, r, &c, "url", "auth", "header", "username", "secret", "timeout_ms", "max_bytes"); err != nil {
		return err
	}
	v, err := a.SetReferenceImage(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), c)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) adminReferenceImageRemove(w http.ResponseWriter, r *http.Request) error {
	v, err := a.RemoveReferenceImage(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"))
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
