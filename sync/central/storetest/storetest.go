// Package storetest is the conformance suite every central.Store
// implementation must pass: the same tests, run against bbolt and against
// PostgreSQL, so the two cannot behave differently.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// Run runs the suite. open returns a fresh, empty store for each subtest;
// the suite closes it.
func Run(t *testing.T, open func(t *testing.T) central.Store) {
	tests := []storeTest{
		{"Enrollment", testEnrollment},
		{"Revocation", testRevocation},
		{"RevokedUploads", testRevokedUploads},
		{"DeviceStatus", testDeviceStatus},
		{"Nonces", testNonces},
		{"SubmissionLifecycle", testSubmissionLifecycle},
		{"SubmissionWithoutImages", testSubmissionWithoutImages},
		{"Conflict", testConflict},
		{"ChunkOffsets", testChunkOffsets},
		{"ImageChunks", testImageChunks},
		{"ImageChunksLarge", testImageChunksLarge},
		{"OpenUploads", testOpenUploads},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"Listing", testListing},
		{"Config", testConfig},
		{"RiskHistory", testRiskHistory},
		{"RiskProposal", testRiskProposal},
		{"RiskProposalAudit", testRiskProposalAudit},
		{"RiskServed", testRiskServed},
		{"ConfigServed", testConfigServed},
		{"Erasure", testErasure},
		{"ErasureRecords", testErasureRecords},
		{"ErasedNotStoredAgain", testErasedNotStoredAgain},
		{"RetentionDeletedNotStoredAgain", testRetentionDeletedNotStoredAgain},
		{"TombstoneAgesFromAttestation", testTombstoneAgesFromAttestation},
		{"ExpireImages", testExpireImages},
		{"ExpireFieldsAndDecision", testExpireFieldsAndDecision},
		{"ExpireBatches", testExpireBatches},
		{"ExpireHeld", testExpireHeld},
		{"ExpireClaimed", testExpireClaimed},
		{"RetentionPolicy", testRetentionPolicy},
		{"Audit", testAudit},
		{"WatchlistStream", testWatchlistStream},
		{"WatchlistProposal", testWatchlistProposal},
		{"WatchlistCreate", testWatchlistCreate},
		{"WatchlistCreateRace", testWatchlistCreateRace},
		{"AttestationClaims", testAttestationClaims},
		{"RouteApproval", testRouteApproval},
		{"KeyCheckSwap", testKeyCheckSwap},
	}
	runAll(t, open, slices.Concat(tests, consoleTests(), partnerTests(), scaleTests(), laneTests()))
}

type storeTest struct {
	name string
	fn   func(t *testing.T, s central.Store)
}

