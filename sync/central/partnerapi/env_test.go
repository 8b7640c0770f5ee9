package partnerapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
)

// pg is the PostgreSQL server of the tests that need one.
var pg pgtest.Lazy

func TestMain(m *testing.M) { pg.Main(m) }

func pgServer(t testing.TB) *pgtest.Server { return pg.Server(t) }

// clock is the test's clock: real time plus an offset tests move on.
type clock = centraltest.Clock

// opener opens an empty raw store for a test.
type opener func(t testing.TB) central.Store

func boltStore(t testing.TB) central.Store { return centraltest.BoltStore(t) }

func pgStore(t testing.TB) central.Store { return centraltest.PGStore(t, pgServer(t)) }

// env is a real central with the partner API mounted, over TLS on
// loopback, on a sealed store; every exchange of its client is validated
// against openapi.json.
type env struct {
	t      testing.TB
	base   string
	store  central.Store
	clk    *clock
	key    []byte // the partner API's SecretKey
	api    *partnerapi.API
	admin  string // the admin bearer token
	client *http.Client
	// transport is the client's without the validation, for a request
	// apitest cannot read ahead (a body held back).
	transport *http.Transport
}

func newEnv(t testing.TB, open opener) *env { return newEnvWith(t, open, nil) }

// newEnvWith is newEnv with the partner API's Config edited first.
func newEnvWith(t testing.TB, open opener, edit func(*partnerapi.Config)) *env {
	t.Helper()
	return newEnvOptions(t, open, centraltest.Options{}, edit)
}

// newEnvOptions is newEnvWith on a central built with o (its clock the
// env's).
func newEnvOptions(t testing.TB, open opener, o centraltest.Options, edit func(*partnerapi.Config)) *env {
	t.Helper()
	clk := &clock{}
	o.Now = clk.Now
	c := centraltest.New(t, open(t), o)
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	cfg := partnerapi.Config{Store: c.Store, SecretKey: key, PublicURL: c.Base, Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	api, err := partnerapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api.Mount(c.Server)
	c.Serve(t)
	return &env{t: t, base: c.Base, store: c.Store, clk: clk, key: key, api: api, admin: c.Admin,
		client: apitest.Client(t, c.Transport()), transport: c.Transport()}
}

// answer is a response read whole.
type answer struct {
	status int
	body   []byte
	header http.Header
}

// json decodes the answer's body into v.
func (a answer) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
}

// code is the error object's code.
func (a answer) code(t testing.TB) string {
	t.Helper()
	var e struct {
		Code string `json:"code"`
	}
	a.json(t, &e)
	return e.Code
}

// req is one request of a test.
type req struct {
	method, path string
	body         any               // marshalled to JSON unless []byte
	token        string            // the partner token (Authorization: Bearer)
	admin        bool              // send the admin token instead
	header       map[string]string // more headers
	invalid      bool              // deliberately against the document
}

func (e *env) do(r req) answer {
	e.t.Helper()
	var body io.Reader
	if r.body != nil {
		b, ok := r.body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(r.body); err != nil {
				e.t.Fatal(err)
			}
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequest(r.method, e.base+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.admin:
		hr.Header.Set("Authorization", "Bearer "+e.admin)
	case r.token != "":
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.invalid {
		hr = apitest.Invalid(hr)
	}
	return e.roundTrip(e.client, hr)
}

// send makes a request the document has no operation for, which the
// validating client cannot check: its answer is checked against a
// component response instead (apitest.Response).
func (e *env) send(method, path string) answer {
	e.t.Helper()
	hr, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.roundTrip(&http.Client{Transport: e.transport}, hr)
}

// roundTrip sends hr with c and reads the whole answer.
func (e *env) roundTrip(c *http.Client, hr *http.Request) answer {
	e.t.Helper()
	resp, err := c.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header}
}

// must checks the answer's status.
func (e *env) must(want int, a answer) answer {
	e.t.Helper()
	if a.status != want {
		e.t.Fatalf("status %d, want %d: %s", a.status, want, a.body)
	}
	return a
}

// addPartner creates a partner through the admin API.
func (e *env) addPartner(name string, branches ...string) partnerapi.Created {
	e.t.Helper()
	var c partnerapi.Created
	body := map[string]any{"name": name}
	if len(branches) > 0 {
		body["branches"] = branches
	}
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/admin/v1/partners", admin: true, body: body})).json(e.t, &c)
	return c
}

// token gets a partner token.
func (e *env) token(clientID, passKey string) partnerapi.TokenResponse {
	e.t.Helper()
	var tr partnerapi.TokenResponse
	e.must(http.StatusOK, e.do(req{method: "POST", path: "/api/v1/partner-token",
		body: map[string]string{"client_id": clientID, "pass_key": passKey}})).json(e.t, &tr)
	return tr
}

// partner is a partner with a token.
type partner struct {
	partnerapi.Created
	tok string
}

func (e *env) partner(name string, branches ...string) partner {
	e.t.Helper()
	c := e.addPartner(name, branches...)
	return partner{Created: c, tok: e.token(c.ClientID, c.PassKey).Token}
}

// flow initiates a flow for p.
func (e *env) flow(p partner, body map[string]any) partnerapi.FlowCreated {
	e.t.Helper()
	var fc partnerapi.FlowCreated
	e.must(http.StatusCreated, e.do(req{method: "POST", path: "/api/v1/flows", token: p.tok, body: body})).json(e.t, &fc)
	return fc
}

// payload reads a payload captured from a real `kyc verify` (the console's
// testdata) with the session id.
func payload(t testing.TB, file, session string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "console", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["session_id"] = session
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// submit stores a complete submission with its front and selfie, as
// central's ingest does, and returns its ref and images.
func (e *env) submit(device, id string, pl []byte) (central.SubmissionRef, map[string][]byte) {
	e.t.Helper()
	imgs := map[string][]byte{"front": centraltest.JPEG(e.t, 320, 200), "selfie": centraltest.JPEG(e.t, 120, 160)}
	return e.submitImages(device, id, pl, imgs, protocol.MaxChunkSize), imgs
}

// submitImages stores a complete submission with the images, each in
// chunks of at most chunk bytes, as central's ingest does.
func (e *env) submitImages(device, id string, pl []byte, imgs map[string][]byte, chunk int) central.SubmissionRef {
	e.t.Helper()
	now := e.clk.Now().UTC()
	sum := central.Summarize(pl)
	return centraltest.StoreSubmission(e.t, e.store, central.Submission{DeviceID: device, Key: protocol.SubmissionKey(id), ID: id,
		ManifestHash: []byte(id), CreatedAt: now.Add(-time.Minute), ReceivedAt: now, Verdict: "ok", AttestationFresh: true,
		Payload: pl, Summary: &sum}, imgs, chunk)
}

// complete attaches a stored submission to a partner's session, as the
// hosted flow (issue 19) or the kiosk emitter will.
func (e *env) complete(partnerID, sessionID string, ref central.SubmissionRef) {
	e.t.Helper()
	_, err := e.store.UpdateFlow(context.Background(), partnerID, sessionID, func(f *central.FlowSession) ([]central.WebhookEvent, error) {
		f.Submissions = append(f.Submissions, ref)
		f.Status, f.NextAction, f.Attempts, f.UpdatedAt = central.FlowCompleted, "STATUS", f.Attempts+1, e.clk.Now().UTC()
		return nil, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
