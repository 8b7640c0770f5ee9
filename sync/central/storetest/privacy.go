package storetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// The tests of this file are about retention, erasure and the audit trail,
// as seen through the Store interface: they hold for a plain store and for
// one wrapped by seal.Store alike.

// decided is a submission whose payload carries a decision beside the
// person's data, and the Decision seal.Store derives from such a payload
// (a plain store keeps the one it is given).
func decided(dev, id string, received time.Time, images map[string][]byte) central.Submission {
	s := submission(dev, id, received, images)
	s.Payload = json.RawMessage(`{"decision":"approve","name":"Siti Nurhaliza","nik":"3174096112900001"}`)
	s.Decision = json.RawMessage(`{"decision":"approve"}`)
	return s
}

// upload begins sub and sends each image whole.
func upload(t *testing.T, s central.Store, sub central.Submission, images map[string][]byte) {
	t.Helper()
	if _, _, err := s.BeginSubmission(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	for _, im := range sub.Images {
		if _, err := appendChunk(t, s, sub, im.Name, 0, images[im.Name]); err != nil {
			t.Fatal(err)
		}
	}
}

// testErasedNotStoredAgain: an erased submission's key, sent again (a
// device that lost the answer), is refused with ErrErased, whether it was
// deleted or erased on request, with images or an upload still open,
// until its tombstone is swept; nothing of it is stored again meanwhile.
func testErasedNotStoredAgain(t *testing.T, s central.Store) {
	ctx := context.Background()
	imgs := map[string][]byte{"selfie": image(1, 300), "document": image(2, 500)}
	a := decided("d1", "deleted", t0, imgs)
	b := decided("d1", "erased", t0.Add(time.Hour), imgs)
	open := decided("d1", "open", t0, imgs) // its images still arriving
	upload(t, s, a, imgs)
	upload(t, s, b, imgs)
	if _, _, err := s.BeginSubmission(ctx, open); err != nil {
		t.Fatal(err)
	}
	if err := s.AddErasure(ctx, central.Erasure{ID: "er-1", Status: central.ErasureQueued, Actor: "admin:ops", RequestedAt: t0, DeviceID: "d1", SubmissionKey: b.Key}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubmission(ctx, "d1", a.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubmission(ctx, "d1", open.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseSubmission(ctx, "er-1", central.SubmissionRef{DeviceID: "d1", Key: b.Key}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []central.Submission{a, b, open} {
		if st, created, err := s.BeginSubmission(ctx, sub); !errors.Is(err, central.ErrErased) || created {
			t.Errorf("%s sent again after its erasure = %+v, created %v, %v; want ErrErased", sub.ID, st, created, err)
		}
		if _, err := s.Upload(ctx, "d1", sub.Key); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("%s stored again after its erasure: %v", sub.ID, err)
		}
	}
	if _, err := appendChunk(t, s, open, "selfie", 0, imgs["selfie"]); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("a chunk of an upload erased while open = %v, want ErrNotFound", err)
	}
	// The same key on another device is another submission.
	other := decided("d2", "deleted", t0, imgs)
	if _, created, err := s.BeginSubmission(ctx, other); err != nil || !created {
		t.Errorf("another device's submission of the same id = created %v, %v", created, err)
	}
	// Tombstones go by when the submission was received: up to t0 none.
	if n, err := s.Expire(ctx, central.ExpireErased, t0, t0.Add(48*time.Hour), 10); err != nil || n != 0 {
		t.Errorf("Expire(erased, before t0) = %d, %v; want 0", n, err)
	}
	if _, _, err := s.BeginSubmission(ctx, a); !errors.Is(err, central.ErrErased) {
		t.Errorf("after an early sweep BeginSubmission = %v, want ErrErased", err)
	}
	if n, err := s.Expire(ctx, central.ExpireErased, t0.Add(time.Minute), t0.Add(48*time.Hour), 1); err != nil || n != 1 {
		t.Errorf("Expire(erased, limit 1) = %d, %v; want 1", n, err)
	}
	if n, err := s.Expire(ctx, central.ExpireErased, t0.Add(time.Minute), t0.Add(48*time.Hour), 10); err != nil || n != 1 {
		t.Errorf("Expire(erased) = %d, %v; want the other of t0", n, err)
	}
	if _, _, err := s.BeginSubmission(ctx, b); !errors.Is(err, central.ErrErased) {
		t.Errorf("b, received later, after the sweep of t0's = %v, want ErrErased still", err)
	}
	if _, created, err := s.BeginSubmission(ctx, a); err != nil || !created {
		t.Errorf("a after its tombstone was swept = created %v, %v; want stored (the attestation's age refuses it in central)", created, err)
	}
}

// testRetentionDeletedNotStoredAgain: a submission retention deleted
// whole (ExpireDecision) leaves the tombstone an erasure leaves: sent
// again by a device still holding it, it is refused with ErrErased and
// nothing of it is stored, until the tombstone is swept; a hosted flow's
// submission leaves none.
func testRetentionDeletedNotStoredAgain(t *testing.T, s central.Store) {
	ctx := context.Background()
	imgs := map[string][]byte{"selfie": image(1, 300)}
	a := decided("d1", "retained", t0, imgs)
	open := decided("d1", "open", t0, imgs) // its images still arriving
	// A hosted flow's keeps none: no device sends it, and the partner's
	// session id used again names it again.
	hosted := decided(central.HostedDevice(""), "p:order-7-1", t0, imgs)
	erased := decided(central.HostedDevice("north"), "p:order-8-1", t0, imgs)
	upload(t, s, a, imgs)
	upload(t, s, hosted, imgs)
	upload(t, s, erased, imgs)
	if _, _, err := s.BeginSubmission(ctx, open); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubmission(ctx, erased.DeviceID, erased.Key); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Expire(ctx, central.ExpireDecision, t0.Add(time.Hour), t0.Add(time.Hour), 10); err != nil || n != 3 {
		t.Fatalf("Expire(decision) = %d, %v; want 3", n, err)
	}
	for _, sub := range []central.Submission{hosted, erased} {
		if _, created, err := s.BeginSubmission(ctx, sub); err != nil || !created {
			t.Errorf("a hosted submission's id used again after its deletion = created %v, %v; want stored", created, err)
		}
	}
	for _, sub := range []central.Submission{a, open} {
		if st, created, err := s.BeginSubmission(ctx, sub); !errors.Is(err, central.ErrErased) || created {
			t.Errorf("%s sent again after retention deleted it = %+v, created %v, %v; want ErrErased", sub.ID, st, created, err)
		}
		if _, err := s.Upload(ctx, "d1", sub.Key); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("%s stored again after retention deleted it: %v", sub.ID, err)
		}
	}
	if n, err := s.Expire(ctx, central.ExpireErased, t0.Add(time.Minute), t0.Add(48*time.Hour), 10); err != nil || n != 2 {
		t.Errorf("Expire(erased) = %d, %v; want both tombstones", n, err)
	}
	if _, created, err := s.BeginSubmission(ctx, a); err != nil || !created {
		t.Errorf("a after its tombstone was swept = created %v, %v; want stored (the attestation's age refuses it in central)", created, err)
	}
}

// testTombstoneAgesFromAttestation: the tombstone of a submission whose
// attestation is dated after its receipt (a report dated ahead, taken for
// the recent challenge it signs) ages from the attestation's time, for
// central takes the attestation again until MaxAttestationAge after it;
// one attested before its receipt ages from the receipt. Whether erased
// on request or deleted by retention.
func testTombstoneAgesFromAttestation(t *testing.T, s central.Store) {
	ctx := context.Background()
	imgs := map[string][]byte{"selfie": image(1, 300)}
	ahead := decided("d1", "ahead", t0, imgs)
	ahead.AttestedAt = t0.Add(365 * 24 * time.Hour)
	aheadRetained := decided("d1", "ahead-retained", t0, imgs)
	aheadRetained.AttestedAt = ahead.AttestedAt
	behind := decided("d1", "behind", t0, imgs)
	behind.AttestedAt = t0.Add(-24 * time.Hour)
	for _, sub := range []central.Submission{ahead, aheadRetained, behind} {
		upload(t, s, sub, imgs)
	}
	if got, err := s.Upload(ctx, "d1", ahead.Key); err != nil || !got.AttestedAt.Equal(ahead.AttestedAt) {
		t.Errorf("AttestedAt stored = %v, %v; want %v", got.AttestedAt, err, ahead.AttestedAt)
	}
	for _, sub := range []central.Submission{ahead, behind} {
		if err := s.DeleteSubmission(ctx, "d1", sub.Key); err != nil {
			t.Fatal(err)
		}
	}
	// Retention takes aheadRetained by its receipt: the tombstone's age
	// is not the data's.
	if n, err := s.Expire(ctx, central.ExpireDecision, t0.Add(time.Hour), t0.Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("Expire(decision) = %d, %v; want 1", n, err)
	}
	// A sweep after the receipt, long before the attestation's time:
	// only behind's tombstone goes.
	if n, err := s.Expire(ctx, central.ExpireErased, t0.Add(40*24*time.Hour), t0.Add(40*24*time.Hour), 10); err != nil || n != 1 {
		t.Errorf("Expire(erased) 40 days after receipt = %d, %v; want 1 (behind's)", n, err)
	}
	for _, sub := range []central.Submission{ahead, aheadRetained} {
		if _, created, err := s.BeginSubmission(ctx, sub); !errors.Is(err, central.ErrErased) || created {
			t.Errorf("%s, attested ahead, sent again after a sweep by its receipt = created %v, %v; want ErrErased", sub.ID, created, err)
		}
	}
	if _, created, err := s.BeginSubmission(ctx, behind); err != nil || !created {
		t.Errorf("behind after its tombstone was swept = created %v, %v; want stored", created, err)
	}
	if n, err := s.Expire(ctx, central.ExpireErased, ahead.AttestedAt.Add(time.Minute), ahead.AttestedAt.Add(time.Minute), 10); err != nil || n != 2 {
		t.Errorf("Expire(erased) after the attestation's time = %d, %v; want 2", n, err)
	}
}

func testErasure(t *testing.T, s central.Store) {
	ctx := context.Background()
	imgs := map[string][]byte{"selfie": image(1, 300), "document": image(2, 500)}
	a := decided("d1", "erase-me", t0, imgs)
	b := decided("d1", "keep-me", t0, imgs)
	upload(t, s, a, imgs)
	upload(t, s, b, imgs)
	if err := s.DeleteSubmission(ctx, "d1", a.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, "d1", a.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("erased submission readable: %v", err)
	}
	if data, err := s.ImageData(ctx, "d1", a.Key, "selfie"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("erased image = %d bytes, %v; want ErrNotFound", len(data), err)
	}
	if err := s.DeleteSubmission(ctx, "d1", a.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("erasing twice = %v, want ErrNotFound", err)
	}
	subs, err := s.Submissions(ctx, central.Filter{})
	if err != nil || len(subs) != 1 || subs[0].ID != "keep-me" {
		t.Errorf("after erasure Submissions = %+v, %v; want keep-me only", subs, err)
	}
	got, err := s.ImageData(ctx, "d1", b.Key, "document")
	if err != nil || !bytes.Equal(got, imgs["document"]) {
		t.Errorf("the other submission's image = %d bytes, %v", len(got), err)
	}
	// A device sending an erased submission again does not bring it back
	// (testErasedNotStoredAgain).
	if _, created, err := s.BeginSubmission(ctx, a); !errors.Is(err, central.ErrErased) || created {
		t.Errorf("sending an erased submission again = created %v, %v; want ErrErased", created, err)
	}
}

// testErasureRecords: an erasure's record counts each deletion with it
// (nothing for a submission gone already), a run counts as an attempt,
// and it ends once: criteria dropped, one audit event with the count; a
// second end changes nothing and appends nothing.
func testErasureRecords(t *testing.T, s central.Store) {
	ctx := context.Background()
	imgs := map[string][]byte{"selfie": image(1, 300)}
	a, b := decided("d1", "erase-a", t0, imgs), decided("d1", "erase-b", t0, imgs)
	upload(t, s, a, imgs)
	upload(t, s, b, imgs)
	e := central.Erasure{ID: "er-1", Status: central.ErasureQueued, Actor: "admin:ops", RequestedAt: t0, Tokens: [][]byte{[]byte("tok-1"), []byte("tok-2")}}
	if err := s.AddErasure(ctx, e, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddErasure(ctx, e, false); !errors.Is(err, central.ErrConflict) {
		t.Errorf("the same erasure again = %v, want ErrConflict", err)
	}
	older := central.Erasure{ID: "er-0", Status: central.ErasureQueued, Actor: "admin:ops", RequestedAt: t0.Add(-time.Hour), DeviceID: "d1", SubmissionKey: b.Key}
	if err := s.AddErasure(ctx, older, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erasure(ctx, "er-none"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("an unknown erasure = %v, want ErrNotFound", err)
	}
	for run := 1; run <= 2; run++ {
		got, err := s.StartErasure(ctx, "er-1")
		if err != nil || got.Status != central.ErasureRunning || got.Attempts != run || len(got.Tokens) != 2 || string(got.Tokens[1]) != "tok-2" {
			t.Fatalf("run %d: StartErasure = %+v, %v", run, got, err)
		}
	}
	if err := s.EraseSubmission(ctx, "er-1", central.SubmissionRef{DeviceID: "d1", Key: a.Key}); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseSubmission(ctx, "er-1", central.SubmissionRef{DeviceID: "d1", Key: a.Key}); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("erasing a submission gone = %v, want ErrNotFound", err)
	}
	if _, err := s.Upload(ctx, "d1", a.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the erased submission is still stored: %v", err)
	}
	if es, err := s.Erasures(ctx, true, 10); err != nil || len(es) != 2 || es[0].ID != "er-1" || es[0].Erased != 1 || es[1].ID != "er-0" {
		t.Errorf("unfinished erasures, newest first = %+v, %v", es, err)
	}
	at := t0.Add(time.Minute)
	ev := central.AuditEvent{ID: "er-1", At: at, Actor: "admin:ops", Action: central.AuditErasure}
	done, ended, err := s.FinishErasure(ctx, "er-1", central.ErasureDone, at, "", ev)
	if err != nil || !ended || done.Status != central.ErasureDone || done.Erased != 1 || !done.FinishedAt.Equal(at) || done.Tokens != nil {
		t.Fatalf("FinishErasure = %+v, %v, %v", done, ended, err)
	}
	if _, ended, err := s.FinishErasure(ctx, "er-1", central.ErasureFailed, at.Add(time.Minute), "late", ev); err != nil || ended {
		t.Errorf("ending it again = %v, %v; want unchanged", ended, err)
	}
	if got, err := s.StartErasure(ctx, "er-1"); err != nil || got.Status != central.ErasureDone || got.Attempts != 2 {
		t.Errorf("a run after the end = %+v, %v; want it untouched", got, err)
	}
	got, err := s.Erasure(ctx, "er-1")
	if err != nil || got.Status != central.ErasureDone || got.Erased != 1 || got.Actor != "admin:ops" || !got.RequestedAt.Equal(t0) || got.Tokens != nil {
		t.Errorf("the record after its end = %+v, %v", got, err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{Action: central.AuditErasure})
	if err != nil || len(evs) != 1 || evs[0].Count != 1 || evs[0].ID != "er-1" {
		t.Errorf("erasure audit = %+v, %v; want one event counting 1", evs, err)
	}
	if es, err := s.Erasures(ctx, true, 10); err != nil || len(es) != 1 || es[0].ID != "er-0" || es[0].DeviceID != "d1" || es[0].SubmissionKey != b.Key {
		t.Errorf("unfinished erasures after one ended = %+v, %v", es, err)
	}
	if es, err := s.Erasures(ctx, false, 10); err != nil || len(es) != 2 {
		t.Errorf("all erasures = %d, %v", len(es), err)
	}
	// Retention: the ended record goes after its period, the unfinished one
	// stays whatever its age.
	if n, err := s.Expire(ctx, central.ExpireErasures, at, at, 10); err != nil || n != 0 {
		t.Errorf("expiring erasures ended before their end = %d, %v; want 0", n, err)
	}
	if n, err := s.Expire(ctx, central.ExpireErasures, at.Add(time.Second), at, 10); err != nil || n != 1 {
		t.Errorf("expiring erasures = %d, %v; want the ended one", n, err)
	}
	if _, err := s.Erasure(ctx, "er-1"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("the expired erasure record: %v", err)
	}
	if es, err := s.Erasures(ctx, false, 10); err != nil || len(es) != 1 || es[0].ID != "er-0" {
		t.Errorf("erasures after retention = %+v, %v", es, err)
	}
}

func testExpireImages(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := t0.Add(40 * 24 * time.Hour)
	imgs := map[string][]byte{"selfie": image(1, 300)}
	old := decided("d1", "old", t0, imgs)
	young := decided("d1", "young", t0.Add(35*24*time.Hour), imgs)
	plain := decided("d1", "no-images", t0, nil)
	open := decided("d2", "unfinished", t0, imgs) // its upload never finished
	upload(t, s, old, imgs)
	upload(t, s, young, imgs)
	upload(t, s, plain, nil)
	if _, _, err := s.BeginSubmission(ctx, open); err != nil {
		t.Fatal(err)
	}
	if _, err := appendChunk(t, s, open, "selfie", 0, imgs["selfie"][:100]); err != nil {
		t.Fatal(err)
	}
	cutoff := at.Add(-30 * 24 * time.Hour)
	n, err := s.Expire(ctx, central.ExpireImages, cutoff, at, 100)
	if err != nil || n != 2 {
		t.Fatalf("Expire(images) = %d, %v; want the 2 older submissions with images", n, err)
	}
	if n, err := s.Expire(ctx, central.ExpireImages, cutoff, at, 100); err != nil || n != 0 {
		t.Errorf("Expire(images) again = %d, %v; want 0", n, err)
	}
	for _, sub := range []central.Submission{old, open} {
		got, err := s.Upload(ctx, sub.DeviceID, sub.Key)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Images) != 0 || !got.ImagesErasedAt.Equal(at) || got.CompletedAt.IsZero() {
			t.Errorf("%s after expiry: images %+v, erased at %v, completed %v; want none, %v, closed", sub.ID, got.Images, got.ImagesErasedAt, got.CompletedAt, at)
		}
		if !bytes.Equal(got.Payload, sub.Payload) || !bytes.Equal(got.Decision, sub.Decision) {
			t.Errorf("%s: expiring images changed the payload or decision: %s / %s", sub.ID, got.Payload, got.Decision)
		}
		if data, err := s.ImageData(ctx, sub.DeviceID, sub.Key, "selfie"); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("%s: expired image = %d bytes, %v; want ErrNotFound", sub.ID, len(data), err)
		}
		// The device sending it again learns it is complete and stops.
		if st, created, err := s.BeginSubmission(ctx, sub); err != nil || created || !st.Complete {
			t.Errorf("%s sent again after expiry = %+v, created %v, %v; want complete", sub.ID, st, created, err)
		}
	}
	if got, err := s.ImageData(ctx, "d1", young.Key, "selfie"); err != nil || !bytes.Equal(got, imgs["selfie"]) {
		t.Errorf("a submission within its retention lost its image: %d bytes, %v", len(got), err)
	}
}

func testExpireFieldsAndDecision(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := t0.Add(400 * 24 * time.Hour)
	imgs := map[string][]byte{"selfie": image(3, 200)}
	old := decided("d1", "old", t0, imgs)
	young := decided("d1", "young", at.Add(-time.Hour), imgs)
	upload(t, s, old, imgs)
	upload(t, s, young, imgs)
	cutoff := at.Add(-365 * 24 * time.Hour)
	if n, err := s.Expire(ctx, central.ExpireFields, cutoff, at, 100); err != nil || n != 1 {
		t.Fatalf("Expire(fields) = %d, %v; want 1", n, err)
	}
	got, err := s.Upload(ctx, "d1", old.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Payload != nil || !got.FieldsErasedAt.Equal(at) || string(got.Decision) != `{"decision":"approve"}` || got.ID != "old" {
		t.Errorf("after the fields expired: payload %q, erased at %v, decision %s, id %q; want no payload, the decision kept", got.Payload, got.FieldsErasedAt, got.Decision, got.ID)
	}
	if data, err := s.ImageData(ctx, "d1", old.Key, "selfie"); err != nil || !bytes.Equal(data, imgs["selfie"]) {
		t.Errorf("expiring fields touched the images: %d bytes, %v", len(data), err)
	}
	if got, err := s.Upload(ctx, "d1", young.Key); err != nil || !bytes.Equal(got.Payload, young.Payload) {
		t.Errorf("a submission within its retention lost its payload: %v", err)
	}
	if n, err := s.Expire(ctx, central.ExpireDecision, cutoff, at, 100); err != nil || n != 1 {
		t.Fatalf("Expire(decision) = %d, %v; want 1", n, err)
	}
	if _, err := s.Upload(ctx, "d1", old.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("submission past its decision retention = %v, want ErrNotFound", err)
	}
	subs, err := s.Submissions(ctx, central.Filter{})
	if err != nil || len(subs) != 1 || subs[0].ID != "young" {
		t.Errorf("Submissions = %+v, %v; want young only", subs, err)
	}
	if _, err := s.Expire(ctx, central.ExpireAudit, cutoff, at, 100); err == nil {
		t.Error("Expire accepted the audit trail, which DeleteAuditBefore expires")
	}
}

func testExpireBatches(t *testing.T, s central.Store) {
	ctx := context.Background()
	for i := range 5 {
		upload(t, s, decided("d1", fmt.Sprint("s", i), t0.Add(time.Duration(i)*time.Minute), nil), nil)
	}
	var got []int
	for {
		n, err := s.Expire(ctx, central.ExpireDecision, t0.Add(time.Hour), t0.Add(time.Hour), 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < 2 {
			break
		}
	}
	if fmt.Sprint(got) != "[2 2 1]" {
		t.Errorf("batches of 2 over 5 due = %v, want [2 2 1]", got)
	}
}

func testRetentionPolicy(t *testing.T, s central.Store) {
	ctx := context.Background()
	p, err := s.Retention(ctx)
	if err != nil || p != (central.RetentionPolicy{}) {
		t.Errorf("Retention before any = %+v, %v; want the zero policy", p, err)
	}
	want := central.RetentionPolicy{ImagesDays: 30, FieldsDays: 365, DecisionDays: 3650, AuditDays: 3650}
	for range 2 {
		if err := s.PutRetention(ctx, want); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s.Retention(ctx); err != nil || p != want {
		t.Errorf("Retention = %+v, %v; want %+v", p, err, want)
	}
}

func testAudit(t *testing.T, s central.Store) {
	ctx := context.Background()
	evs := []central.AuditEvent{
		{ID: "e1", At: t0, Actor: "admin:x", Action: "erasure", Count: 2, Refs: []string{"r1"}},
		{ID: "e2", At: t0.Add(time.Hour), Actor: "retention", Action: "retention_sweep", Count: 10},
		{ID: "e3", At: t0.Add(2 * time.Hour), Actor: "admin:x", Action: "erasure", Count: 0},
	}
	for _, e := range evs {
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(f central.AuditFilter) string {
		t.Helper()
		got, err := s.Audit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.ID)
		}
		return fmt.Sprint(out)
	}
	cases := []struct {
		name string
		f    central.AuditFilter
		want string
	}{
		{"all", central.AuditFilter{}, "[e1 e2 e3]"},
		{"action", central.AuditFilter{Action: "erasure"}, "[e1 e3]"},
		{"after", central.AuditFilter{After: t0.Add(time.Hour)}, "[e2 e3]"},
		{"before", central.AuditFilter{Before: t0.Add(time.Hour)}, "[e1]"},
		{"limit", central.AuditFilter{Limit: 2}, "[e1 e2]"},
	}
	for _, c := range cases {
		if got := ids(c.f); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	got, err := s.Audit(ctx, central.AuditFilter{Limit: 1})
	if err != nil || len(got) != 1 || !got[0].At.Equal(t0) || got[0].Actor != "admin:x" || got[0].Count != 2 || !slices.Equal(got[0].Refs, []string{"r1"}) {
		t.Errorf("first event = %+v, %v", got, err)
	}
	if n, err := s.DeleteAuditBefore(ctx, t0.Add(90*time.Minute)); err != nil || n != 2 {
		t.Errorf("DeleteAuditBefore = %d, %v; want 2", n, err)
	}
	if got := ids(central.AuditFilter{}); got != "[e3]" {
		t.Errorf("after expiry: %s, want [e3]", got)
	}
}

// RunStorage checks what a store owes seal.Store: it keeps a submission's
// Seal (wrapped data key and index tokens) and Decision as given, selects
// by index tokens, rewraps keys in place, and counts sealed image bytes by
// Chunk.Len. Run it on the plain stores; seal.Store rewrites these fields.
func RunStorage(t *testing.T, open func(t *testing.T) central.Store) {
	runAll(t, open, []storeTest{
		{"SealKept", testSealKept},
		{"TokenFilter", testTokenFilter},
		{"Rewrap", testRewrap},
		{"ChunkLen", testChunkLen},
		{"QueueTokens", testQueueTokens},
		{"TokensExpireWithFields", testTokensExpireWithFields},
	})
}

func sealed(sub central.Submission, keyID string, tokens ...string) central.Submission {
	sub.Seal = &central.Seal{KeyID: keyID, Key: []byte("wrapped:" + sub.ID)}
	for _, tok := range tokens {
		sub.Seal.Tokens = append(sub.Seal.Tokens, []byte(tok))
	}
	return sub
}

func testSealKept(t *testing.T, s central.Store) {
	ctx := context.Background()
	sub := sealed(decided("d1", "s1", t0, nil), "kek-1", "token-a", "token-b")
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	got, err := s.Upload(ctx, "d1", sub.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seal == nil || got.Seal.KeyID != "kek-1" || string(got.Seal.Key) != "wrapped:s1" || string(got.Decision) != `{"decision":"approve"}` {
		t.Fatalf("Upload = seal %+v, decision %s", got.Seal, got.Decision)
	}
	var toks []string
	for _, tok := range got.Seal.Tokens {
		toks = append(toks, string(tok))
	}
	slices.Sort(toks)
	if fmt.Sprint(toks) != "[token-a token-b]" {
		t.Errorf("tokens = %v", toks)
	}
	plain := decided("d1", "s2", t0, nil)
	if _, _, err := s.BeginSubmission(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Upload(ctx, "d1", plain.Key); err != nil || got.Seal != nil {
		t.Errorf("a submission stored without a seal reads back with %+v, %v", got.Seal, err)
	}
}

func testTokenFilter(t *testing.T, s central.Store) {
	ctx := context.Background()
	for _, sub := range []central.Submission{
		sealed(decided("d1", "a", t0, nil), "k", "nik-1", "name-1"),
		sealed(decided("d2", "b", t0.Add(time.Minute), nil), "k", "nik-1"),
		sealed(decided("d1", "c", t0.Add(2*time.Minute), nil), "k", "name-1"),
		decided("d1", "plain", t0.Add(3*time.Minute), nil),
	} {
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		f    central.Filter
		want string
	}{
		{"one token", central.Filter{Tokens: [][]byte{[]byte("nik-1")}}, "[a b]"},
		{"every token", central.Filter{Tokens: [][]byte{[]byte("nik-1"), []byte("name-1")}}, "[a]"},
		{"with device", central.Filter{Tokens: [][]byte{[]byte("name-1")}, DeviceID: "d1"}, "[a c]"},
		{"unknown token", central.Filter{Tokens: [][]byte{[]byte("nik-2")}}, "[]"},
		{"limit", central.Filter{Tokens: [][]byte{[]byte("nik-1")}, Limit: 1}, "[a]"},
	}
	for _, c := range cases {
		subs, err := s.Submissions(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, sub := range subs {
			ids = append(ids, sub.ID)
		}
		if fmt.Sprint(ids) != c.want {
			t.Errorf("%s: %v, want %s", c.name, ids, c.want)
		}
	}
	if err := s.DeleteSubmission(ctx, "d1", protocol.SubmissionKey("a")); err != nil {
		t.Fatal(err)
	}
	subs, err := s.Submissions(ctx, central.Filter{Tokens: [][]byte{[]byte("nik-1")}})
	if err != nil || len(subs) != 1 || subs[0].ID != "b" {
		t.Errorf("after erasing a, its token still finds %+v, %v", subs, err)
	}
}

func testRewrap(t *testing.T, s central.Store) {
	ctx := context.Background()
	for i := range 5 {
		if _, _, err := s.BeginSubmission(ctx, sealed(decided("d1", fmt.Sprint("old-", i), t0, nil), "k1")); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []central.Submission{sealed(decided("d1", "new", t0, nil), "k2"), decided("d1", "plain", t0, nil)} {
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	usage, err := s.KeyUsage(ctx)
	if err != nil || fmt.Sprint(usage) != "map[:1 k1:5 k2:1]" {
		t.Errorf("KeyUsage = %v, %v", usage, err)
	}
	first, err := s.StaleKeys(ctx, "k2", central.SubmissionRef{}, 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("StaleKeys page 1 = %+v, %v", first, err)
	}
	rest, err := s.StaleKeys(ctx, "k2", first[1].SubmissionRef, 10)
	if err != nil || len(rest) != 3 {
		t.Fatalf("StaleKeys page 2 = %+v, %v", rest, err)
	}
	all := append(first, rest...)
	if !slices.IsSortedFunc(all, func(a, b central.WrappedKey) int {
		return cmpRef(a.SubmissionRef, b.SubmissionRef)
	}) {
		t.Errorf("StaleKeys not in (device, key) order: %+v", all)
	}
	for _, w := range all {
		if w.KeyID != "k1" || !bytes.HasPrefix(w.Wrapped, []byte("wrapped:old-")) {
			t.Errorf("stale key %+v", w)
		}
	}
	w := all[0]
	stolen := w
	stolen.Wrapped = []byte("not what is stored")
	if n, err := s.Rewrap(ctx, []central.Rewrapping{{Old: stolen, KeyID: "k2", Wrapped: []byte("x")}}); n != 0 || err != nil {
		t.Errorf("Rewrap from a key not stored = %d, %v; want 0", n, err)
	}
	var rs []central.Rewrapping
	for _, w := range all {
		rs = append(rs, central.Rewrapping{Old: w, KeyID: "k2", Wrapped: []byte("rewrapped")})
	}
	if n, err := s.Rewrap(ctx, rs); n != 5 || err != nil {
		t.Fatalf("Rewrap = %d, %v; want 5", n, err)
	}
	if n, err := s.Rewrap(ctx, rs[:1]); n != 0 || err != nil {
		t.Errorf("Rewrap of a key already rewrapped = %d, %v; want 0", n, err)
	}
	if stale, err := s.StaleKeys(ctx, "k2", central.SubmissionRef{}, 10); err != nil || len(stale) != 0 {
		t.Errorf("StaleKeys after rewrapping = %+v, %v", stale, err)
	}
	got, err := s.Upload(ctx, w.DeviceID, w.Key)
	if err != nil || got.Seal.KeyID != "k2" || string(got.Seal.Key) != "rewrapped" {
		t.Errorf("rewrapped submission = %+v, %v", got.Seal, err)
	}
	if err := s.DeleteSubmission(ctx, w.DeviceID, w.Key); err != nil {
		t.Fatal(err)
	}
	gone := central.WrappedKey{SubmissionRef: w.SubmissionRef, KeyID: "k2", Wrapped: []byte("rewrapped")}
	if n, err := s.Rewrap(ctx, []central.Rewrapping{{Old: gone, KeyID: "k3", Wrapped: []byte("y")}}); n != 0 || err != nil {
		t.Errorf("Rewrap of an erased submission = %d, %v; want 0", n, err)
	}
	if usage, err := s.KeyUsage(ctx); err != nil || fmt.Sprint(usage) != "map[:1 k2:5]" {
		t.Errorf("KeyUsage after = %v, %v", usage, err)
	}
}

func cmpRef(a, b central.SubmissionRef) int {
	return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.Key, b.Key))
}

func testChunkLen(t *testing.T, s central.Store) {
	ctx := context.Background()
	img := image(4, 100)
	sub := sealed(decided("d1", "len", t0, map[string][]byte{"selfie": img}), "k")
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	// Stored forms longer than the bytes they stand for: 60 image bytes
	// as 80 stored, then 40 as 50.
	c := central.Chunk{DeviceID: "d1", Key: sub.Key, Image: "selfie", Data: bytes.Repeat([]byte{'a'}, 80), Len: 60, At: t0}
	if st, err := s.AppendChunk(ctx, c); err != nil || st.Received["selfie"] != 60 {
		t.Fatalf("first chunk = %+v, %v", st, err)
	}
	c.Offset, c.Data, c.Len = 60, bytes.Repeat([]byte{'b'}, 50), 50
	if _, err := s.AppendChunk(ctx, c); !errors.Is(err, central.ErrOffset) {
		t.Errorf("a chunk standing for bytes past the image's end = %v, want ErrOffset", err)
	}
	c.Len = 40
	st, err := s.AppendChunk(ctx, c)
	if err != nil || !st.Complete || st.Received["selfie"] != 100 {
		t.Fatalf("last chunk = %+v, %v", st, err)
	}
	data, err := s.ImageData(ctx, "d1", sub.Key, "selfie")
	if err != nil || len(data) != 130 || data[0] != 'a' || data[129] != 'b' {
		t.Errorf("ImageData = %d stored bytes, %v; want the 130 stored, in order", len(data), err)
	}
}

// testTokensExpireWithFields: the index tokens are pseudonymised fields,
// so they go when the fields expire: the submission is no longer found by
// them (listing, review queue), while its data key and decision stay.
func testTokensExpireWithFields(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := t0.Add(400 * 24 * time.Hour)
	old := sealed(decided("d1", "old", t0, nil), "k", "nik-1", "name-1")
	young := sealed(decided("d1", "young", at.Add(-time.Hour), nil), "k", "nik-1")
	for _, sub := range []central.Submission{old, young} {
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Expire(ctx, central.ExpireFields, at.Add(-365*24*time.Hour), at, 100); err != nil || n != 1 {
		t.Fatalf("Expire(fields) = %d, %v; want 1", n, err)
	}
	for _, tok := range []string{"nik-1", "name-1"} {
		f := central.Filter{Tokens: [][]byte{[]byte(tok)}}
		subs, err := s.Submissions(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		cases, _, err := s.Queue(ctx, central.QueueFilter{Tokens: f.Tokens})
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range subs {
			if sub.ID == "old" {
				t.Errorf("token %s still lists the submission whose fields expired", tok)
			}
		}
		for _, c := range cases {
			if c.ID == "old" {
				t.Errorf("token %s still finds the case whose fields expired", tok)
			}
		}
	}
	if subs, err := s.Submissions(ctx, central.Filter{Tokens: [][]byte{[]byte("nik-1")}}); err != nil || len(subs) != 1 || subs[0].ID != "young" {
		t.Errorf("a submission within its fields retention is not found by its token: %+v, %v", subs, err)
	}
	got, err := s.Upload(ctx, "d1", old.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seal == nil || len(got.Seal.Tokens) != 0 || string(got.Seal.Key) != "wrapped:old" || string(got.Decision) != `{"decision":"approve"}` {
		t.Errorf("after the fields expired: seal %+v, decision %s; want no tokens, the key and decision kept", got.Seal, got.Decision)
	}
}
