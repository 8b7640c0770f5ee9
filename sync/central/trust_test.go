package central_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

func metricsOf(t *testing.T, c *tc) string {
	t.Helper()
	return synctest.Metrics(t, c.Server)
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// TestEnrolmentPinsCentralKeys: the token carries the fingerprint of
// central's box and sign keys, the enrol answer carries both keys, and the
// enrolment is logged.
func TestEnrolmentPinsCentralKeys(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	tr := c.token(t)
	fp, err := protocol.ParseEnrollToken(tr.Token)
	if err != nil {
		t.Fatal(err)
	}
	pub := c.Cfg.SignKey.Public().(ed25519.PublicKey)
	if err := protocol.CheckFingerprint(fp, c.Cfg.BoxKey.Public[:], pub); err != nil {
		t.Fatalf("token fingerprint: %v", err)
	}
	if tr.Fingerprint != base64.RawURLEncoding.EncodeToString(fp) {
		t.Errorf("printed fingerprint %q is not the token's", tr.Fingerprint)
	}
	id := identity.Generate()
	enr, err := identity.Enroll(context.Background(), c.Client, c.URL, tr.Token, id, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enr.CentralSignKey, pub) || enr.CentralBoxKey != c.Cfg.BoxKey.Public {
		t.Error("the enrolment did not pin central's keys")
	}
	lines := logLines(t, c.Log, "device enrolled")
	if len(lines) != 1 || lines[0]["device_id"] != id.DeviceID() || lines[0]["request_id"] == "" {
		t.Errorf("enrolment log: %v", lines)
	}
}

// TestSignedConfigAndStatus: the configuration is signed by central's key
// with each watchlist signed on its own, a tampered bundle does not open,
// the status report is recorded and shown in the device listing.
func TestSignedConfigAndStatus(t *testing.T) {
	store := openBolt(t)
	c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
	d := c.enrol(t)
	list := []byte("SITI NURHALIZA\nJOHN DOE\n")
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/ofac", list, nil); resp.StatusCode != 200 {
		t.Fatalf("publishing list: %d %+v", resp.StatusCode, e)
	}
	c.publishRisk(t, `{"max_retries":7}`)
	before := time.Now()
	cfg := d.config(t)
	if cfg.Version != 1 || !bytes.Contains(cfg.Risk, []byte("max_retries")) || cfg.Challenge == "" || cfg.IssuedAt.Before(before.Add(-time.Second)) {
		t.Errorf("config: %+v", cfg)
	}
	if len(cfg.Watchlists) != 1 {
		t.Fatalf("watchlists: %+v", cfg.Watchlists)
	}
	if err := protocol.VerifyWatchlist(d.enr.CentralSignKey, cfg.Watchlists[0]); err != nil {
		t.Errorf("watchlist signature: %v", err)
	}
	forged := cfg.Watchlists[0]
	forged.Size++
	if err := protocol.VerifyWatchlist(d.enr.CentralSignKey, forged); err == nil {
		t.Error("a changed watchlist descriptor still verifies")
	}
	var sc protocol.SignedConfig
	d.do(t, http.MethodGet, protocol.PathConfig, nil, &sc)
	sc.Config = bytes.Replace(sc.Config, []byte(`"version":1`), []byte(`"version":9`), 1)
	if _, err := sc.Open(d.enr.CentralSignKey); !errors.Is(err, protocol.ErrBadConfigSignature) {
		t.Errorf("tampered config opens: %v", err)
	}
	resp, _ := d.do(t, http.MethodGet, protocol.WatchlistPath("ofac"), nil, nil)
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, list) || resp.Header.Get("X-Kyc-Watchlist-Version") != "1" {
		t.Errorf("watchlist download: %d %q", resp.StatusCode, got)
	}

	st := protocol.DeviceStatus{AppVersion: "1.2.3", ConfigVersion: 1, Watchlists: map[string]int64{"ofac": 1}, QueueDepth: 3, LastError: "offline"}
	body, _ := jsonMarshal(st)
	if resp, e := d.do(t, http.MethodPut, protocol.PathStatus, body, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status: %d %+v", resp.StatusCode, e)
	}
	var devs []central.Device
	c.admin(t, http.MethodGet, "/admin/v1/devices", nil, &devs)
	if len(devs) != 1 || devs[0].LastSeen.IsZero() || devs[0].Status == nil || devs[0].Status.QueueDepth != 3 || devs[0].Status.Watchlists["ofac"] != 1 {
		t.Errorf("device listing: %+v", devs)
	}
}

