package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// TestCompleteWithoutMatchingReceipt alters central's complete answers as
// a central before receipts, a confused proxy or a mix-up would: the
// device must take a submission as delivered, and shred its images, only
// on an answer showing central holds every image of what it sent. Before,
// a bare {"complete":true} (central's answer for an upload its retention
// closed before the images arrived) marked the submission synced and
// shredded the only copy of its images.
func TestCompleteWithoutMatchingReceipt(t *testing.T) {
	tests := []struct {
		name      string
		alter     func(st *protocol.UploadState)
		delivered bool
	}{
		{"bare complete", func(st *protocol.UploadState) { st.Receipt, st.Received = nil, nil }, false},
		{"receipt of another submission", func(st *protocol.UploadState) { st.Receipt.Key = protocol.SubmissionKey("other") }, false},
		{"receipt of another manifest", func(st *protocol.UploadState) { st.Receipt.ManifestSHA256[0] ^= 1 }, false},
		{"receipt short of an image", func(st *protocol.UploadState) { st.Receipt.Images-- }, false},
		{"receipt without the bytes", func(st *protocol.UploadState) { st.Received = nil }, false},
		// A central before receipts, or an impostor answering for it: not
		// delivery (TestForgedCompleteWithoutReceipt).
		{"no receipt, every image at its size", func(st *protocol.UploadState) { st.Receipt = nil }, false},
		{"receipt of every image", func(*protocol.UploadState) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var altering atomic.Bool
			altering.Store(true)
			wrap := answerUploadsWhile(&altering, func(next http.Handler, w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var st protocol.UploadState
				if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &st) == nil && st.Complete {
					if st.Receipt == nil {
						t.Errorf("central's complete answer has no receipt: %s", rec.Body)
					} else {
						tt.alter(&st)
					}
					body, _ := json.Marshal(st)
					rec.Body = bytes.NewBuffer(body)
				}
				for k, v := range rec.Header() {
					if k != "Content-Length" {
						w.Header()[k] = v
					}
				}
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
			})
			r := newRig(t, synctest.CentralOptions{Wrap: wrap})
			a, v, clock, subs := r.queueOne(t, agent.Config{RetryMax: -1})
			runOnce(t, a)
			e, got := stateOf(t, v, subs[0].ID)
			if tt.delivered {
				if e.State != vault.StateSynced || len(got.Images) != 0 {
					t.Fatalf("after a complete answer naming every image: %s with %d images, want synced and shredded", e.State, len(got.Images))
				}
				return
			}
			checkHeld(t, e, got, subs[0], "after an answer that does not show central holds it", "not taken as delivered")
			altering.Store(false)
			clock.Advance(2 * time.Hour)
			drain(t, a, clock, 3)
			synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
		})
	}
}

