package central_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openkyc/kyc/attest"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// sealedStores are the two stores, sealed, for tests that run on each.
var sealedStores = []struct {
	name string
	open func(t *testing.T) central.Store
}{
	{"bbolt", func(t *testing.T) central.Store { return sealedBolt(t) }},
	{"postgres", func(t *testing.T) central.Store { return sealedPG(t) }},
}

// sealedPG is a sealed store on a fresh PostgreSQL, as kyc-central runs.
func sealedPG(t *testing.T) *seal.Store {
	t.Helper()
	dsn, _ := startPostgres(t)
	raw, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	s := seal.New(raw, kr, kr)
	t.Cleanup(func() { s.Close() })
	return s
}

// submitPayload sends a submission without images whose payload is p, with
// a fresh attestation under "attestation" unless p has one, created at
// created.
func (d *dev) submitPayload(t *testing.T, id string, p map[string]any, created time.Time) (*http.Response, protocol.Error) {
	t.Helper()
	if _, ok := p["attestation"]; !ok {
		p["attestation"] = d.attestation(t, time.Now(), d.config(t).Challenge)
	}
	return d.do(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey(id)), d.sealedPayload(t, id, p, created), nil)
}

// sealedPayload is the manifest of submission id with payload p, created
// at created, sealed to central.
func (d *dev) sealedPayload(t *testing.T, id string, p map[string]any, created time.Time) []byte {
	t.Helper()
	pl, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := json.Marshal(protocol.Manifest{ID: id, CreatedAt: created, Payload: pl})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := protocol.SealManifest(&d.c.Cfg.BoxKey.Public, pt)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// verdict is a fresh attestation of d's with the verdict v.
func verdict(t *testing.T, d *dev, v string) attest.Attestation {
	t.Helper()
	a := d.attestation(t, time.Now(), d.config(t).Challenge)
	a.Report.Verdict = attest.Verdict(v)
	if err := a.Sign(d.id.Signer()); err != nil {
		t.Fatal(err)
	}
	return a
}

// manifestRequest is d.submit's request, signed now, not sent.
func (d *dev) manifestRequest(t *testing.T, id string, att attest.Attestation, extra string) *http.Request {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"attestation": att, "note": extra})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := json.Marshal(protocol.Manifest{ID: id, CreatedAt: att.Report.Time, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := protocol.SealManifest(&d.c.Cfg.BoxKey.Public, pt)
	if err != nil {
		t.Fatal(err)
	}
	return d.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey(id)), sealed, time.Now())
}

// cleanText reports whether s is what an index column may hold.
func cleanText(s string) bool {
	return utf8.ValidString(s) && len(s) <= 64 && !strings.ContainsFunc(s, unicode.IsControl)
}

// TestHostileFieldsStored: what a device writes in the fields central
// indexes in the clear (the engine's decision, reasons, document type and
// country, the attestation's verdict; the app version at enrolment) may hold a NUL, other control
// characters or a sequence cut by the 64-byte bound; PostgreSQL refuses
// such text, and the submission failed with a 500 its device retried for
// ever. Each is stored, its payload whole, its index fields cleaned.
func TestHostileFieldsStored(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			c := start(t, central.Config{Store: store})
			d := c.enrol(t)
			// The app version a device enrols with is such a field too.
			if _, err := identity.Enroll(context.Background(), c.Client, c.URL, c.token(t).Token, identity.Generate(), "1.0\x00\x1b"); err != nil {
				t.Errorf("enrolling with a NUL in the app version: %v", err)
			}
			for _, tc := range []struct {
				name   string
				report map[string]any
				extra  map[string]any
			}{
				{"NUL in the decision", map[string]any{"decision": "appr\x00ove"}, nil},
				{"NUL in the country", map[string]any{"decision": "review", "document": map[string]any{"country": "I\x00DN"}}, nil},
				{"NUL in a reason", map[string]any{"decision": "review", "reasons": []any{map[string]any{"code": "FACE\x00"}}}, nil},
				{"a rune cut at 64 bytes", map[string]any{"decision": "review", "document": map[string]any{"type": "a" + strings.Repeat("é", 40)}}, nil},
				{"escapes in the session", map[string]any{"decision": "review"}, map[string]any{"session_id": "s\x1b[31m\u0085\x7f"}},
				{"NUL in the operator's document type", map[string]any{"decision": "review"}, map[string]any{"doc_type": "k\x00tp"}},
				{"NUL in the verdict", map[string]any{"decision": "review"}, map[string]any{"attestation": verdict(t, d, "ok\x00")}},
			} {
				p := map[string]any{"report": tc.report}
				for k, v := range tc.extra {
					p[k] = v
				}
				id := "hostile-" + tc.name
				resp, e := d.submitPayload(t, id, p, time.Now())
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %d %+v, want 200", tc.name, resp.StatusCode, e)
					continue
				}
				sub, err := store.Upload(context.Background(), d.id.DeviceID(), protocol.SubmissionKey(id))
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				s := sub.Summary
				if s == nil {
					t.Fatalf("%s: stored without a summary", tc.name)
				}
				for _, f := range append([]string{s.Decision, s.DocType, s.Country, s.SessionID, s.NextAction, sub.Verdict}, s.Reasons...) {
					if !cleanText(f) {
						t.Errorf("%s: index field %q stored", tc.name, f)
					}
				}
				var back map[string]any
				if err := json.Unmarshal(sub.Payload, &back); err != nil || !strings.Contains(string(sub.Payload), `\u0000`) && strings.Contains(tc.name, "NUL") {
					t.Errorf("%s: payload not kept whole: %s", tc.name, sub.Payload)
				}
			}
		})
	}
}

