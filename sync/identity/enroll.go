package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/protocol"
)

// ErrEnrollRefused means central refused the enrolment: unknown, expired or
// used token, or a device that is already enrolled.
var ErrEnrollRefused = errors.New("identity: central refused the enrolment")

// Enrollment is what a device keeps after enrolling.
type Enrollment struct {
	CentralURL string `json:"central_url"`
	DeviceID   string `json:"device_id"`
	// CentralBoxKey is central's X25519 public key, learnt at enrolment
	// over the (TLS) channel the operator pointed the device at.
	CentralBoxKey [32]byte  `json:"central_box_key"`
	EnrolledAt    time.Time `json:"enrolled_at"`
}

// Enroll redeems a one-time enrolment token at central for id. The request
// is signed with id's key, proving that the enrolling party holds it.
func Enroll(ctx context.Context, client *http.Client, centralURL, token string, id *Identity, appVersion string) (Enrollment, error) {
	base, err := ParseCentralURL(centralURL)
	if err != nil {
		return Enrollment{}, err
	}
	if strings.TrimSpace(token) == "" {
		return Enrollment{}, fmt.Errorf("enrolling: empty token")
	}
	body, err := json.Marshal(protocol.EnrollRequest{Token: token, PublicKey: id.Public(), AppVersion: appVersion})
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+protocol.PathEnroll, bytes.NewReader(body))
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	id.SignRequest(req, body, time.Now())
	resp, err := client.Do(req)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling at %s: %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling at %s: reading answer: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e protocol.Error
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return Enrollment{}, fmt.Errorf("enrolling at %s: %w: %s %s", base, ErrEnrollRefused, resp.Status, e.Message)
		}
		return Enrollment{}, fmt.Errorf("enrolling at %s: %s %s", base, resp.Status, e.Message)
	}
	var er protocol.EnrollResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return Enrollment{}, fmt.Errorf("enrolling at %s: decoding answer: %w", base, err)
	}
	if er.DeviceID != id.DeviceID() || len(er.CentralBoxKey) != 32 {
		return Enrollment{}, fmt.Errorf("enrolling at %s: malformed answer (device %q, key of %d bytes)", base, er.DeviceID, len(er.CentralBoxKey))
	}
	e := Enrollment{CentralURL: base, DeviceID: er.DeviceID, EnrolledAt: time.Now().UTC()}
	copy(e.CentralBoxKey[:], er.CentralBoxKey)
	return e, nil
}

// ParseCentralURL checks a central base URL (http or https, no query) and
// returns it without a trailing slash.
func ParseCentralURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("central URL %q: want http(s)://host[:port][/path]", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
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

// LoadEnrollment reads an enrolment written by SaveEnrollment.
func LoadEnrollment(path string) (Enrollment, error) {
	data, err := os.ReadFile(path)
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
	return e, nil
}