// TestRetentionClosedUploadKeepsImages: central's retention closes an
// upload whose images never arrived, and erases what it had. The device's
// resend is answered complete, with a receipt saying so: the submission
// is rejected (central takes no images for it any more) and keeps its
// images. Before, the device took the answer for delivery and shredded
// the only copy.
func TestRetentionClosedUploadKeepsImages(t *testing.T) {
	var noImages atomic.Bool
	noImages.Store(true)
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if noImages.Load() && isUpload(r) && strings.Contains(r.URL.Path, "/images/") {
				http.Error(w, `{"code":"internal","message":"injected"}`, http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	a, v, clock, subs := r.queueOne(t, agent.Config{RetryMax: -1})
	runOnce(t, a)
	now := time.Now()
	if n, err := r.store.Expire(context.Background(), central.ExpireImages, now.Add(time.Hour), now, 10); err != nil || n != 1 {
		t.Fatalf("central's retention: %d, %v; want the open upload closed", n, err)
	}
	noImages.Store(false)
	clock.Advance(2 * time.Hour)
	runOnce(t, a)
	e, got := stateOf(t, v, subs[0].ID)
	if e.State != vault.StateRejected || !strings.Contains(e.Reason, "retention") {
		t.Errorf("after central's retention closed the upload: %s (%s), want rejected saying why", e.State, e.Reason)
	}
	if len(got.Images) != len(subs[0].Images) {
		t.Fatalf("the device kept %d of its %d images of an upload central never had whole", len(got.Images), len(subs[0].Images))
	}
}

// TestErasedAfterDeliveryIsDelivered: central received every image, its
// answer to the last one was lost, and its retention erased the images
// before the device sent again. The receipt says central had them whole:
// the submission is delivered, not held queued for ever.
func TestErasedAfterDeliveryIsDelivered(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	var lose atomic.Bool
	lose.Store(true)
	ft := r.newFaultTransport(t, func(n int, req *http.Request) fault {
		if lose.Load() && strings.Contains(req.URL.Path, "/images/selfie") {
			return dropResponse
		}
		return pass
	})
	a, v, clock, subs := r.queueOne(t, agent.Config{RetryMax: -1, Transport: ft})
	ctx := context.Background()
	runOnce(t, a)
	if e, err := v.OutboxStatus(ctx, subs[0].ID); err != nil || e.State != vault.StateQueued {
		t.Fatalf("after the lost answer: %+v, %v; want queued", e, err)
	}
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
	now := time.Now()
	if n, err := r.store.Expire(ctx, central.ExpireImages, now.Add(time.Hour), now, 10); err != nil || n != 1 {
		t.Fatalf("central's retention: %d, %v", n, err)
	}
	lose.Store(false)
	clock.Advance(2 * time.Hour)
	runOnce(t, a)
	if e, err := v.OutboxStatus(ctx, subs[0].ID); err != nil || e.State != vault.StateSynced {
		t.Fatalf("after central's receipt of a delivery it has since erased: %+v, %v; want synced", e, err)
	}
}

// TestForgedCompleteWithoutReceipt: something holding a certificate from
// central's CA answers the device's uploads itself, as a central from
// before receipts would, and central never sees them: "complete", every
// image at its full size (the sizes it can count from the chunks the
// device sends). It cannot forge a receipt (that names the SHA-256 of
// the manifest, sealed to central's key). The submission must stay queued
// with its images, and reach central once the forger is gone. Before,
// the device took such an answer as delivery and shredded the only copy
// of the images.
func TestForgedCompleteWithoutReceipt(t *testing.T) {
	var subs []vault.Submission
	var forging atomic.Bool
	forging.Store(true)
	wrap := answerUploadsWhile(&forging, func(_ http.Handler, w http.ResponseWriter, _ *http.Request) {
		st := protocol.UploadState{Complete: true, Received: map[string]int64{}}
		for name, img := range subs[0].Images {
			st.Received[name] = int64(len(img))
		}
		json.NewEncoder(w).Encode(st)
	})
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	a, v, clock, queued := r.queueOne(t, agent.Config{RetryMax: -1})
	subs = queued // what the forger answers for
	runOnce(t, a)
	e, got := stateOf(t, v, subs[0].ID)
	checkHeld(t, e, got, subs[0], "after a forged complete without a receipt", "receipt")
	forging.Store(false)
	clock.Advance(2 * time.Hour)
	drain(t, a, clock, 3)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}

// checkHeld fails unless the submission want is still queued with every
// image (e its outbox entry, got what the vault holds of it) and e's
// reason contains why; after says when, for the failure.
func checkHeld(t *testing.T, e vault.OutboxEntry, got, want vault.Submission, after, why string) {
	t.Helper()
	if e.State != vault.StateQueued || len(got.Images) != len(want.Images) {
		t.Fatalf("%s: %s (%s) with %d images, want queued with all", after, e.State, e.Reason, len(got.Images))
	}
	if !strings.Contains(e.Reason, why) {
		t.Errorf("reason %q does not say why", e.Reason)
	}
}
