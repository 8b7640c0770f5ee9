package central_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/internal/synctest"
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
	sealed := c.attestedManifest(t, id, att)
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

// revokeAtWrite revokes, once armed, the device of the next upload write
// just before the write reaches the store: the window between the
// handler's last revocation check and the store's transaction, hit
// deterministically.
type revokeAtWrite struct {
	central.Store
	t     *testing.T
	armed atomic.Bool
}

func (s *revokeAtWrite) revoke(ctx context.Context, deviceID string) {
	if s.armed.CompareAndSwap(true, false) {
		if err := s.Store.RevokeDevice(ctx, deviceID, time.Now()); err != nil {
			s.t.Errorf("revoking at the write: %v", err)
		}
	}
}

func (s *revokeAtWrite) BeginSubmission(ctx context.Context, sub central.Submission) (protocol.UploadState, bool, error) {
	s.revoke(ctx, sub.DeviceID)
	return s.Store.BeginSubmission(ctx, sub)
}

func (s *revokeAtWrite) AppendChunk(ctx context.Context, c central.Chunk) (protocol.UploadState, error) {
	s.revoke(ctx, c.DeviceID)
	return s.Store.AppendChunk(ctx, c)
}

// TestRevokedAtWrite revokes a device after its upload passed every check
// of the handler, just before the store writes it: the manifest must not
// be stored, nor the chunk appended, and the device is answered 403
// revoked, on both stores.
func TestRevokedAtWrite(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := &revokeAtWrite{Store: st.open(t), t: t}
			c := synctest.StartCentral(t, store, synctest.CentralOptions{})
			img := bytes.Repeat([]byte("image bytes "), 20)

			id, _ := c.Enroll(t)
			u := &uploader{c: c, id: id, img: img}
			store.armed.Store(true)
			key, _, a := u.begin(t)
			if a.status != http.StatusForbidden || a.code != "revoked" {
				t.Errorf("a manifest whose device was revoked before the write = %+v; want 403 revoked", a)
			}
			if _, err := store.Upload(ctx, id.DeviceID(), key); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("the manifest of a device revoked before the write was stored (%v)", err)
			}

			id2, _ := c.Enroll(t)
			u2 := &uploader{c: c, id: id2, img: img}
			key, ck, a := u2.begin(t)
			if a.status != http.StatusOK {
				t.Fatalf("manifest: %+v", a)
			}
			store.armed.Store(true)
			if a := u2.chunk(t, key, ck, 0, len(img)); a.status != http.StatusForbidden || a.code != "revoked" {
				t.Errorf("a chunk whose device was revoked before the write = %+v; want 403 revoked", a)
			}
			if sub, err := store.Upload(ctx, id2.DeviceID(), key); err != nil || sub.Images[0].Received != 0 || !sub.CompletedAt.IsZero() {
				t.Errorf("the upload after a chunk of a device revoked before the write = %+v (completed %v), %v; want nothing received", sub.State(), sub.CompletedAt, err)
			}
		})
	}
}