func runAll(t *testing.T, open func(t *testing.T) central.Store, tests []storeTest) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func token(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func device(id string, at time.Time) central.Device {
	return central.Device{ID: id, PublicKey: bytes.Repeat([]byte{byte(len(id))}, 32), AppVersion: "1.0", EnrolledAt: at}
}

func mustEnroll(t *testing.T, s central.Store, id string) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateEnrollToken(ctx, central.EnrollToken{Hash: token("tok-" + id), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enroll(ctx, token("tok-"+id), device(id, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
}

func testEnrollment(t *testing.T, s central.Store) {
	ctx := context.Background()
	if err := s.CreateEnrollToken(ctx, central.EnrollToken{Hash: token("a"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollToken(ctx, central.EnrollToken{Hash: token("b"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		token string
		dev   central.Device
		want  error
	}{
		{"unknown token", "zzz", device("d1", t0), central.ErrTokenInvalid},
		{"expired token", "a", device("d1", t0.Add(time.Hour)), central.ErrTokenInvalid},
		{"valid", "a", device("d1", t0.Add(time.Minute)), nil},
		// Its answer lost, the device asks again: enrolled, unchanged.
		{"the same device again", "a", device("d1", t0.Add(90*time.Second)), nil},
		{"the same device again, the token expired since", "a", device("d1", t0.Add(2*time.Hour)), nil},
		{"the same id with another key", "a", central.Device{ID: "d1", PublicKey: bytes.Repeat([]byte{9}, 32), EnrolledAt: t0.Add(100 * time.Second)}, central.ErrTokenInvalid},
		{"token reused", "a", device("d2", t0.Add(2*time.Minute)), central.ErrTokenInvalid},
		{"device enrolled twice", "b", device("d1", t0.Add(3*time.Minute)), central.ErrDeviceExists},
		{"second device", "b", device("d2", t0.Add(4*time.Minute)), nil},
	}
	for _, c := range cases {
		if err := s.Enroll(ctx, token(c.token), c.dev); !errors.Is(err, c.want) {
			t.Errorf("%s: Enroll = %v, want %v", c.name, err, c.want)
		}
	}
	d, err := s.Device(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.PublicKey, device("d1", t0).PublicKey) || !d.EnrolledAt.Equal(t0.Add(time.Minute)) || d.Revoked() || d.AppVersion != "1.0" {
		t.Errorf("Device(d1) = %+v", d)
	}
	if _, err := s.Device(ctx, "nope"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("Device(nope) = %v, want ErrNotFound", err)
	}
	ds, err := s.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].ID != "d1" || ds[1].ID != "d2" {
		t.Errorf("Devices = %+v, want d1, d2", ds)
	}
}

func testRevocation(t *testing.T, s central.Store) {
	ctx := context.Background()
	mustEnroll(t, s, "d1")
	if err := s.RevokeDevice(ctx, "d1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, "d1", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, err := s.Device(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Revoked() || !d.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("revoked at %v, want the first revocation %v", d.RevokedAt, t0.Add(time.Hour))
	}
	if err := s.RevokeDevice(ctx, "ghost", t0); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("revoking an unknown device = %v, want ErrNotFound", err)
	}
}

// testRevokedUploads: once a device's revocation has committed, the store
// itself refuses its uploads (ErrRevoked), a new manifest and a chunk of
// an upload begun before alike, and stores nothing of them: central's
// handler checks before it writes, and a revocation landing between its
// check and the write must not let the write through.
func testRevokedUploads(t *testing.T, s central.Store) {
	ctx := context.Background()
	mustEnroll(t, s, "d1")
	mustEnroll(t, s, "d2")
	imgs := map[string][]byte{"selfie": image(1, 300)}
	open := submission("d1", "open", t0, imgs)
	if _, _, err := s.BeginSubmission(ctx, open); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, "d1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	late := submission("d1", "late", t0.Add(2*time.Minute), imgs)
	if st, created, err := s.BeginSubmission(ctx, late); !errors.Is(err, central.ErrRevoked) || created {
		t.Errorf("a revoked device's manifest = %+v, created %v, %v; want ErrRevoked", st, created, err)
	}
	if _, err := s.Upload(ctx, "d1", late.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("a revoked device's manifest was stored: %v", err)
	}
	if _, err := appendChunk(t, s, open, "selfie", 0, imgs["selfie"]); !errors.Is(err, central.ErrRevoked) {
		t.Errorf("a revoked device's chunk = %v; want ErrRevoked", err)
	}
	if got, err := s.Upload(ctx, "d1", open.Key); err != nil || got.Images[0].Received != 0 || !got.CompletedAt.IsZero() {
		t.Errorf("the open upload after a revoked device's chunk = %+v, %v; want nothing received", got.State(), err)
	}
	// Another device is not concerned.
	if _, created, err := s.BeginSubmission(ctx, submission("d2", "late", t0.Add(2*time.Minute), imgs)); err != nil || !created {
		t.Errorf("another device's manifest = created %v, %v", created, err)
	}
}

func testDeviceStatus(t *testing.T, s central.Store) {
	ctx := context.Background()
	mustEnroll(t, s, "d1")
	st := protocol.DeviceStatus{ConfigVersion: 3, Watchlists: map[string]int64{"ofac": 2}, QueueDepth: 4, OldestQueued: t0}
	if err := s.SetDeviceStatus(ctx, "d1", st, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, err := s.Device(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status == nil || d.Status.ConfigVersion != 3 || d.Status.Watchlists["ofac"] != 2 || d.Status.QueueDepth != 4 ||
		!d.Status.OldestQueued.Equal(t0) || !d.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("device after status report = %+v (status %+v)", d, d.Status)
	}
	if err := s.SetDeviceStatus(ctx, "ghost", st, t0); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("status of an unknown device = %v, want ErrNotFound", err)
	}
	// The newest version reported keeps the time of its first report.
	for _, r := range []struct {
		version int64
		at      time.Duration
		want    central.ConfigReported
	}{
		{2, 2 * time.Hour, central.ConfigReported{Version: 3, Since: t0.Add(time.Hour)}},
		{3, 3 * time.Hour, central.ConfigReported{Version: 3, Since: t0.Add(time.Hour)}},
		{4, 4 * time.Hour, central.ConfigReported{Version: 4, Since: t0.Add(4 * time.Hour)}},
	} {
		if err := s.SetDeviceStatus(ctx, "d1", protocol.DeviceStatus{ConfigVersion: r.version}, t0.Add(r.at)); err != nil {
			t.Fatal(err)
		}
		d, err := s.Device(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if d.NewestConfig == nil || d.NewestConfig.Version != r.want.Version || !d.NewestConfig.Since.Equal(r.want.Since) {
			t.Errorf("after a status reporting version %d: newest %+v, want %+v", r.version, d.NewestConfig, r.want)
		}
	}
}

func testNonces(t *testing.T, s central.Store) {
	ctx := context.Background()
	exp := t0.Add(10 * time.Minute)
	if err := s.UseNonce(ctx, "d1", "n1", t0, exp); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "d1", "n1", t0, exp); !errors.Is(err, central.ErrReplay) {
		t.Errorf("same nonce twice = %v, want ErrReplay", err)
	}
	if err := s.UseNonce(ctx, "d2", "n1", t0, exp); err != nil {
		t.Errorf("same nonce from another device = %v, want nil", err)
	}
	// Many concurrent uses of one nonce: exactly one wins.
	wins := concurrentWins(16, func(int) error { return s.UseNonce(ctx, "d3", "race", t0, exp) })
	if wins != 1 {
		t.Errorf("%d concurrent uses of one nonce succeeded, want 1", wins)
	}
	// Long after expiry the store may forget the nonce, but a nonce still
	// live must stay refused however many others arrive.
	for i := range 50 {
		if err := s.UseNonce(ctx, "d1", fmt.Sprint("later-", i), t0.Add(time.Duration(i)*time.Minute), t0.Add(time.Duration(i+10)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UseNonce(ctx, "d1", "later-45", t0.Add(50*time.Minute), t0.Add(60*time.Minute)); !errors.Is(err, central.ErrReplay) {
		t.Errorf("live nonce after sweeps = %v, want ErrReplay", err)
	}
}

// image makes deterministic test bytes.
func image(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func submission(dev, id string, received time.Time, images map[string][]byte) central.Submission {
	s := central.Submission{
		DeviceID: dev, Key: protocol.SubmissionKey(id), ID: id,
		CreatedAt: received.Add(-time.Minute), ReceivedAt: received, Verdict: "allow",
		Payload: json.RawMessage(`{"name":"x"}`),
	}
	h := sha256.New()
	fmt.Fprint(h, dev, id)
	for _, name := range []string{"selfie", "document"} {
		img, ok := images[name]
		if !ok {
			continue
		}
		sum := sha256.Sum256(img)
		s.Images = append(s.Images, central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: name, Size: int64(len(img)), SHA256: sum[:], Key: bytes.Repeat([]byte{1}, 32)}})
		h.Write(sum[:])
	}
	s.ManifestHash = h.Sum(nil)
	return s
}

func appendChunk(t *testing.T, s central.Store, sub central.Submission, image string, off int64, data []byte) (protocol.UploadState, error) {
	t.Helper()
	return s.AppendChunk(context.Background(), central.Chunk{DeviceID: sub.DeviceID, Key: sub.Key, Image: image, Offset: off, Data: data, At: sub.ReceivedAt.Add(time.Second)})
}

func testSubmissionLifecycle(t *testing.T, s central.Store) {
	ctx := context.Background()
	selfie, doc := image(1, 3000), image(2, 5000)
	sub := submission("d1", "sub-1", t0, map[string][]byte{"selfie": selfie, "document": doc})
	sub.AttestationFresh = true
	st, created, err := s.BeginSubmission(ctx, sub)
	if err != nil || !created {
		t.Fatalf("BeginSubmission = created %v, %v", created, err)
	}
	if st.Complete || st.Received["selfie"] != 0 || st.Received["document"] != 0 || len(st.Received) != 2 {
		t.Fatalf("fresh state = %+v", st)
	}
	steps := []struct {
		image    string
		off, end int
		complete bool
	}{
		{"selfie", 0, 1000, false},
		{"selfie", 1000, 3000, false},
		{"document", 0, 4096, false},
		{"document", 4096, 5000, true},
	}
	for _, step := range steps {
		data := map[string][]byte{"selfie": selfie, "document": doc}[step.image][step.off:step.end]
		st, err := appendChunk(t, s, sub, step.image, int64(step.off), data)
		if err != nil {
			t.Fatalf("append %s@%d: %v", step.image, step.off, err)
		}
		if st.Received[step.image] != int64(step.end) || st.Complete != step.complete {
			t.Fatalf("after %s@%d: state %+v", step.image, step.off, st)
		}
	}
	got, err := s.Upload(ctx, "d1", sub.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "sub-1" || string(got.Payload) != `{"name":"x"}` || got.CompletedAt.IsZero() || !got.CreatedAt.Equal(sub.CreatedAt) || len(got.Images) != 2 || !got.AttestationFresh {
		t.Errorf("Upload = %+v", got)
	}
	for name, want := range map[string][]byte{"selfie": selfie, "document": doc} {
		data, err := s.ImageData(ctx, "d1", sub.Key, name)
		if err != nil || !bytes.Equal(data, want) {
			t.Errorf("ImageData(%s) = %d bytes, %v; want the %d bytes uploaded", name, len(data), err, len(want))
		}
	}
	// A retry after completion reports complete and changes nothing.
	st, created, err = s.BeginSubmission(ctx, sub)
	if err != nil || !st.Complete || created {
		t.Errorf("BeginSubmission after completion = %+v, created %v, %v", st, created, err)
	}
	if _, err := s.Upload(ctx, "d2", sub.Key); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("another device's submission = %v, want ErrNotFound", err)
	}
	if _, err := s.ImageData(ctx, "d1", sub.Key, "passport"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("unknown image = %v, want ErrNotFound", err)
	}
}

func testSubmissionWithoutImages(t *testing.T, s central.Store) {
	ctx := context.Background()
	sub := submission("d1", "plain", t0, nil)
	st, _, err := s.BeginSubmission(ctx, sub)
	if err != nil || !st.Complete {
		t.Fatalf("BeginSubmission = %+v, %v; want complete", st, err)
	}
	got, err := s.Upload(ctx, "d1", sub.Key)
	if err != nil || !got.CompletedAt.Equal(sub.ReceivedAt) {
		t.Errorf("Upload = %+v, %v; want completed at receipt", got, err)
	}
}

func testConflict(t *testing.T, s central.Store) {
	ctx := context.Background()
	a := submission("d1", "same-id", t0, map[string][]byte{"selfie": image(1, 10)})
	b := submission("d1", "same-id", t0, map[string][]byte{"selfie": image(9, 10)})
	if _, _, err := s.BeginSubmission(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.BeginSubmission(ctx, b); !errors.Is(err, central.ErrConflict) {
		t.Errorf("same key, other manifest = %v, want ErrConflict", err)
	}
	// The same id from another device is another submission.
	if _, _, err := s.BeginSubmission(ctx, submission("d2", "same-id", t0, map[string][]byte{"selfie": image(9, 10)})); err != nil {
		t.Errorf("same id from another device = %v", err)
	}
}

// testImageChunks reads an image back a stored chunk at a time: each chunk
// as appended, in order; a reader may stop early; an image not yet sent
// has no chunk, an unknown one is ErrNotFound.
func testImageChunks(t *testing.T, s central.Store) {
	ctx := context.Background()
	selfie := image(3, 7000)
	sub := submission("d1", "sub-chunks", t0, map[string][]byte{"selfie": selfie, "document": image(4, 100)})
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, 4096, 4097, 6000, 7000}
	for i := range cuts[:len(cuts)-1] {
		if _, err := appendChunk(t, s, sub, "selfie", int64(cuts[i]), selfie[cuts[i]:cuts[i+1]]); err != nil {
			t.Fatalf("append at %d: %v", cuts[i], err)
		}
	}
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		image   string
		stopAt  int   // the call of yield that returns errStop; 0: none
		want    []int // lengths of the chunks yielded
		wantErr error
	}{
		{"whole", "selfie", 0, []int{4096, 1, 1903, 1000}, nil},
		{"stopped", "selfie", 2, []int{4096, 1}, errStop},
		{"nothing sent", "document", 0, nil, nil},
		{"unknown image", "passport", 0, nil, central.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			var data []byte
			err := s.ImageChunks(ctx, "d1", sub.Key, tc.image, func(chunk []byte) error {
				got = append(got, len(chunk))
				data = append(data, chunk...)
				if len(got) == tc.stopAt {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("ImageChunks = %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("chunk lengths = %v, want %v", got, tc.want)
			}
			if want := selfie[:len(data)]; tc.image == "selfie" && !bytes.Equal(data, want) {
				t.Error("the chunks do not read back the bytes appended, in order")
			}
		})
	}
}

// testOpenUploads counts a device's submissions whose images are still
// arriving: not those without images, completed, closed by retention, or
// another device's (one whose id starts with this one's included).
func testOpenUploads(t *testing.T, s central.Store) {
	ctx := context.Background()
	img := map[string][]byte{"selfie": image(5, 300)}
	begin := func(dev, id string, received time.Time, images map[string][]byte) central.Submission {
		t.Helper()
		sub := submission(dev, id, received, images)
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatalf("BeginSubmission(%s): %v", id, err)
		}
		return sub
	}
	begin("d1", "open-1", t0, img)
	begin("d1", "open-2", t0.Add(time.Hour), img)
	begin("d1", "no-images", t0, nil)
	done := begin("d1", "done", t0, img)
	if _, err := appendChunk(t, s, done, "selfie", 0, img["selfie"]); err != nil {
		t.Fatal(err)
	}
	begin("d1", "stale", t0.Add(-20*time.Hour), img) // abandoned: counted only from before it
	begin("d1", "old", t0.Add(-48*time.Hour), img)
	if n, err := s.Expire(ctx, central.ExpireImages, t0.Add(-24*time.Hour), t0, 10); err != nil || n != 1 {
		t.Fatalf("Expire(images) = %d, %v; want the old one closed", n, err)
	}
	begin("d10", "other", t0, img)
	half := begin("d2", "half", t0, img)
	if _, err := appendChunk(t, s, half, "selfie", 0, img["selfie"][:100]); err != nil {
		t.Fatal(err)
	}
	since := t0.Add(-12 * time.Hour)
	for _, tc := range []struct {
		device string
		since  time.Time
		want   int
	}{{"d1", since, 2}, {"d1", t0.Add(-21 * time.Hour), 3}, {"d10", since, 1}, {"d2", since, 1}, {"d3", since, 0}} {
		if n, err := s.OpenUploads(ctx, tc.device, tc.since); err != nil || n != tc.want {
			t.Errorf("OpenUploads(%s, %s) = %d, %v; want %d", tc.device, tc.since, n, err, tc.want)
		}
	}
}

func testChunkOffsets(t *testing.T, s central.Store) {
	ctx := context.Background()
	img := image(3, 100)
	sub := submission("d1", "offsets", t0, map[string][]byte{"selfie": img})
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := appendChunk(t, s, sub, "selfie", 0, img[:40]); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		off  int64
		data []byte
		want error
	}{
		{"duplicate chunk", 0, img[:40], central.ErrOffset},
		{"gap", 60, img[60:], central.ErrOffset},
		{"past the end", 40, append(img[40:], 1), central.ErrOffset},
		{"empty", 40, nil, central.ErrOffset},
	}
	for _, c := range cases {
		st, err := appendChunk(t, s, sub, "selfie", c.off, c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if st.Received["selfie"] != 40 {
			t.Errorf("%s: state %+v, want 40 bytes received", c.name, st)
		}
	}
	if _, err := appendChunk(t, s, sub, "nope", 0, img); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("unknown image: %v, want ErrNotFound", err)
	}
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: "d1", Key: protocol.SubmissionKey("ghost"), Image: "selfie", Data: img}); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("unknown submission: %v, want ErrNotFound", err)
	}
	st, err := appendChunk(t, s, sub, "selfie", 40, img[40:])
	if err != nil || !st.Complete {
		t.Fatalf("final chunk: %+v, %v", st, err)
	}
	data, err := s.ImageData(ctx, "d1", sub.Key, "selfie")
	if err != nil || !bytes.Equal(data, img) {
		t.Errorf("image after rejected chunks = %d bytes, %v", len(data), err)
	}
}

// testConcurrentDuplicates sends the same manifest and the same chunks from
// many goroutines, as duplicate deliveries to several central instances
// would: the submission is stored once, intact.
func testConcurrentDuplicates(t *testing.T, s central.Store) {
	ctx := context.Background()
	img := image(5, 2048)
	sub := submission("d1", "dup", t0, map[string][]byte{"selfie": img})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	var mu sync.Mutex
	creations := 0
	for range 8 {
		wg.Go(func() {
			_, created, err := s.BeginSubmission(ctx, sub)
			if err != nil {
				errs <- err
			}
			if created {
				mu.Lock()
				creations++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if creations != 1 {
		t.Errorf("%d concurrent deliveries of one manifest created it, want 1", creations)
	}
	for off := 0; off < len(img); off += 512 {
		for range 4 {
			wg.Go(func() {
				_, err := appendChunk(t, s, sub, "selfie", int64(off), img[off:off+512])
				if err != nil && !errors.Is(err, central.ErrOffset) {
					errs <- err
				}
			})
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, err := s.ImageData(ctx, "d1", sub.Key, "selfie")
	if err != nil || !bytes.Equal(data, img) {
		t.Fatalf("image = %d bytes, %v; want exactly the %d uploaded", len(data), err, len(img))
	}
	subs, err := s.Submissions(ctx, central.Filter{})
	if err != nil || len(subs) != 1 || subs[0].CompletedAt.IsZero() {
		t.Errorf("Submissions = %+v, %v; want one complete", subs, err)
	}
}

func testListing(t *testing.T, s central.Store) {
	ctx := context.Background()
	for i, c := range []struct {
		dev, verdict string
		images       bool
	}{{"d1", "allow", false}, {"d2", "allow", true}, {"d1", "warn", false}, {"d2", "allow", true}} {
		sub := submission(c.dev, fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute), nil)
		if c.images {
			sub = submission(c.dev, fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute), map[string][]byte{"selfie": image(1, 5), "document": image(2, 7)})
		}
		sub.Verdict = c.verdict
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	// s1 part uploaded, s3 complete: each listed with its own images,
	// in the manifest's order.
	for key, ims := range map[string][]string{"s1": {"document"}, "s3": {"selfie", "document"}} {
		sub, err := s.Upload(ctx, "d2", protocol.SubmissionKey(key))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range ims {
			data := map[string][]byte{"selfie": image(1, 5), "document": image(2, 7)}[name]
			if _, err := appendChunk(t, s, sub, name, 0, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Stored after the others, listed before them: by receipt, then
	// device and key; and one stored and deleted, not listed.
	for _, sub := range []central.Submission{submission("d2", "s4", t0.Add(-time.Minute), nil), submission("d0", "s5", t0, nil),
		submission("d0", "gone", t0, nil)} {
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSubmission(ctx, "d0", protocol.SubmissionKey("gone")); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	cases := []struct {
		name string
		f    central.Filter
		want []string
	}{
		{"all", central.Filter{}, []string{"s4", "s5", "s0", "s1", "s2", "s3"}},
		{"device", central.Filter{DeviceID: "d1"}, []string{"s0", "s2"}},
		{"after", central.Filter{ReceivedAfter: t0.Add(2 * time.Minute)}, []string{"s2", "s3"}},
		{"before", central.Filter{ReceivedBefore: t0.Add(2 * time.Minute)}, []string{"s4", "s5", "s0", "s1"}},
		{"complete", central.Filter{Complete: &yes}, []string{"s4", "s5", "s0", "s2", "s3"}},
		{"incomplete", central.Filter{Complete: &no}, []string{"s1"}},
		{"verdict", central.Filter{Verdict: "warn"}, []string{"s2"}},
		{"limit", central.Filter{Limit: 3}, []string{"s4", "s5", "s0"}},
		{"window-limit", central.Filter{ReceivedAfter: t0, ReceivedBefore: t0.Add(3 * time.Minute), Limit: 2}, []string{"s5", "s0"}},
		{"device-limit", central.Filter{DeviceID: "d2", Limit: 1}, []string{"s4"}},
		{"none", central.Filter{DeviceID: "d9"}, nil},
	}
	for _, c := range cases {
		subs, err := s.Submissions(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var ids []string
		for _, sub := range subs {
			ids = append(ids, sub.ID)
			if len(sub.Payload) != 0 {
				t.Errorf("%s: listing carries the payload of %s", c.name, sub.ID)
			}
		}
		if fmt.Sprint(ids) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, ids, c.want)
		}
	}
	subs, err := s.Submissions(ctx, central.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range subs {
		want, err := s.Upload(ctx, sub.DeviceID, sub.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := imageList(sub.Images), imageList(want.Images); got != want {
			t.Errorf("%s listed with images %s, stored %s", sub.ID, got, want)
		}
	}
}

// imageList writes images' names and progress in order.
func imageList(ims []central.ImageProgress) string {
	var out []string
	for _, im := range ims {
		out = append(out, fmt.Sprintf("%s:%d/%d:%x", im.Name, im.Received, im.Size, im.SHA256[:4]))
	}
	return fmt.Sprint(out)
}

func testConfig(t *testing.T, s central.Store) {
	ctx := context.Background()
	doc, v, err := s.Risk(ctx)
	if err != nil || v != 0 || doc != nil {
		t.Errorf("empty Risk = %s, %d, %v", doc, v, err)
	}
	for want := int64(1); want <= 2; want++ {
		v, err := s.PutRisk(ctx, json.RawMessage(fmt.Sprintf(`{"threshold":%d}`, want)))
		if err != nil || v != want {
			t.Fatalf("PutRisk = %d, %v; want version %d", v, err, want)
		}
	}
	doc, v, err = s.Risk(ctx)
	if err != nil || v != 2 {
		t.Fatalf("Risk = %s, %d, %v", doc, v, err)
	}
	var got map[string]int
	if err := json.Unmarshal(doc, &got); err != nil || got["threshold"] != 2 {
		t.Errorf("Risk doc = %s (%v), want threshold 2", doc, err)
	}
	wls, err := s.Watchlists(ctx)
	if err != nil || len(wls) != 0 {
		t.Errorf("empty Watchlists = %v, %v", wls, err)
	}
	PublishWatchlist(t, s, "ofac", []byte("v1"))
	w := PublishWatchlist(t, s, "ofac", []byte("version two"))
	sum := sha256.Sum256([]byte("version two"))
	if w.Version != 2 || w.Size != 11 || !bytes.Equal(w.SHA256, sum[:]) {
		t.Errorf("second version = %+v", w)
	}
	PublishWatchlist(t, s, "un", []byte("un list"))
	w, data, err := s.Watchlist(ctx, "ofac")
	if err != nil || w.Version != 2 || string(data) != "version two" {
		t.Errorf("Watchlist = %+v %q %v", w, data, err)
	}
	if _, _, err := s.Watchlist(ctx, "nope"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("unknown watchlist = %v, want ErrNotFound", err)
	}
	wls, err = s.Watchlists(ctx)
	if err != nil || len(wls) != 2 {
		t.Errorf("Watchlists = %+v, %v; want 2", wls, err)
	}
}

// concurrentWins runs try(0) to try(n-1) at once and counts the calls
// that succeed.
func concurrentWins(n int, try func(i int) error) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range n {
		wg.Go(func() {
			if try(i) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return wins
}

// testImageChunksLarge: an image of several megabytes, more than a store
// reads at a time, comes back whole, a stored chunk a yield in order, and
// a yield's error stops the reading and is returned.
func testImageChunksLarge(t *testing.T, s central.Store) {
	ctx := context.Background()
	const chunk, n = 300 << 10, 9
	img := image(3, chunk*n)
	sub := submission("d1", "large", t0, map[string][]byte{"selfie": img})
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := appendChunk(t, s, sub, "selfie", int64(i*chunk), img[i*chunk:(i+1)*chunk]); err != nil {
			t.Fatal(err)
		}
	}
	var got []byte
	yields := 0
	err := s.ImageChunks(ctx, "d1", sub.Key, "selfie", func(b []byte) error {
		yields++
		got = append(got, b...)
		return nil
	})
	if err != nil || yields != n || !bytes.Equal(got, img) {
		t.Fatalf("ImageChunks = %v after %d yields of %d bytes; want %d yields of the %d stored", err, yields, len(got), n, len(img))
	}
	stop := errors.New("stop")
	yields = 0
	err = s.ImageChunks(ctx, "d1", sub.Key, "selfie", func([]byte) error {
		if yields++; yields == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || yields != 5 {
		t.Errorf("ImageChunks stopped by its fifth yield = %v after %d yields", err, yields)
	}
}
