package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/protocol"
)

// Sealed returns an open function for Run that wraps each plain store open
// returns in seal.Store with a fresh keyring: the whole conformance suite
// then runs encrypted.
func Sealed(open func(t *testing.T) central.Store) func(t *testing.T) central.Store {
	return func(t *testing.T) central.Store {
		kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
		if err != nil {
			t.Fatal(err)
		}
		return seal.New(open(t), kr, kr)
	}
}

// sealedEnv is a plain store, the same store sealed, and the keyring.
type sealedEnv struct {
	raw     central.Store
	s       *seal.Store
	kr      *seal.FileKeyring
	keyring string // its file
}

// uploadSealed uploads sub with images through the sealed store and
// returns the submission as the plain store under it holds it.
func (e sealedEnv) uploadSealed(t *testing.T, sub central.Submission, images map[string][]byte) central.Submission {
	t.Helper()
	upload(t, e.s, sub, images)
	raw, err := e.raw.Upload(context.Background(), sub.DeviceID, sub.Key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// RunSealed checks seal.Store over a plain store from open: what reaches
// the store is ciphertext and tokens, search works by NIK, document number
// and name, ciphertext moved between rows does not open, rotation rewraps
// without touching images, and erasure with rotation leaves nothing a
// backup could open.
func RunSealed(t *testing.T, open func(t *testing.T) central.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e sealedEnv)
	}{
		{"AtRest", testSealedAtRest},
		{"Search", testSealedSearch},
		{"MovedCiphertext", testSealedMoved},
		{"Rotation", testSealedRotation},
		{"RotationKeepsNeededKeys", testRotationKeepsNeededKeys},
		{"ErasureShreds", testErasureShreds},
		{"PlainRowsReadThrough", testPlainRowsReadThrough},
		{"Queue", testSealedQueue},
		{"UserReference", testSealedUser},
		{"ForeignKeysWithoutSubmissions", testForeignKeysWithoutSubmissions},
		{"KeyCheckForOldStore", testKeyCheckForOldStore},
		{"OldStoreSessionsOnly", testOldStoreSessionsOnly},
		{"KeyCheckListsKEKs", testKeyCheckListsKEKs},
		{"KeyCheckStale", testKeyCheckStale},
		{"KeyCheckOlderKeyring", testKeyCheckOlderKeyring},
		{"KeyCheckRepair", testKeyCheckRepair},
		{"KeyCheckOldReleaseOldKeyring", testKeyCheckOldReleaseOldKeyring},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := open(t)
			t.Cleanup(func() {
				if err := raw.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			path := filepath.Join(t.TempDir(), "central.keys")
			kr, err := seal.LoadOrCreateKeyring(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.fn(t, sealedEnv{raw: raw, s: seal.New(raw, kr, kr), kr: kr, keyring: path})
		})
	}
}

// Person A of the sealed tests, as the app's payload carries a KTP
// holder: the NIK in three places, the name in two, and reason details
// that quote the name.
const (
	nikA  = "3174096112900001"
	nameA = "SITI NURHALIZA"
)

func appPayload(nik, name string) json.RawMessage {
	p := map[string]any{
		"session_id": "sess-1", "attempt": 1, "doc_type": "ktp", "country": "IDN", "app_version": "1.0",
		"report": map[string]any{
			"decision": "approve", "score": 0.125,
			"reasons": []map[string]string{{"code": "face_match_ok", "detail": "selfie matches " + name}},
			"document": map[string]any{
				"type": "ktp",
				"fields": map[string]any{
					"nik":  map[string]any{"value": nik, "source": "visual"},
					"name": map[string]any{"value": name, "source": "visual"},
				},
				"nik": map[string]any{"number": nik, "valid": true},
			},
			"screening": map[string]any{"screened": true, "name": name},
		},
		"attestation": map[string]any{"device_id": "d1", "report": map[string]any{"verdict": "ok"}},
	}
	b, _ := json.Marshal(p)
	return b
}

// sealedSubmission is a submission of person (nik, name) with two images.
func sealedSubmission(dev, id, nik, name string) (central.Submission, map[string][]byte) {
	imgs := map[string][]byte{"selfie": jpegLike(1, 3000), "document": jpegLike(2, 5000)}
	sub := submission(dev, id, t0, imgs)
	sub.Payload = appPayload(nik, name)
	sub.Decision = nil
	for i := range sub.Images {
		sub.Images[i].Key = bytes.Repeat([]byte{byte(i + 7)}, 32)
	}
	return sub, imgs
}

// jpegLike is image bytes that start like a JPEG file (FF D8 FF E0).
func jpegLike(seed byte, n int) []byte {
	b := image(seed, n)
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0})
	return b
}