// TestDeviceRefusalsInWords: each 401 has its own code and a message a
// person can act on, every answer a Date and a request id, and each
// refusal is logged with its reason and counted.
func TestDeviceRefusalsInWords(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	d := c.enrol(t)
	stranger := &dev{c: c, id: identity.Generate()}
	other := identity.Generate()
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
		words  string
	}{
		{"unsigned", func() *http.Request { return mustRequest(t, http.MethodGet, c.URL+protocol.PathConfig) }, 401, "unsigned", "not signed"},
		{"stale", func() *http.Request {
			return d.request(t, http.MethodGet, protocol.PathConfig, nil, time.Now().Add(6*time.Minute))
		}, 401, "stale", "ahead of central's clock"},
		{"unknown device", func() *http.Request {
			return stranger.request(t, http.MethodGet, protocol.PathConfig, nil, time.Now())
		}, 401, "unknown_device", "not enrolled"},
		{"bad signature", func() *http.Request {
			req := mustRequest(t, http.MethodGet, c.URL+protocol.PathConfig)
			protocol.Sign(req, [32]byte{}, d.id.DeviceID(), other.Signer().(ed25519.PrivateKey), time.Now())
			return req
		}, 401, "bad_signature", "does not verify"},
	}
	for _, tc := range cases {
		resp, e := c.send(t, tc.req(), nil)
		if resp.StatusCode != tc.status || e.Code != tc.code || !strings.Contains(e.Message, tc.words) {
			t.Errorf("%s: %d %+v, want %d %s saying %q", tc.name, resp.StatusCode, e, tc.status, tc.code, tc.words)
		}
		if resp.Header.Get("Date") == "" || e.RequestID == "" {
			t.Errorf("%s: Date %q, request id %q", tc.name, resp.Header.Get("Date"), e.RequestID)
		}
	}
	reasons := map[string]bool{}
	for _, l := range logLines(t, c.Log, "authentication failed") {
		reasons[l["reason"].(string)] = true
	}
	m := metricsOf(t, c)
	for _, tc := range cases {
		if !reasons[tc.code] {
			t.Errorf("no log line for %s", tc.code)
		}
		if !containsLine(m, `kyc_central_auth_failures_total{reason="`+tc.code+`",surface="device"} 1`) {
			t.Errorf("metrics do not count %s", tc.code)
		}
	}
}

