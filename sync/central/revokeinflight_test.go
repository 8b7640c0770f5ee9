package central_test

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestRevokedDuringUpload revokes a device while the body of its upload
// is still arriving: the request passed authentication before the
// revocation, yet the submission must not be stored.
func TestRevokedDuringUpload(t *testing.T) {
	store := sealedBolt(t)
	c := start(t, central.Config{Store: store})
	d := c.enrol(t)

	const id = "0f0e0d0c-0b0a-4908-8706-050403020100"
	att := d.attestation(t, time.Now(), d.config(t).Challenge)
	payload, err := json.Marshal(map[string]any{"attestation": att})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := json.Marshal(protocol.Manifest{ID: id, CreatedAt: att.Report.Time, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := protocol.SealManifest(&c.Cfg.BoxKey.Public, pt)
	if err != nil {
		t.Fatal(err)
	}
	key := protocol.SubmissionKey(id)
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, c.URL+protocol.SubmissionPath(key), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(sealed))
	protocol.Sign(req, sha256.Sum256(sealed), d.id.DeviceID(), d.key(t), time.Now())
	answer := make(chan *http.Response, 1)
	go func() {
		resp, err := c.Client.Do(req)
		if err != nil {
			t.Error(err)
		}
		answer <- resp
	}()
	if _, err := pw.Write(sealed[:1]); err != nil {
		t.Fatal(err)
	}
	// The request holds a slot once it is authenticated, before central
	// reads its body.
	waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 1 })
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/devices/"+d.id.DeviceID()+"/revoke", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoking: %d %+v", resp.StatusCode, e)
	}
	if _, err := pw.Write(sealed[1:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	resp := <-answer
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	var e protocol.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusForbidden || e.Code != "revoked" {
		t.Errorf("upload of a device revoked while it sent: %d %+v, want 403 revoked", resp.StatusCode, e)
	}
	if _, err := store.Upload(t.Context(), d.id.DeviceID(), key); err == nil {
		t.Error("the upload of a device revoked while it sent was stored")
	}
}
