package identity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/protocol"
)

// ErrEnrollRefused means central refused the enrolment: unknown, expired or
// used token, or a device that is already enrolled.
var ErrEnrollRefused = errors.New("identity: central refused the enrolment")

// ErrInsecureURL means a central URL is plain http:// to a host that is
// not loopback: the enrolment token, and every request after it, would
// cross the network in clear.
var ErrInsecureURL = errors.New("identity: plain http is allowed only to a loopback address; use https")

// MaxClockCorrection bounds the clock correction taken from central's Date
// header: a device clock further off than this is broken, and a Date that
// claims it is more likely wrong than the device (see agent.Clock).
const MaxClockCorrection = 24 * time.Hour

// Enrollment is what a device keeps after enrolling.
type Enrollment struct {
	CentralURL string `json:"central_url"`
	DeviceID   string `json:"device_id"`
	// CentralBoxKey is central's X25519 public key, which payloads are
	// sealed to; CentralSignKey is its Ed25519 key, which configuration
	// and watchlists are signed with. Both were checked at enrolment
	// against the fingerprint the token carried (pinned).
	CentralBoxKey  [32]byte          `json:"central_box_key"`
	CentralSignKey ed25519.PublicKey `json:"central_sign_key,omitempty"`
	// CentralCA is the PEM of the CA central's TLS certificate chains to,
	// when the operator gave one at enrolment (a private CA, see pki);
	// every later request trusts it alone. Empty: the system roots.
	CentralCA  string    `json:"central_ca,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// Transport returns the HTTP transport every request to central goes
// through: the system defaults, with TLS trusting only CentralCA when the
// enrolment has one.
func (e Enrollment) Transport() (*http.Transport, error) {
	return NewTransport([]byte(e.CentralCA))
}

// NewTransport returns a transport like http.DefaultTransport whose TLS
// trusts only the CA certificates in caPEM (nil or empty: the system
// roots).
func NewTransport(caPEM []byte) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(bytes.TrimSpace(caPEM)) > 0 {
		cfg, err := pki.ClientConfig(caPEM)
		if err != nil {
			return nil, fmt.Errorf("central's CA: %w", err)
		}
		tr.TLSClientConfig = cfg
	}
	return tr, nil
}

// EnrollWithCA is Enroll over a client that trusts only the CA in caPEM
// (nil: the system roots), with a one-minute timeout. The CA is recorded
// in the enrolment, so every later request trusts the same. A device clock
// outside the validity of central's certificate is a
// *CertificateTimeError saying so.
func EnrollWithCA(ctx context.Context, caPEM []byte, centralURL, token string, id *Identity, appVersion string) (Enrollment, error) {
	tr, err := NewTransport(caPEM)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling: %w", err)
	}
	defer tr.CloseIdleConnections()
	e, err := Enroll(ctx, &http.Client{Transport: tr, Timeout: time.Minute}, centralURL, token, id, appVersion)
	if cte, ok := CertificateTime(err, caPEM, centralURL, time.Now()); ok {
		return Enrollment{}, fmt.Errorf("enrolling at %s: %w", centralURL, cte)
	}
	if err != nil {
		return Enrollment{}, err
	}
	e.CentralCA = string(caPEM)
	return e, nil
}

// Enroll redeems a one-time enrolment token at central for id, over
// client (which carries the TLS trust). The request is signed with id's
// key, proving that the enrolling party holds it.
//
// The token carries the fingerprint of central's keys: the keys central
// answers with must match it (protocol.CheckFingerprint), else the
// enrolment fails with protocol.ErrKeyMismatch and nothing may be saved: a
// man in the middle who swapped them would otherwise read every payload.
// A device clock too far from central's is corrected once from the Date of
// central's refusal. Redirects are not followed: the token must go to the
// URL the operator gave and nowhere else.
func Enroll(ctx context.Context, client *http.Client, centralURL, token string, id *Identity, appVersion string) (Enrollment, error) {
	base, err := ParseCentralURL(centralURL)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling: %w", err)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return Enrollment{}, fmt.Errorf("enrolling: empty token")
	}
	fingerprint, err := protocol.ParseEnrollToken(token)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling: %w (a token from `kyc-central token create` is <secret>.<fingerprint>)", err)
	}
	body, err := json.Marshal(protocol.EnrollRequest{Token: token, PublicKey: id.Public(), AppVersion: appVersion})
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling: %w", err)
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var offset time.Duration
	var status int
	var raw []byte
	for attempt := 0; ; attempt++ {
		var hdr http.Header
		status, hdr, raw, err = post(ctx, &c, base+protocol.PathEnroll, body, id, time.Now().Add(offset))
		if err != nil {
			return Enrollment{}, fmt.Errorf("enrolling at %s: %w", base, err)
		}
		if status != http.StatusUnauthorized || errorCode(raw) != "stale" || attempt > 0 {
			break
		}
		// Central says the device clock is off: sign again with central's.
		d, ok := protocol.DateOffset(hdr, time.Now())
		if !ok || d.Abs() > MaxClockCorrection {
			break
		}
		offset = d
	}
	if status != http.StatusOK {
		var e protocol.Error
		_ = json.Unmarshal(raw, &e)
		// The operator reads them: nothing central sends may act on the
		// terminal or run to megabytes.
		e.Code, e.Message = protocol.Printable(e.Code, protocol.MaxText), protocol.Printable(e.Message, protocol.MaxText)
		if status >= 400 && status < 500 {
			return Enrollment{}, fmt.Errorf("enrolling at %s: %w: %d %s %s", base, ErrEnrollRefused, status, e.Code, e.Message)
		}
		return Enrollment{}, fmt.Errorf("enrolling at %s: status %d %s", base, status, e.Message)
	}
	var er protocol.EnrollResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return Enrollment{}, fmt.Errorf("enrolling at %s: decoding answer: %w", base, err)
	}
	if er.DeviceID != id.DeviceID() || len(er.CentralBoxKey) != 32 || len(er.CentralSignKey) != ed25519.PublicKeySize {
		return Enrollment{}, fmt.Errorf("enrolling at %s: malformed answer (device %q, box key of %d bytes, sign key of %d bytes)", base, er.DeviceID, len(er.CentralBoxKey), len(er.CentralSignKey))
	}
	if err := protocol.CheckFingerprint(fingerprint, er.CentralBoxKey, er.CentralSignKey); err != nil {
		// Central has consumed the token if it was central that answered;
		// the administrator makes a new one after finding the intruder.
		return Enrollment{}, fmt.Errorf("enrolling at %s: %w: refusing to trust them", base, err)
	}
	e := Enrollment{CentralURL: base, DeviceID: er.DeviceID, CentralSignKey: ed25519.PublicKey(bytes.Clone(er.CentralSignKey)), EnrolledAt: time.Now().UTC()}
	copy(e.CentralBoxKey[:], er.CentralBoxKey)
	return e, nil
}

// post sends one signed enrolment request.
func post(ctx context.Context, c *http.Client, url string, body []byte, id *Identity, now time.Time) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	id.SignRequest(req, body, now)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading answer: %w", err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

func errorCode(body []byte) string {
	var e protocol.Error
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// maxCentralURL bounds central's address: a base URL is well under it,
// and nothing longer reaches a log line.
const maxCentralURL = 2048

// ParseCentralURL checks a central base URL (https, or http to a loopback
// address only) and returns it without a trailing slash. Plain http
// elsewhere is ErrInsecureURL. Its errors show s only as RedactURL does:
// they are logged and shown, and a token or password pasted into the
// address would have gone with them.
func ParseCentralURL(s string) (string, error) {
	u, err := checkCentralURL(s)
	if err != nil {
		return "", err
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		return "", fmt.Errorf("central's address %s: %w", RedactURL(s), ErrInsecureURL)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// checkCentralURL is ParseCentralURL but for plain http, which is
// NewUploader's to refuse (ErrInsecureURL) when an enrolment is loaded.
// User info is refused outright: central knows a device by its enrolment
// token and TLS, never by credentials in its address; a query or a
// fragment, where a token may have been pasted, too.
func checkCentralURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("central's address is empty: want https://host[:port][/path]")
	}
	if len(s) > maxCentralURL {
		return nil, fmt.Errorf("central's address is longer than %d characters", maxCentralURL)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Host == "" {
		// Not url.Parse's error: it quotes the text, and its reason (an
		// "invalid port") may be a piece of a password.
		return nil, fmt.Errorf("central's address %s: want https://host[:port][/path]", RedactURL(s))
	}
	if u.User != nil {
		return nil, fmt.Errorf("central's address %s: take the user name and password out of it: central knows a device by its enrolment token and TLS, not by credentials in the address", RedactURL(s))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return nil, fmt.Errorf("central's address %s: take the query (?…) and the fragment (#…) out of it: a token goes in the token field", RedactURL(s))
	}
	return u, nil
}

// RedactURL is URL s as a log line or an error may show it:
// scheme://host[:port]/path, without the user info, query or fragment a
// password or token may have been pasted into. Text that does not parse as
// a URL with a host is not shown at all, since any part of it may be one.
// (source.ForLog is the capture sources' own; their settings screen's
// form, source.Redact, keeps a stream URL's user name and query.)
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "(not shown: not a URL)"
	}
	// An @ the parser left outside the user info ends a password that held
	// a / ? or #: "https://u:1234/x@host" parses as host "u:1234" and path
	// "/x@host", each part of it a piece of the password.
	if u.User == nil && strings.Contains(s, "@") {
		return "(not shown: an @ outside a user name and password)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// IsLoopback reports whether host (a name or an IP address, without port)
// is this machine: 127.0.0.0/8, ::1 or localhost. Other names are not
// resolved: what a name resolves to can change after the check.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SaveEnrollment writes e to path (mode 0600, atomically).
func SaveEnrollment(path string, e Enrollment) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("saving enrolment: %w", err)
	}
	if err := atomicfile.Write(path, append(data, '\n')); err != nil {
		return fmt.Errorf("saving enrolment %s: %w", path, err)
	}
	return nil
}

// maxEnrollmentFile bounds the enrolment file read back: central's
// answer it was made from is read up to the same size (Enroll).
const maxEnrollmentFile = 1 << 20

// LoadEnrollment reads an enrolment written by SaveEnrollment; one whose
// central address ParseCentralURL would refuse for more than plain http
// (user info, a query, not a URL) is ErrMalformed. An
// enrolment made before central signed its configuration has no
// CentralSignKey: it still syncs submissions, but configuration is refused
// until the device enrols again.
func LoadEnrollment(path string) (Enrollment, error) {
	data, err := atomicfile.Read(path, maxEnrollmentFile)
	if err != nil {
		return Enrollment{}, fmt.Errorf("reading enrolment: %w", err)
	}
	var e Enrollment
	if err := json.Unmarshal(data, &e); err != nil {
		return Enrollment{}, fmt.Errorf("reading enrolment %s: %w: %w", path, ErrMalformed, err)
	}
	if e.DeviceID == "" || e.CentralURL == "" || e.CentralBoxKey == [32]byte{} {
		return Enrollment{}, fmt.Errorf("reading enrolment %s: %w: missing fields", path, ErrMalformed)
	}
	// A file written by hand may hold credentials in the address, which
	// the sync loop's log lines would carry; plain http is NewUploader's
	// to refuse (ErrInsecureURL).
	if _, err := checkCentralURL(e.CentralURL); err != nil {
		return Enrollment{}, fmt.Errorf("reading enrolment %s: %w: %w", path, ErrMalformed, err)
	}
	if len(e.CentralSignKey) != 0 && len(e.CentralSignKey) != ed25519.PublicKeySize {
		return Enrollment{}, fmt.Errorf("reading enrolment %s: %w: central sign key of %d bytes", path, ErrMalformed, len(e.CentralSignKey))
	}
	if e.CentralCA != "" {
		if _, err := pki.CertPool([]byte(e.CentralCA)); err != nil {
			return Enrollment{}, fmt.Errorf("reading enrolment %s: %w: %w", path, ErrMalformed, err)
		}
	}
	return e, nil
}
