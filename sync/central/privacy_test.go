package central_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/protocol"
)

func sealedBolt(t testing.TB) *seal.Store {
	t.Helper()
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	return seal.New(openBolt(t), kr, kr)
}

// storedSubmission puts a submission with one whole image straight into
// the store, received at received.
func storedSubmission(t *testing.T, s central.Store, id string, received time.Time) central.Submission {
	t.Helper()
	ctx := context.Background()
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 256)
	sum := sha256.Sum256(img)
	sub := central.Submission{
		DeviceID: "dev-1", Key: protocol.SubmissionKey(id), ID: id, ManifestHash: sum[:], CreatedAt: received, ReceivedAt: received,
		Payload: json.RawMessage(`{"nik":"3174096112900001","name":"Siti Nurhaliza","decision":"approve"}`),
		Images:  []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "selfie", Size: int64(len(img)), SHA256: sum[:], Key: make([]byte, 32)}}},
	}
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: sub.DeviceID, Key: sub.Key, Image: "selfie", Data: img, At: received}); err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestPrivacyRequests checks what the privacy admin routes refuse, and
// that without the blind index (a store kept unencrypted) central says so
// rather than searching plaintext.
func TestPrivacyRequests(t *testing.T) {
	plain := start(t, central.Config{Store: openBolt(t)})
	sealed := start(t, central.Config{Store: sealedBolt(t)})
	storedSubmission(t, sealed.Cfg.Store, "sub-1", time.Now().UTC())
	cases := []struct {
		name         string
		c            *tc
		method, path string
		body         string
		status       int
		code         string
		bad          bool // against openapi.json on purpose
	}{
		{"empty erasure", sealed, "POST", "/admin/v1/erasures", `{}`, 400, "malformed", false},
		{"person and submission", sealed, "POST", "/admin/v1/erasures", `{"nik":"1","device_id":"d","submission_id":"s"}`, 400, "malformed", false},
		{"device without submission", sealed, "POST", "/admin/v1/erasures", `{"device_id":"d"}`, 400, "malformed", false},
		{"unknown field", sealed, "POST", "/admin/v1/erasures", `{"email":"x@example.com"}`, 400, "malformed", true},
		// A second object is no narrowing of the first: before, the first
		// alone was read, and everyone named Siti Nurhaliza erased.
		{"erasure with a second object", sealed, "POST", "/admin/v1/erasures", `{"name":"Siti Nurhaliza"} {"nik":"3174096112900002"}`, 400, "malformed", true},
		{"search with a second object", sealed, "POST", "/admin/v1/submissions/search", `{"name":"Siti Nurhaliza"} {"nik":"3174096112900002"}`, 400, "malformed", true},
		{"retention with trailing data", sealed, "PUT", "/admin/v1/retention", `{"images_days":30} x`, 400, "malformed", true},
		{"nik without digits", sealed, "POST", "/admin/v1/erasures", `{"nik":"none"}`, 400, "malformed", false},
		{"erasure by person without index", plain, "POST", "/admin/v1/erasures", `{"nik":"3174096112900001"}`, 501, "no_index", false},
		{"search without index", plain, "POST", "/admin/v1/submissions/search", `{"name":"siti"}`, 501, "no_index", false},
		{"search by nothing", sealed, "GET", "/admin/v1/submissions/search", ``, 400, "malformed", false},
		{"search by nothing, posted", sealed, "POST", "/admin/v1/submissions/search", `{}`, 400, "malformed", false},
		{"negative retention", sealed, "PUT", "/admin/v1/retention", `{"images_days":-1}`, 400, "malformed", true},
		{"retention field unknown", sealed, "PUT", "/admin/v1/retention", `{"images":"30d"}`, 400, "malformed", true},
		{"audit bad time", sealed, "GET", "/admin/v1/audit?after=yesterday", ``, 400, "malformed", true},
	}
	for _, c := range cases {
		send := c.c.admin
		if c.bad {
			send = c.c.badAdmin
		}
		resp, e := send(t, c.method, c.path, []byte(c.body), nil)
		if resp.StatusCode != c.status || e.Code != c.code {
			t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, e.Code, c.status, c.code)
		}
	}
	// Without the admin token, nothing.
	for _, path := range []string{"/admin/v1/audit", "/admin/v1/retention", "/admin/v1/submissions/search?limit=1"} {
		req, _ := http.NewRequest(http.MethodGet, sealed.URL+path, nil)
		if resp, _ := sealed.sendWith(t, sealed.Admins, apitest.Invalid(req), nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", path, resp.StatusCode)
		}
	}
	// The search found nothing of it in plaintext: nothing was erased.
	var found []central.Submission
	if resp, _ := sealed.admin(t, "POST", "/admin/v1/submissions/search", []byte(`{"nik":"3174096112900001"}`), &found); resp.StatusCode != 200 || len(found) != 1 {
		t.Errorf("after refused requests, search = %d, %+v", resp.StatusCode, found)
	}
	// Erasure by submission works without an index too.
	storedSubmission(t, plain.Cfg.Store, "sub-2", time.Now().UTC())
	var res central.Erasure
	resp, _ := plain.admin(t, "POST", "/admin/v1/erasures", []byte(`{"device_id":"dev-1","submission_id":"sub-2"}`), &res)
	if resp.StatusCode != http.StatusAccepted || res.Erased != 1 || res.Status != central.ErasureDone || res.StatusURL == "" ||
		resp.Header.Get("Location") != res.StatusURL {
		t.Errorf("erasure by submission on a plain store = %d, %+v", resp.StatusCode, res)
	}
	// The record reads back, without whose submission it was.
	var again central.Erasure
	resp, _ = plain.admin(t, "GET", res.StatusURL, nil, &again)
	if resp.StatusCode != 200 || again.ID != res.ID || again.Status != central.ErasureDone || again.Erased != 1 || again.Attempts != 1 {
		t.Errorf("GET %s = %d, %+v", res.StatusURL, resp.StatusCode, again)
	}
	if resp, e := plain.admin(t, "GET", "/admin/v1/erasures/nobody", nil, nil); resp.StatusCode != 404 || e.Code != "not_found" {
		t.Errorf("an unknown erasure: %d %q", resp.StatusCode, e.Code)
	}
	var evs []central.AuditEvent
	plain.admin(t, "GET", "/admin/v1/audit", nil, &evs)
	if len(evs) != 1 || evs[0].Action != central.AuditErasure || evs[0].Count != 1 {
		t.Errorf("audit = %+v", evs)
	}
	if raw, _ := json.Marshal(evs); strings.Contains(string(raw), "sub-2") || strings.Contains(string(raw), protocol.SubmissionKey("sub-2")) {
		t.Errorf("the audit trail names the erased submission: %s", raw)
	}
}

