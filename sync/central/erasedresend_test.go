package central_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestErasedNotStoredAgain: a submission erased on request, sent again by
// its device (the answer to its upload lost, or its upload still open when
// the erasure came), is not stored again, before or after a retention
// sweep within the attestation's age: the device gets the final receipt
// (images erased), on which the agent takes it as delivered and shreds its
// copy, and an open upload's chunk finds nothing to continue.
func TestErasedNotStoredAgain(t *testing.T) {
	for _, st := range []struct {
		name string
		open func(t *testing.T) central.Store
	}{
		{"bbolt", func(t *testing.T) central.Store { return sealedBolt(t) }},
		{"postgres", func(t *testing.T) central.Store { return sealedPG(t) }},
	} {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.open(t)
			c := synctest.StartCentral(t, store, synctest.CentralOptions{})
			id, enr := c.Enroll(t)
			up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, RetryMax: -1})
			if err != nil {
				t.Fatal(err)
			}
			erase := func(submissionID string) {
				t.Helper()
				body, err := json.Marshal(central.ErasureRequest{DeviceID: id.DeviceID(), SubmissionID: submissionID})
				if err != nil {
					t.Fatal(err)
				}
				var e central.Erasure
				if code := c.Admin(t, http.MethodPost, "/admin/v1/erasures", body, &e); code >= 300 || e.Status != central.ErasureDone || e.Erased != 1 {
					t.Fatalf("erasing %s = %d, %+v; want done, 1 erased", submissionID, code, e)
				}
			}
			gone := func(what, key string) {
				t.Helper()
				if _, err := store.Upload(ctx, id.DeviceID(), key); !errors.Is(err, central.ErrNotFound) {
					t.Errorf("%s: central holds the erased submission again (%v)", what, err)
				}
			}

			// Delivered, erased, sent again (the answer was lost).
			s := synctest.Submission(t, id, 1, 100)
			if err := up.Upload(ctx, s); err != nil {
				t.Fatalf("first upload: %v", err)
			}
			erase(s.ID)
			key := protocol.SubmissionKey(s.ID)
			if err := up.Upload(ctx, s); err != nil {
				t.Errorf("resending an erased submission = %v; want the final answer (delivered, the device shreds its copy)", err)
			}
			gone("after the resend", key)
			if _, err := c.Server.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if err := up.Upload(ctx, s); err != nil {
				t.Errorf("resending after a sweep within the attestation's age = %v", err)
			}
			gone("after a sweep and another resend", key)

			// Erased while its upload was open: the manifest again is
			// answered with the final receipt, a chunk with nothing.
			u := &uploader{c: c, id: id, img: bytes.Repeat([]byte("image bytes "), 20), n: 100}
			okey, ck, a := u.begin(t)
			if a.status != http.StatusOK {
				t.Fatalf("manifest: %+v", a)
			}
			if a := u.chunk(t, okey, ck, 0, 100); a.status != http.StatusOK {
				t.Fatalf("first chunk: %+v", a)
			}
			open := synctest.Submission(t, id, u.n, 0)
			erase(open.ID)
			if a := u.chunk(t, okey, ck, 100, len(u.img)); a.status != http.StatusNotFound || a.code != "unknown_submission" {
				t.Errorf("a chunk of an erased open upload = %+v; want 404 unknown_submission", a)
			}
			if a := resendManifest(t, u, okey); !a.Complete || a.Receipt == nil || a.Receipt.Key != okey || !a.Receipt.ImagesErased || a.Receipt.Incomplete {
				t.Errorf("the manifest of an erased open upload again = %+v (receipt %+v); want complete, receipt with images erased", a, a.Receipt)
			}
			gone("after the open upload's resend", okey)
		})
	}
}

// resendManifest sends again the manifest of u's submission n = u.n (as
// uploader.manifest) and returns central's upload state.
func resendManifest(t *testing.T, u *uploader, key string) protocol.UploadState {
	t.Helper()
	got, _, _ := u.manifest(t, u.n)
	if got != key {
		t.Fatalf("resent manifest of %s, not %s", got, key)
	}
	return u.last
}
