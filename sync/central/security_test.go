package central_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/internal/testsub"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// send makes a device request, signing it with key as device devID at ts
// (key nil: unsigned). It returns the status and the error code.
func send(t *testing.T, c *synctest.Central, method, path string, body []byte, devID string, key ed25519.PrivateKey, ts time.Time) (*http.Request, int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		protocol.Sign(req, sha256.Sum256(body), devID, key, ts)
	}
	code, ecode := do(t, c.Client(), req, body)
	return req, code, ecode
}

func do(t *testing.T, client *http.Client, req *http.Request, body []byte) (int, string) {
	t.Helper()
	req.Body, req.ContentLength = http.NoBody, int64(len(body))
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e protocol.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

// testKey lets a test sign as an identity with a raw key.
func testKey(t *testing.T) (*identity.Identity, ed25519.PrivateKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return id, key
}

func TestDeviceRequestsRefused(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	id, key := testKey(t)
	c.EnrollIdentity(t, id)
	_, otherKey := testKey(t)
	stranger, strangerKey := testKey(t)
	now := time.Now()
	dev := id.DeviceID()

	cases := []struct {
		name     string
		path     string // signed path
		sendPath string // path actually requested; "" = path
		body     []byte
		sent     []byte // body actually sent; nil = body
		devID    string
		key      ed25519.PrivateKey
		ts       time.Time
		status   int
		code     string
	}{
		{"valid", protocol.PathConfig, "", nil, nil, dev, key, now, 200, ""},
		{"unsigned", protocol.PathConfig, "", nil, nil, dev, nil, now, 401, "unsigned"},
		{"forged by another key", protocol.PathConfig, "", nil, nil, dev, otherKey, now, 401, "bad_signature"},
		{"unknown device", protocol.PathConfig, "", nil, nil, stranger.DeviceID(), strangerKey, now, 401, "unknown_device"},
		{"stale", protocol.PathConfig, "", nil, nil, dev, key, now.Add(-10 * time.Minute), 401, "stale"},
		{"from the future", protocol.PathConfig, "", nil, nil, dev, key, now.Add(10 * time.Minute), 401, "stale"},
		{"path changed", protocol.PathConfig, protocol.WatchlistPath("ofac"), nil, nil, dev, key, now, 401, "bad_signature"},
		{"body changed", protocol.SubmissionPath(protocol.SubmissionKey("x")), "", []byte("sealed"), []byte("sealeD"), dev, key, now, 401, "bad_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if tc.body != nil {
				method = http.MethodPut
			}
			req, err := http.NewRequest(method, c.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.key != nil {
				protocol.Sign(req, sha256.Sum256(tc.body), tc.devID, tc.key, tc.ts)
			}
			if tc.sendPath != "" {
				req.URL.Path = tc.sendPath
			}
			sent := tc.body
			if tc.sent != nil {
				sent = tc.sent
			}
			if status, code := do(t, c.Client(), req, sent); status != tc.status || code != tc.code {
				t.Errorf("got %d %q, want %d %q", status, code, tc.status, tc.code)
			}
		})
	}

	t.Run("replayed", func(t *testing.T) {
		req, status, _ := send(t, c, http.MethodGet, protocol.PathConfig, nil, dev, key, time.Now())
		if status != 200 {
			t.Fatalf("first delivery: %d", status)
		}
		if status, code := do(t, c.Client(), req, nil); status != 401 || code != "replayed" {
			t.Errorf("replay: %d %q, want 401 replayed", status, code)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		if code := statusOf(adminOf(t, c).admin(t, http.MethodPost, "/admin/v1/devices/"+dev+"/revoke", nil, nil)); code != 200 {
			t.Fatalf("revoking: %d", code)
		}
		if _, status, code := send(t, c, http.MethodGet, protocol.PathConfig, nil, dev, key, time.Now()); status != 403 || code != "revoked" {
			t.Errorf("revoked device: %d %q, want 403 revoked", status, code)
		}
	})
}

func TestEnrollmentTokens(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	ctx := context.Background()
	tok := c.Token(t)
	a, b := identity.Generate(), identity.Generate()
	if _, err := identity.Enroll(ctx, c.Client(), c.URL, tok, a, "t"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		token string
		id    *identity.Identity
	}{
		{"token used twice", tok, b},
		{"unknown token", protocol.FormatEnrollToken(bytes.Repeat([]byte{7}, 32), c.Server.Fingerprint()), b},
		{"device enrolled twice", c.Token(t), a},
	}
	for _, tc := range cases {
		if _, err := identity.Enroll(ctx, c.Client(), c.URL, tc.token, tc.id, "t"); !errors.Is(err, identity.ErrEnrollRefused) {
			t.Errorf("%s: %v, want ErrEnrollRefused", tc.name, err)
		}
	}
}

// TestWireCarriesNoPersonalData syncs through a recording proxy, standing
// in for a TLS-terminating middlebox: it must see no name, NIK or image.
func TestWireCarriesNoPersonalData(t *testing.T) {
	store := openBolt(t)
	c := synctest.StartCentral(t, store, synctest.CentralOptions{})
	id, enr := c.Enroll(t)
	proxy := synctest.StartProxy(t, c.Addr, nil)
	enr.CentralURL = proxy.URL()
	u, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		t.Fatal(err)
	}
	s := synctest.Submission(t, id, 1, 64<<10)
	if err := u.Upload(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	synctest.CheckDelivered(t, store, id.DeviceID(), []vault.Submission{s})
	wire := proxy.Sent()
	if len(wire) < 128<<10 {
		t.Fatalf("proxy saw only %d bytes", len(wire))
	}
	name, nik := testsub.Person(1)
	for _, secret := range []string{name, nik, s.ID, `"decision"`} {
		if synctest.Contains(wire, secret) {
			t.Errorf("the wire carries %q in clear", secret)
		}
	}
	for imgName, img := range s.Images {
		for off := 0; off+32 <= len(img); off += len(img) / 8 {
			if bytes.Contains(wire, img[off:off+32]) {
				t.Errorf("the wire carries bytes of image %s at offset %d in clear", imgName, off)
			}
		}
	}
}

func TestForgedAttestationRejected(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	id, enr := c.Enroll(t)
	u, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
	if err != nil {
		t.Fatal(err)
	}
	other := identity.Generate()
	cases := []struct {
		name string
		att  device.Attestation
		key  *identity.Identity
	}{
		{"signed by another key", device.Attestation{DeviceID: id.DeviceID(), Report: device.Report{Verdict: device.VerdictOK}}, other},
		{"issued for another device", device.Attestation{DeviceID: other.DeviceID(), Report: device.Report{Verdict: device.VerdictOK}}, other},
	}
	for i, tc := range cases {
		if err := tc.att.Sign(tc.key.Signer()); err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"attestation": tc.att})
		s := synctest.Submission(t, id, 10+i, 0)
		s.Payload = payload
		var rej *agent.RejectionError
		if err := u.Upload(context.Background(), s); !errors.As(err, &rej) || rej.Code != "attestation" {
			t.Errorf("%s: %v, want a rejection for the attestation", tc.name, err)
		}
	}
	// A tampered report no longer matches its signature.
	s := synctest.Submission(t, id, 20, 0)
	tampered := bytes.Replace(s.Payload, []byte(`"verdict":"ok"`), []byte(`"verdict":"warn"`), 1)
	if bytes.Equal(tampered, s.Payload) {
		t.Fatal("test payload has no verdict to tamper with")
	}
	s.Payload = tampered
	if err := u.Upload(context.Background(), s); !errors.Is(err, agent.ErrRejected) {
		t.Errorf("tampered attestation: %v, want ErrRejected", err)
	}
	if !strings.Contains(metricsText(t, c), `kyc_central_submissions_total{outcome="rejected"} 3`) {
		t.Error("metrics do not count the 3 rejections")
	}
}