// leaks reports which of the needles haystack holds, raw, in hex or in
// base64 (the forms stores and JSON records keep bytes in).
func leaks(haystack []byte, needles map[string][]byte) []string {
	var out []string
	lower := bytes.ToLower(haystack)
	for name, n := range needles {
		forms := [][]byte{n, bytes.ToLower(n), []byte(hex.EncodeToString(n))}
		for _, f := range forms {
			if len(f) > 0 && bytes.Contains(lower, bytes.ToLower(f)) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

func testSealedAtRest(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	sub, imgs := sealedSubmission("d1", "sub-at-rest", nikA, nameA)
	raw := e.uploadSealed(t, sub, imgs)
	needles := map[string][]byte{"nik": []byte(nikA), "name": []byte("NURHALIZA"), "id": []byte(sub.ID), "decision": []byte("approve"),
		"jpeg": imgs["selfie"][:11], "content key": sub.Images[0].Key}
	for _, im := range sub.Images {
		needles["sha256 "+im.Name] = im.SHA256
	}
	var stored [][]byte
	stored = append(stored, raw.Payload, raw.Decision, []byte(raw.ID))
	for _, im := range raw.Images {
		stored = append(stored, im.Key, im.SHA256)
		data, err := e.raw.ImageData(ctx, "d1", sub.Key, im.Name)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, data)
		if bytes.Contains(data, imgs[im.Name][100:132]) {
			t.Errorf("stored image %s holds its plaintext", im.Name)
		}
	}
	stored = append(stored, raw.Seal.Tokens...)
	all := bytes.Join(stored, []byte{0})
	if l := leaks(all, needles); len(l) > 0 {
		t.Errorf("the plain store holds in clear: %v", l)
	}
	if raw.Seal == nil || raw.Seal.KeyID == "" || len(raw.Seal.Key) < 32 || len(raw.Seal.Tokens) < 3 {
		t.Errorf("stored seal = %+v; want a wrapped key and index tokens", raw.Seal)
	}
	// Through the sealed store everything reads back as sent.
	got, err := e.s.Upload(ctx, "d1", sub.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != sub.ID || !bytes.Equal(got.Payload, sub.Payload) || len(got.Images) != 2 {
		t.Fatalf("Upload = %+v", got)
	}
	for i, im := range got.Images {
		if !bytes.Equal(im.Key, sub.Images[i].Key) || !bytes.Equal(im.SHA256, sub.Images[i].SHA256) {
			t.Errorf("image %s meta = %+v, want %+v", im.Name, im.ImageMeta, sub.Images[i].ImageMeta)
		}
		data, err := e.s.ImageData(ctx, "d1", sub.Key, im.Name)
		if sum := sha256.Sum256(data); err != nil || !bytes.Equal(sum[:], sub.Images[i].SHA256) {
			t.Errorf("ImageData(%s) = %d bytes, %v; want the bytes sent", im.Name, len(data), err)
		}
	}
	var dec map[string]any
	if err := json.Unmarshal(got.Decision, &dec); err != nil {
		t.Fatalf("decision %s: %v", got.Decision, err)
	}
	rep, _ := dec["report"].(map[string]any)
	if rep["decision"] != "approve" || dec["session_id"] != "sess-1" || leaks(got.Decision, map[string][]byte{"name": []byte("NURHALIZA"), "nik": []byte(nikA)}) != nil {
		t.Errorf("decision = %s; want the decision and codes without the person's data", got.Decision)
	}
	list, err := e.s.Submissions(ctx, central.Filter{})
	if err != nil || len(list) != 1 || list[0].ID != sub.ID {
		t.Errorf("Submissions = %+v, %v", list, err)
	}
}

func testSealedSearch(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	a, imgs := sealedSubmission("d1", "a", nikA, nameA)
	b, _ := sealedSubmission("d2", "b", "3201015505850002", "BUDI SANTOSO")
	upload(t, e.s, a, imgs)
	upload(t, e.s, b, imgs)
	cases := []struct {
		kind  central.IdentifierKind
		value string
		want  string
	}{
		{central.IdentNIK, nikA, "a"},
		{central.IdentNIK, "3174 0961 1290 0001", "a"},
		{central.IdentDocumentNumber, "3174-096112-900001", "a"}, // a KTP's NIK is its number
		{central.IdentName, "siti nurhaliza", "a"},
		{central.IdentName, "Nurhaliza, Sití", "a"},
		{central.IdentName, "NURHALIZA<<SITI", "a"},
		{central.IdentName, "Budi  Santoso", "b"},
		{central.IdentName, "Siti", ""},
		{central.IdentNIK, "3174096112900009", ""},
	}
	for _, c := range cases {
		tok, ok := e.s.Token(c.kind, c.value)
		if !ok {
			t.Fatalf("Token(%s, %q) = false", c.kind, c.value)
		}
		subs, err := e.s.Submissions(ctx, central.Filter{Tokens: [][]byte{tok}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range subs {
			ids = append(ids, s.ID)
		}
		if strings.Join(ids, ",") != c.want {
			t.Errorf("search %s %q = %v, want %q", c.kind, c.value, ids, c.want)
		}
	}
	if _, ok := e.s.Token(central.IdentNIK, "no digits"); ok {
		t.Error("a NIK without digits made a token")
	}
}

// testSealedMoved copies a sealed row under another submission's key, as
// someone with write access to the database might: it must not open.
func testSealedMoved(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	a, imgs := sealedSubmission("d1", "a", nikA, nameA)
	raw := e.uploadSealed(t, a, imgs)
	moved := raw
	moved.Key = protocol.SubmissionKey("moved")
	moved.CompletedAt = time.Time{}
	if _, _, err := e.raw.BeginSubmission(ctx, moved); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Upload(ctx, "d1", moved.Key)
	if err == nil || errors.Is(err, central.ErrNotFound) || bytes.Contains(got.Payload, []byte(nikA)) {
		t.Errorf("a sealed row moved to another key opened: %v (payload %q)", err, got.Payload)
	}
	if _, err := e.s.ImageData(ctx, "d1", moved.Key, "selfie"); err == nil {
		t.Error("a moved row's image opened")
	}
}

func testSealedRotation(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	type stored struct {
		sub    central.Submission
		raw    central.Submission
		images map[string][]byte // stored form
	}
	var before []stored
	for _, id := range []string{"r1", "r2", "r3"} {
		sub, imgs := sealedSubmission("d1", id, nikA, nameA)
		st := stored{sub: sub, raw: e.uploadSealed(t, sub, imgs), images: map[string][]byte{}}
		for name := range imgs {
			var err error
			if st.images[name], err = e.raw.ImageData(ctx, "d1", sub.Key, name); err != nil {
				t.Fatal(err)
			}
		}
		before = append(before, st)
	}
	oldIDs, oldCurrent, err := e.kr.KeyIDs()
	if err != nil || len(oldIDs) != 1 {
		t.Fatal(oldIDs, err)
	}
	// Another central instance reading the same keyring file.
	other, err := seal.LoadOrCreateKeyring(e.keyring)
	if err != nil {
		t.Fatal(err)
	}
	res, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rewrapped != 3 || res.KeyID == oldCurrent || len(res.Retired) != 1 || res.Retired[0] != oldCurrent {
		t.Errorf("Rotate = %+v; want 3 rewrapped under a new KEK, %s retired", res, oldCurrent)
	}
	if usage, err := e.raw.KeyUsage(ctx); err != nil || len(usage) != 1 || usage[res.KeyID] != 3 {
		t.Errorf("KeyUsage after rotation = %v, %v", usage, err)
	}
	fresh := seal.New(e.raw, other, other) // no cached data keys: unwraps under the new KEK
	for _, b := range before {
		raw, err := e.raw.Upload(ctx, "d1", b.sub.Key)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(raw.Seal.Key, b.raw.Seal.Key) || !bytes.Equal(raw.Payload, b.raw.Payload) {
			t.Errorf("%s: rotation must rewrap the data key and leave the payload's ciphertext", b.sub.ID)
		}
		for name, data := range b.images {
			now, err := e.raw.ImageData(ctx, "d1", b.sub.Key, name)
			if err != nil || !bytes.Equal(now, data) {
				t.Errorf("%s/%s: rotation re-encrypted the image", b.sub.ID, name)
			}
		}
		got, err := fresh.Upload(ctx, "d1", b.sub.Key)
		if err != nil || !bytes.Equal(got.Payload, b.sub.Payload) {
			t.Errorf("%s after rotation through another instance: %v", b.sub.ID, err)
		}
		// A copy of the old wrapped key (a backup) no longer opens.
		if _, err := other.Unwrap(ctx, b.raw.Seal.KeyID, b.raw.Seal.Key, nil); !errors.Is(err, seal.ErrUnknownKey) {
			t.Errorf("the retired KEK still unwraps an old copy: %v", err)
		}
	}
	// New submissions are wrapped under the new KEK, by either instance.
	sub, imgs := sealedSubmission("d1", "after", nikA, nameA)
	upload(t, fresh, sub, imgs)
	if raw, err := e.raw.Upload(ctx, "d1", sub.Key); err != nil || raw.Seal.KeyID != res.KeyID {
		t.Errorf("a submission after rotation is wrapped by %v (%v), want %s", raw.Seal, err, res.KeyID)
	}
}

// testRotationKeepsNeededKeys: a data key rotation cannot rewrap (its KEK
// is not in this keyring) stops the rotation before any KEK is retired.
func testRotationKeepsNeededKeys(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	stranger, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "other.keys"))
	if err != nil {
		t.Fatal(err)
	}
	mine, imgs := sealedSubmission("d1", "mine", nikA, nameA)
	upload(t, e.s, mine, imgs)
	theirs, _ := sealedSubmission("d1", "theirs", nikA, nameA)
	upload(t, seal.New(e.raw, stranger, stranger), theirs, imgs)
	ids, old, err := e.kr.KeyIDs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{}); err == nil {
		t.Fatal("Rotate succeeded with a data key it cannot unwrap")
	}
	after, _, err := e.kr.KeyIDs()
	if err != nil || len(after) != len(ids)+1 || after[0] != old {
		t.Errorf("after a failed rotation the keyring holds %v (%v); want the old KEK kept beside the new", after, err)
	}
	if got, err := seal.New(e.raw, e.kr, e.kr).Upload(ctx, "d1", mine.Key); err != nil || !bytes.Equal(got.Payload, mine.Payload) {
		t.Errorf("own submission after a failed rotation: %v", err)
	}
}

func testErasureShreds(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	a, imgs := sealedSubmission("d1", "a", nikA, nameA)
	b, _ := sealedSubmission("d1", "b", "3201015505850002", "BUDI SANTOSO")
	upload(t, e.s, a, imgs)
	upload(t, e.s, b, imgs)
	backup, err := e.raw.Upload(ctx, "d1", a.Key) // what a backup taken now holds
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteSubmission(ctx, "d1", a.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Upload(ctx, "d1", a.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("erased submission = %v, want ErrNotFound", err)
	}
	if _, err := seal.Rotate(ctx, e.raw, e.kr, seal.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Restoring the backup's row (its tombstone swept, as an older
	// backup would not hold it): its data key no longer unwraps.
	if _, err := e.raw.Expire(ctx, central.ExpireErased, backup.ReceivedAt.Add(time.Second), backup.ReceivedAt, 10); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.raw.BeginSubmission(ctx, backup); err != nil {
		t.Fatal(err)
	}
	got, err := seal.New(e.raw, e.kr, e.kr).Upload(ctx, "d1", a.Key)
	if !errors.Is(err, seal.ErrUnknownKey) || got.Payload != nil {
		t.Errorf("a restored copy of an erased submission opened after rotation: %v", err)
	}
	if got, err := e.s.Upload(ctx, "d1", b.Key); err != nil || !bytes.Equal(got.Payload, b.Payload) {
		t.Errorf("the other person's submission after erasure and rotation: %v", err)
	}
}

// testPlainRowsReadThrough: submissions stored before encryption was
// turned on read as they are.
func testPlainRowsReadThrough(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	img := image(9, 400)
	old := submission("d1", "legacy", t0, map[string][]byte{"selfie": img})
	upload(t, e.raw, old, map[string][]byte{"selfie": img})
	got, err := e.s.Upload(ctx, "d1", old.Key)
	if err != nil || got.ID != "legacy" || !bytes.Equal(got.Payload, old.Payload) {
		t.Errorf("legacy Upload = %+v, %v", got, err)
	}
	if data, err := e.s.ImageData(ctx, "d1", old.Key, "selfie"); err != nil || !bytes.Equal(data, img) {
		t.Errorf("legacy ImageData = %d bytes, %v", len(data), err)
	}
}

// testSealedQueue: the console's queue and case work through seal.Store:
// the id is opened, a search by NIK selects by blind-index token, and the
// inner store's cases carry the id sealed and no payload.
func testSealedQueue(t *testing.T, e sealedEnv) {
	ctx := context.Background()
	a, imgs := sealedSubmission("d1", "sub-a", nikA, nameA)
	b, _ := sealedSubmission("d2", "sub-b", "3201015505850002", "BUDI SANTOSO")
	b.ReceivedAt = b.ReceivedAt.Add(time.Minute)
	for _, sub := range []*central.Submission{&a, &b} {
		sum := central.Summarize(sub.Payload)
		sum.Decision = "review"
		sub.Summary = &sum
		upload(t, e.s, *sub, imgs)
	}
	tok, _ := e.s.Token(central.IdentNIK, nikA)
	for _, c := range []struct {
		f    central.QueueFilter
		want string
	}{
		{DefaultQueue, "sub-a,sub-b"},
		{central.QueueFilter{Tokens: [][]byte{tok}}, "sub-a"},
	} {
		got, total, err := e.s.Queue(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, cs := range got {
			ids = append(ids, cs.ID)
			if cs.Seal != nil {
				t.Errorf("case %s leaves seal.Store with its Seal", cs.ID)
			}
		}
		if strings.Join(ids, ",") != c.want || total != len(ids) {
			t.Errorf("Queue(%+v) = %v total %d, want %s", c.f, ids, total, c.want)
		}
	}
	c, err := e.s.Case(ctx, central.SubmissionRef{DeviceID: "d1", Key: a.Key})
	if err != nil || c.ID != "sub-a" || c.Summary.DocType != "ktp" {
		t.Errorf("Case = %+v, %v", c, err)
	}
	got, err := e.s.UpdateReview(ctx, c.Ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
		if c.ID != "sub-a" {
			t.Errorf("fn saw id %q", c.ID)
		}
		return central.Review{State: central.ReviewClaimed, Assignee: "ana"}, central.AuditEvent{ID: "x", At: t0, Action: "case.claim"}, nil
	})
	if err != nil || got.ID != "sub-a" || got.Review.Seq != 1 {
		t.Errorf("UpdateReview = %+v, %v", got, err)
	}
	if chs, err := e.s.ReviewChanges(ctx, "d1", 0, 10); err != nil || len(chs) != 1 || chs[0].ID != "sub-a" || chs[0].Seal != nil {
		t.Errorf("ReviewChanges = %+v, %v", chs, err)
	}
	raw, err := e.raw.Case(ctx, c.Ref)
	if err != nil || raw.ID == "sub-a" || raw.Seal == nil {
		t.Errorf("inner Case: id %q seal %v, %v; want the id sealed", raw.ID, raw.Seal, err)
	}
	if l := leaks([]byte(fmt.Sprintf("%+v", raw)), map[string][]byte{"nik": []byte(nikA), "name": []byte(nameA)}); len(l) > 0 {
		t.Errorf("the inner case holds %v in the clear", l)
	}
}