// TestServeRunsRetentionSweep: Serve sweeps once at start (and hourly),
// and the sweep's goroutine ends with Serve.
func TestServeRunsRetentionSweep(t *testing.T) {
	store := sealedBolt(t)
	ctx := context.Background()
	if err := store.PutRetention(ctx, central.RetentionPolicy{ImagesDays: 1}); err != nil {
		t.Fatal(err)
	}
	old := storedSubmission(t, store, "old", time.Now().UTC().Add(-48*time.Hour))
	fresh := storedSubmission(t, store, "fresh", time.Now().UTC())
	c := start(t, central.Config{Store: store})
	deadline := time.Now().Add(30 * time.Second)
	for {
		sub, err := store.Upload(ctx, old.DeviceID, old.Key)
		if err != nil {
			t.Fatal(err)
		}
		if !sub.ImagesErasedAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve did not sweep the expired images within 30 s")
		}
		// Paces a poll of the condition above, bounded by the deadline: the
		// outcome never depends on how long the sleep lasts.
		time.Sleep(20 * time.Millisecond)
	}
	if sub, err := store.Upload(ctx, fresh.DeviceID, fresh.Key); err != nil || len(sub.Images) != 1 {
		t.Errorf("the sweep took a fresh submission's images: %+v, %v", sub.Images, err)
	}
	c.stop() // returns only once the sweeper has ended
}