func metricsText(t *testing.T, c *synctest.Central) string {
	t.Helper()
	return c.Metrics(t)
}

// TestImageHashMismatchRejected declares one image in the manifest and
// sends other bytes: central refuses to complete the submission.
func TestImageHashMismatchRejected(t *testing.T) {
	store := openBolt(t)
	c := synctest.StartCentral(t, store, synctest.CentralOptions{})
	id, key := testKey(t)
	c.EnrollIdentity(t, id)
	s := synctest.Submission(t, id, 1, 0)
	declared, sent := bytes.Repeat([]byte{1}, 1000), bytes.Repeat([]byte{2}, 1000)
	sum := sha256.Sum256(declared)
	ck, err := id.ContentKey(s.ID, "selfie", sum)
	if err != nil {
		t.Fatal(err)
	}
	m := protocol.Manifest{ID: s.ID, CreatedAt: s.CreatedAt, Payload: s.Payload, Images: []protocol.ImageMeta{{Name: "selfie", Size: 1000, SHA256: sum[:], Key: ck}}}
	pt, _ := json.Marshal(m)
	sealed, err := protocol.SealManifest(&c.Box.Public, pt)
	if err != nil {
		t.Fatal(err)
	}
	subKey := protocol.SubmissionKey(s.ID)
	if _, status, code := send(t, c, http.MethodPut, protocol.SubmissionPath(subKey), sealed, id.DeviceID(), key, time.Now()); status != 200 {
		t.Fatalf("manifest: %d %q", status, code)
	}
	chunk, _ := protocol.SealChunk(ck, "selfie", 0, sent)
	if _, status, code := send(t, c, http.MethodPut, protocol.ImagePath(subKey, "selfie", 0), chunk, id.DeviceID(), key, time.Now()); status != 422 || code != "hash_mismatch" {
		t.Errorf("mismatched image: %d %q, want 422 hash_mismatch", status, code)
	}
	sub, err := store.Upload(context.Background(), id.DeviceID(), subKey)
	if err != nil || !sub.CompletedAt.IsZero() || sub.Images[0].Received != 0 {
		t.Errorf("central stored the bad image: %+v, %v", sub, err)
	}
}