// TestAttestationChecks: dated outside the window or reused, an
// attestation is refused (422 attestation), unless it signs a challenge
// this central issued to this device within the window: then its date is
// only the device's clock, wrong (2000-01-01, next week), and it is taken,
// not fresh; a resend of the same submission is a duplicate; freshness is
// recorded only for a challenge this central issued to this device, before
// the report and within the window.
func TestAttestationChecks(t *testing.T) {
	store := openBolt(t)
	c := start(t, central.Config{Store: store})
	d := c.enrol(t)
	other := c.enrol(t)
	now := time.Now()
	challenge := d.config(t).Challenge
	cases := []struct {
		name  string
		at    time.Time
		nonce string
		ok    bool
		fresh bool
	}{
		{"dated 2020", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), "", false, false},
		{"dated next week", now.Add(7 * 24 * time.Hour), "", false, false},
		{"dated 31 days ago", now.Add(-31 * 24 * time.Hour), "", false, false},
		{"no challenge", now, "", true, false},
		{"fresh challenge", now.Add(time.Second), challenge, true, true},
		{"forged challenge", now, forgeChallenge(now), true, false},
		{"another device's challenge", now, other.config(t).Challenge, true, false},
		{"report before the challenge", now.Add(-time.Hour), challenge, true, false},
		{"report a day and more after the challenge", now.Add(25 * time.Hour), challenge, true, false}, // the device's clock ahead
		{"dated 2000, signing a recent challenge", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), challenge, true, false},
		{"dated next week, signing a recent challenge", now.Add(7 * 24 * time.Hour), challenge, true, false},
		{"dated 2020, forged challenge", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), forgeChallenge(now), false, false},
		{"dated 2020, another device's challenge", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), other.config(t).Challenge, false, false},
		{"dated next week, forged challenge", now.Add(7 * 24 * time.Hour), forgeChallenge(now), false, false},
	}
	for i, tc := range cases {
		id := "att-" + string(rune('a'+i))
		resp, e := d.submit(t, id, d.attestation(t, tc.at, tc.nonce), "")
		if !tc.ok {
			if resp.StatusCode != http.StatusUnprocessableEntity || e.Code != "attestation" {
				t.Errorf("%s: %d %+v, want 422 attestation", tc.name, resp.StatusCode, e)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %+v", tc.name, resp.StatusCode, e)
			continue
		}
		sub, err := store.Upload(context.Background(), d.id.DeviceID(), protocol.SubmissionKey(id))
		if err != nil || sub.AttestationFresh != tc.fresh {
			t.Errorf("%s: stored fresh=%v (%v), want %v", tc.name, sub.AttestationFresh, err, tc.fresh)
		}
	}

	att := d.attestation(t, now, challenge)
	if resp, e := d.submit(t, "first", att, "content A"); resp.StatusCode != 200 {
		t.Fatalf("first use: %d %+v", resp.StatusCode, e)
	}
	if resp, e := d.submit(t, "first", att, "content A"); resp.StatusCode != 200 {
		t.Errorf("resending the same submission: %d %+v, want 200 (a duplicate)", resp.StatusCode, e)
	}
	if resp, e := d.submit(t, "second", att, "content B"); resp.StatusCode != 422 || e.Code != "attestation" {
		t.Errorf("the same attestation in a second submission: %d %+v, want 422 attestation", resp.StatusCode, e)
	}
	if resp, e := d.submit(t, "second", att, "content B"); resp.StatusCode != 422 || e.Code != "attestation" {
		t.Errorf("the reuse sent again: %d %+v, want 422 attestation", resp.StatusCode, e)
	}
	if _, err := store.Upload(context.Background(), d.id.DeviceID(), protocol.SubmissionKey("second")); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("central stored the submission with a reused attestation: %v", err)
	}
	// One dated by a dead CMOS battery is claimed for as long as its
	// challenge keeps it acceptable, not until 2000-01-31.
	cmos := d.attestation(t, time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC), challenge)
	if resp, e := d.submit(t, "cmos-first", cmos, "content A"); resp.StatusCode != 200 {
		t.Fatalf("first use of an attestation dated 2000: %d %+v", resp.StatusCode, e)
	}
	if resp, e := d.submit(t, "cmos-second", cmos, "content B"); resp.StatusCode != 422 || e.Code != "attestation" {
		t.Errorf("the same attestation dated 2000 in a second submission: %d %+v, want 422 attestation", resp.StatusCode, e)
	}
}

// forgeChallenge makes something shaped like a challenge, issued at at,
// with a MAC central did not make.
func forgeChallenge(at time.Time) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at.Add(-time.Minute).UnixMilli()))
	return base64.RawURLEncoding.EncodeToString(append(b, make([]byte, 16)...))
}

// TestAttestationReuseSurvivesRestartBolt is the same on bbolt (whose
// request nonces live in memory: the claim must not).
func TestAttestationReuseSurvivesRestartBolt(t *testing.T) {
	path := t.TempDir() + "/central.db"
	s1, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	box, _ := central.GenerateBoxKey()
	sign, _ := central.GenerateSignKey()
	c1 := start(t, central.Config{Store: s1, BoxKey: box, SignKey: sign})
	d := c1.enrol(t)
	att := d.attestation(t, time.Now(), "")
	if resp, e := d.submit(t, "before", att, "A"); resp.StatusCode != 200 {
		t.Fatalf("first use: %d %+v", resp.StatusCode, e)
	}
	c1.stop()
	s1.Close()
	s2, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	d.c = start(t, central.Config{Store: s2, BoxKey: box, SignKey: sign})
	if resp, e := d.submit(t, "after", att, "B"); resp.StatusCode != 422 || e.Code != "attestation" {
		t.Errorf("reuse after a restart: %d %+v, want 422 attestation", resp.StatusCode, e)
	}
}

