package central_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

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
	for _, st := range sealedStores {
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

// TestRetentionDeletedNotStoredAgain: a submission the retention sweep
// deleted whole (decision_days), sent again by its device within the
// attestation's age (the answer lost, or the device offline since), is
// not stored again: the device gets the final receipt (images erased)
// and shreds its copy, as after an erasure.
func TestRetentionDeletedNotStoredAgain(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.open(t)
			// One clock for central and the device, moved on by the test.
			var ahead atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
			c := synctest.StartCentral(t, store, synctest.CentralOptions{Now: now})
			id, enr := c.Enroll(t)
			up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, RetryMax: -1, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			s := synctest.Submission(t, id, 1, 100)
			if err := up.Upload(ctx, s); err != nil {
				t.Fatalf("first upload: %v", err)
			}
			if err := store.PutRetention(ctx, central.RetentionPolicy{DecisionDays: 1}); err != nil {
				t.Fatal(err)
			}
			ahead.Store(int64(2 * 24 * time.Hour))
			res, err := c.Server.Sweep(ctx)
			if err != nil {
				t.Fatal(err)
			}
			key := protocol.SubmissionKey(s.ID)
			if _, err := store.Upload(ctx, id.DeviceID(), key); res.Counts[central.ExpireDecision] != 1 || !errors.Is(err, central.ErrNotFound) {
				t.Fatalf("sweep = %+v, submission %v; want it deleted", res.Counts, err)
			}
			if err := up.Upload(ctx, s); err != nil {
				t.Errorf("resending a submission retention deleted = %v; want the final answer (delivered, the device shreds its copy)", err)
			}
			if _, err := store.Upload(ctx, id.DeviceID(), key); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("central holds the submission retention deleted again (%v)", err)
			}
		})
	}
}

// TestErasedAheadNotStoredAgain: a submission whose attestation's report
// is dated ahead of central's clock (a device clock set forward), taken
// for the recent challenge it signs, erased, and sent again once central's
// clock has reached the report's time (so the report's age takes it,
// though the challenge is too old), after a retention sweep: it is not
// stored again, for its tombstone ages from the attestation's time, not
// from its receipt.
func TestErasedAheadNotStoredAgain(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			store := st.open(t)
			var ahead atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
			c := start(t, central.Config{Store: store, Now: now})
			d := c.enrol(t)
			const id = "0f0e0d0c-0b0a-4908-8706-050403020101"
			dated := 60 * 24 * time.Hour // ahead of central's clock
			att := d.attestation(t, now().Add(dated), d.config(t).Challenge)
			sealed := c.attestedManifest(t, id, att)
			key := protocol.SubmissionKey(id)
			send := func() (protocol.UploadState, *http.Response, protocol.Error) {
				t.Helper()
				var st protocol.UploadState
				resp, e := c.send(t, d.request(t, http.MethodPut, protocol.SubmissionPath(key), sealed, now()), &st)
				return st, resp, e
			}
			if _, resp, e := send(); resp.StatusCode != http.StatusOK {
				t.Fatalf("first upload: %d %+v", resp.StatusCode, e)
			}
			body, err := json.Marshal(central.ErasureRequest{DeviceID: d.id.DeviceID(), SubmissionID: id})
			if err != nil {
				t.Fatal(err)
			}
			var e central.Erasure
			if resp, pe := c.admin(t, http.MethodPost, "/admin/v1/erasures", body, &e); resp.StatusCode >= 300 || e.Status != central.ErasureDone || e.Erased != 1 {
				t.Fatalf("erasing = %d %+v, %+v; want done, 1 erased", resp.StatusCode, pe, e)
			}
			// A day after the report's time: the challenge is older than
			// MaxAttestationAge, the report a day old.
			ahead.Store(int64(dated + 24*time.Hour))
			if _, err := c.Server.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			st, resp, pe := send()
			if resp.StatusCode != http.StatusOK || st.Receipt == nil || !st.Receipt.ImagesErased {
				t.Errorf("resending the erased submission = %d %+v, complete %v, receipt %+v; want 200 with the final receipt (images erased)", resp.StatusCode, pe, st.Complete, st.Receipt)
			}
			if _, err := store.Upload(ctx, d.id.DeviceID(), key); !errors.Is(err, central.ErrNotFound) {
				t.Errorf("central holds the erased submission again (%v)", err)
			}
		})
	}
}