// TestMalformedNamesRefused: a device id (a header, which may carry any
// byte) or a watchlist name (a path segment, %-escaped) that is no such
// thing's shape is answered as unknown, never with the 500 PostgreSQL's
// refusal of invalid UTF-8 or a NUL gave, which for the device id was
// anyone's to cause with no failure budget spent.
func TestMalformedNamesRefused(t *testing.T) {
	c := start(t, central.Config{Store: sealedPG(t)})
	d := c.enrol(t)
	for _, id := range []string{"\xff\xfe", "zz" + strings.Repeat("0", 30), strings.Repeat("0", 31)} {
		req := d.request(t, http.MethodGet, protocol.PathConfig, nil, time.Now())
		req.Header.Set(protocol.HeaderDevice, id)
		if resp, e := c.send(t, req, nil); resp.StatusCode != http.StatusUnauthorized || e.Code != "unknown_device" {
			t.Errorf("device id %q: %d %+v, want 401 unknown_device", id, resp.StatusCode, e)
		}
	}
	for _, name := range []string{"%FF", "%00", "a%0Ab"} {
		if resp, e := d.do(t, http.MethodGet, protocol.PathWatchlists+name, nil, nil); resp.StatusCode != http.StatusNotFound || e.Code != "unknown_watchlist" {
			t.Errorf("watchlist %s: %d %+v, want 404 unknown_watchlist", name, resp.StatusCode, e)
		}
	}
}

// TestNewSubmissionsBudgeted: a device opens at most SubmissionBurst new
// submissions at once, then one per SubmissionInterval: beyond, 429
// too_many_submissions with Retry-After, which the agent waits out with
// the submission queued. A resend of one central holds costs nothing,
// and another device has a budget of its own. Before, a stolen or
// runaway device could open submissions as fast as central took requests.
func TestNewSubmissionsBudgeted(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t), SubmissionBurst: 3, SubmissionInterval: time.Hour})
	d, other := c.enrol(t), c.enrol(t)
	challenge := d.config(t).Challenge
	sent := map[string]attest.Attestation{} // a resend carries the same attestation
	submit := func(d *dev, id string) (*http.Response, protocol.Error) {
		a, ok := sent[id]
		if !ok {
			a = d.attestation(t, time.Now(), challenge)
			sent[id] = a
		}
		return d.submit(t, id, a, id)
	}
	for i := range 3 {
		if resp, e := submit(d, fmt.Sprint("sub-", i)); resp.StatusCode != http.StatusOK {
			t.Fatalf("submission %d: %d %+v", i, resp.StatusCode, e)
		}
	}
	resp, e := submit(d, "sub-3")
	if resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_submissions" || resp.Header.Get("Retry-After") != "3600" {
		t.Errorf("one more: %d Retry-After %q %+v, want 429 too_many_submissions after 3600 s", resp.StatusCode, resp.Header.Get("Retry-After"), e)
	}
	if resp, e := submit(d, "sub-0"); resp.StatusCode != http.StatusOK {
		t.Errorf("a resend: %d %+v, want 200", resp.StatusCode, e)
	}
	challenge = other.config(t).Challenge
	if resp, e := other.submit(t, "sub-3", other.attestation(t, time.Now(), challenge), "sub-3"); resp.StatusCode != http.StatusOK {
		t.Errorf("another device: %d %+v, want 200", resp.StatusCode, e)
	}
}

// TestSubmissionIDNotReused: a submission id names one content for good.
// A resend of the same manifest is the same submission (200); the same id
// with another payload, sent after it or racing it, is 422 conflict (final
// for the device) and central keeps the first it took, whole.
func TestSubmissionIDNotReused(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			c := start(t, central.Config{Store: store})
			d := c.enrol(t)
			a := d.attestation(t, time.Now(), d.config(t).Challenge)
			if resp, e := d.submit(t, "one", a, "first"); resp.StatusCode != http.StatusOK {
				t.Fatalf("first: %d %+v", resp.StatusCode, e)
			}
			for _, tc := range []struct {
				name   string
				att    attest.Attestation
				extra  string
				status int
			}{
				{"the same again", a, "first", http.StatusOK},
				{"another payload, same attestation", a, "second", http.StatusUnprocessableEntity},
				{"another payload and attestation", d.attestation(t, time.Now(), d.config(t).Challenge), "second", http.StatusUnprocessableEntity},
			} {
				resp, e := d.submit(t, "one", tc.att, tc.extra)
				if resp.StatusCode != tc.status || tc.status != http.StatusOK && e.Code != "conflict" {
					t.Errorf("%s: %d %+v, want %d", tc.name, resp.StatusCode, e, tc.status)
				}
			}
			// Racing: four contents of one id at once, one taken.
			challenge := d.config(t).Challenge
			codes := make(chan int, 4)
			for i := range 4 {
				req := d.manifestRequest(t, "two", d.attestation(t, time.Now(), challenge), fmt.Sprint("racer ", i))
				go func() {
					resp, err := c.Client.Do(req)
					if err != nil {
						codes <- 0
						return
					}
					resp.Body.Close()
					codes <- resp.StatusCode
				}()
			}
			took := 0
			for range 4 {
				switch code := <-codes; code {
				case http.StatusOK:
					took++
				case http.StatusUnprocessableEntity:
				default:
					t.Errorf("a racer got %d", code)
				}
			}
			if took != 1 {
				t.Errorf("%d racers taken, want 1", took)
			}
			sub, err := store.Upload(context.Background(), d.id.DeviceID(), protocol.SubmissionKey("one"))
			if err != nil || !strings.Contains(string(sub.Payload), `"note":"first"`) {
				t.Errorf("kept %s, %v; want the first payload", sub.Payload, err)
			}
		})
	}
}