// TestAttestationReuseSurvivesRestart: the claim is in the store, so a new
// central process on the same PostgreSQL refuses the reuse too.
func TestAttestationReuseSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dsn, _ := startPostgres(t)
	box, _ := central.GenerateBoxKey()
	sign, _ := central.GenerateSignKey()
	open := func() central.Store {
		s, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := open()
	c1 := start(t, central.Config{Store: s1, BoxKey: box, SignKey: sign})
	d := c1.enrol(t)
	att := d.attestation(t, time.Now(), d.config(t).Challenge)
	if resp, e := d.submit(t, "before", att, "A"); resp.StatusCode != 200 {
		t.Fatalf("first use: %d %+v", resp.StatusCode, e)
	}
	c1.stop()
	s1.Close()

	s2 := open()
	t.Cleanup(func() { s2.Close() })
	c2 := start(t, central.Config{Store: s2, BoxKey: box, SignKey: sign})
	d.c = c2
	if resp, e := d.submit(t, "after", att, "B"); resp.StatusCode != 422 || e.Code != "attestation" {
		t.Errorf("reuse after a restart: %d %+v, want 422 attestation", resp.StatusCode, e)
	}
	if resp, e := d.submit(t, "before", att, "A"); resp.StatusCode != 200 {
		t.Errorf("resend after a restart: %d %+v, want 200", resp.StatusCode, e)
	}
}

// TestAdminReadsAudited: every admin read of personal data is logged with
// who (the admin credential's id, not the token), what and when, under the
// request id the answer carries; the token never appears in the log.
func TestAdminReadsAudited(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	d := c.enrol(t)
	if resp, e := d.submit(t, "s-1", d.attestation(t, time.Now(), ""), ""); resp.StatusCode != 200 {
		t.Fatalf("submit: %d %+v", resp.StatusCode, e)
	}
	reads := []struct{ path, what string }{
		{"/admin/v1/submissions?device=" + d.id.DeviceID(), "list_submissions"},
		{"/admin/v1/devices/" + d.id.DeviceID() + "/submissions/s-1", "get_submission"},
	}
	for _, r := range reads {
		resp, e := c.admin(t, http.MethodGet, r.path, nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %+v", r.path, resp.StatusCode, e)
		}
		rid := resp.Header.Get("X-Request-Id")
		found := false
		for _, l := range logLines(t, c.Log, "admin read of personal data") {
			if l["request_id"] != rid {
				continue
			}
			found = true
			admin, _ := l["admin"].(string)
			if l["what"] != r.what || !strings.HasPrefix(admin, "bootstrap-token:") || l["at"] == nil {
				t.Errorf("%s: audit line %v", r.what, l)
			}
		}
		if !found {
			t.Errorf("%s: no audit line for request %s", r.what, rid)
		}
	}
	if strings.Contains(c.Log.String(), c.Cfg.AdminToken) {
		t.Error("the log holds the admin token")
	}
	if resp, _ := c.admin(t, http.MethodPost, "/admin/v1/devices/"+d.id.DeviceID()+"/revoke", nil, nil); resp.StatusCode != 200 {
		t.Fatal("revoke failed")
	}
	if l := logLines(t, c.Log, "device revoked"); len(l) != 1 || l[0]["device_id"] != d.id.DeviceID() {
		t.Errorf("revocation log: %v", l)
	}
}

// TestAttestationDatedYear9999: an attestation dated at the end of year
// 9999 by a device's clock, signing a recent challenge, is taken on both
// stores (its claim would run past what they hold, not a 500), and is
// still refused in a second submission.
func TestAttestationDatedYear9999(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			c := start(t, central.Config{Store: open(t)})
			d := c.enrol(t)
			att := d.attestation(t, time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), d.config(t).Challenge)
			if resp, e := d.submit(t, "first", att, "A"); resp.StatusCode != http.StatusOK {
				t.Fatalf("first use: %d %+v, want 200", resp.StatusCode, e)
			}
			if resp, e := d.submit(t, "first", att, "A"); resp.StatusCode != http.StatusOK {
				t.Errorf("resend: %d %+v, want 200", resp.StatusCode, e)
			}
			if resp, e := d.submit(t, "second", att, "B"); resp.StatusCode != http.StatusUnprocessableEntity || e.Code != "attestation" {
				t.Errorf("reuse: %d %+v, want 422 attestation", resp.StatusCode, e)
			}
		})
	}
}
