package recheck_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/facematch/facematchtest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
	"github.com/openkyc/kyc/sync/central/recheck"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
)

var pg pgtest.Lazy

func TestMain(m *testing.M) { pg.Main(m) }

var t0 = time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)

// backend opens a store and reopens it after a restart (the same file or
// database), closing each at the test's end.
type backend struct {
	name string
	open func(t *testing.T) (open func() central.Store)
}

var backends = []backend{
	{"bbolt", func(t *testing.T) func() central.Store {
		path := filepath.Join(t.TempDir(), "central.db")
		return func() central.Store {
			s, err := boltstore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"bbolt sealed", func(t *testing.T) func() central.Store {
		dir := t.TempDir()
		return func() central.Store {
			s, err := boltstore.Open(filepath.Join(dir, "central.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			kr, err := seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys"))
			if err != nil {
				t.Fatal(err)
			}
			return seal.New(s, kr, kr)
		}
	}},
	{"postgres", func(t *testing.T) func() central.Store {
		dsn, err := pg.Server(t).NewDatabaseFrom(context.Background(), "migrated", pgstore.Migrate)
		if err != nil {
			t.Fatal(err)
		}
		return func() central.Store {
			s, err := pgstore.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

// attempt is a device's submission: its decision and the faces of its
// images (facematchtest.Face names; "" for an image not sent).
type attempt struct {
	// device is the submitting device; "dev1" when empty.
	device        string
	id, decision  string
	score         float64
	front, selfie string
}

// payload is what a device's report claims: a strong match and a live
// selfie, whatever the images show (an edited result).
const payload = `{"session_id":"s","report":{"decision":"approve","score":97,"face":{"match":{"similarity":0.91},"liveness":{"score":0.98}}}}`

// begin records a's manifest; its images arrive with send.
func begin(t *testing.T, s central.Store, a attempt) (sub central.Submission, images map[string][]byte) {
	t.Helper()
	images = map[string][]byte{}
	dev := a.device
	if dev == "" {
		dev = "dev1"
	}
	sub = central.Submission{DeviceID: dev, Key: protocol.SubmissionKey(a.id), ID: a.id, CreatedAt: t0, ReceivedAt: t0, Verdict: "allow",
		Payload: json.RawMessage(payload), ManifestHash: []byte(a.id),
		Summary: &central.Summary{Decision: a.decision, Score: a.score, Reasons: []string{"OK"}}}
	for _, im := range []struct{ name, face string }{{submission.ImageFront, a.front}, {submission.ImageSelfie, a.selfie}} {
		if im.face == "" {
			continue
		}
		b := facematchtest.Face(t, im.face)
		sum := sha256.Sum256(b)
		images[im.name] = b
		sub.Images = append(sub.Images, central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: im.name, Size: int64(len(b)), SHA256: sum[:], Key: make([]byte, 32)}})
	}
	if _, _, err := s.BeginSubmission(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	return sub, images
}

func send(t *testing.T, s central.Store, sub central.Submission, name string, b []byte) {
	t.Helper()
	if _, err := s.AppendChunk(context.Background(), central.Chunk{DeviceID: sub.DeviceID, Key: sub.Key, Image: name, Data: b, At: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
}

// submit records a complete submission of a.
func submit(t *testing.T, s central.Store, a attempt) central.SubmissionRef {
	t.Helper()
	sub, images := begin(t, s, a)
	for name, b := range images {
		send(t, s, sub, name, b)
	}
	return central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
}

func sweep(t *testing.T, s central.Store, m partnerapi.FaceMatcher) (int, error) {
	t.Helper()
	return recheck.New(recheck.Config{Store: s, Matcher: m, Now: func() time.Time { return t0.Add(time.Hour) }}).Sweep(context.Background())
}

// routed reports whether ref's case was routed to review by the recheck,
// and its audit finding.
func routed(t *testing.T, s central.Store, ref central.SubmissionRef) (bool, *recheck.Finding) {
	t.Helper()
	ctx := context.Background()
	c, err := s.Case(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{Subject: "case:" + ref.DeviceID + "/" + ref.Key, Action: central.AuditDecisionDistrusted})
	if err != nil {
		t.Fatal(err)
	}
	var f *recheck.Finding
	if len(evs) > 0 {
		f = new(recheck.Finding)
		if err := json.Unmarshal(evs[0].After, f); err != nil {
			t.Fatal(err)
		}
	}
	isRouted := c.Summary.Decision == "review" && len(c.Summary.Reasons) > 0 && c.Summary.Reasons[0] == central.ReasonCentralRecheckContradicts
	if isRouted && (c.Summary.DeviceDecision != "approve" || !slices.Contains(c.Summary.Reasons, "OK") || len(evs) != 1) {
		t.Errorf("routed case %+v with %d audit events", c.Summary, len(evs))
	}
	return isRouted, f
}

// TestRecheck: an approval whose selfie is another person's, or whose
// document shows no face, goes to review with central's numbers audited
// against the device's claims; a genuine approval, and anything but an
// approval, stays as the device decided.
func TestRecheck(t *testing.T) {
	m := facematchtest.Matcher(t)
	cases := []struct {
		a       attempt
		routed  bool
		problem string
	}{
		{attempt{"", "genuine", "approve", 97, "leonard4", "leonard2"}, false, ""},
		{attempt{"", "impostor", "approve", 97, "howard2", "raj2"}, true, ""},
		{attempt{"", "impostor-rejected", "reject", 45, "howard2", "raj2"}, false, ""},
		{attempt{"", "no-selfie", "approve", 97, "leonard4", ""}, true, "no selfie image"},
		// The hosted flow's approval is central's own engine's.
		{attempt{central.HostedDevice("JKT"), "hosted", "approve", 97, "howard2", "raj2"}, false, ""},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)()
			refs := make([]central.SubmissionRef, len(cases))
			for i, c := range cases {
				refs[i] = submit(t, s, c.a)
			}
			if n, err := sweep(t, s, m); err != nil || n != 3 {
				t.Fatalf("Sweep = %d, %v; want 3 approvals rechecked", n, err)
			}
			for i, c := range cases {
				got, f := routed(t, s, refs[i])
				if got != c.routed {
					t.Errorf("%s: routed %v, want %v (finding %+v)", c.a.id, got, c.routed, f)
					continue
				}
				if !got {
					if f != nil {
						t.Errorf("%s: audited %+v", c.a.id, f)
					}
					continue
				}
				if f == nil || f.Reason != central.ReasonCentralRecheckContradicts || f.Decision != "approve" || f.Score != 97 || f.Problem != c.problem ||
					f.DeviceSimilarity == nil || *f.DeviceSimilarity != 0.91 || f.DeviceLiveness == nil || *f.DeviceLiveness != 0.98 || f.Detail == "" {
					t.Errorf("%s: finding %+v", c.a.id, f)
				}
				if c.problem == "" && (f.MatchScore >= f.MatchThreshold || f.MatchThreshold == 0 || f.Similarity >= 0.91) {
					t.Errorf("%s: central's match %+v does not contradict the device", c.a.id, f)
				}
			}
			// A second sweep has nothing left to recheck.
			if n, err := sweep(t, s, m); err != nil || n != 0 {
				t.Errorf("second Sweep = %d, %v", n, err)
			}
		})
	}
}

// TestRecheckWaitsForImages: an approval whose selfie is still arriving is
// not judged (nor passed over) until it is complete.
func TestRecheckWaitsForImages(t *testing.T) {
	m := facematchtest.Matcher(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)()
			sub, images := begin(t, s, attempt{"", "impostor", "approve", 97, "howard2", "raj2"})
			ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
			send(t, s, sub, submission.ImageFront, images[submission.ImageFront])
			if n, err := sweep(t, s, m); err != nil || n != 0 {
				t.Fatalf("Sweep while uploading = %d, %v", n, err)
			}
			if got, _ := routed(t, s, ref); got {
				t.Fatal("routed before its selfie arrived")
			}
			send(t, s, sub, submission.ImageSelfie, images[submission.ImageSelfie])
			if n, err := sweep(t, s, m); err != nil || n != 1 {
				t.Fatalf("Sweep once complete = %d, %v", n, err)
			}
			if got, _ := routed(t, s, ref); !got {
				t.Error("not routed once complete")
			}
		})
	}
}

// failing is an engine that fails, as one stopped mid-sweep does.
type failing struct{}

func (failing) Match(context.Context, partnerapi.FaceMatchRequest) (partnerapi.FaceMatchResult, error) {
	return partnerapi.FaceMatchResult{}, errors.New("engine stopped")
}

// TestRecheckAfterRestart: an approval a sweep could not judge (the
// engine failed, central stopped) is rechecked by the first sweep after a
// restart, and the approvals judged before it are not judged again.
func TestRecheckAfterRestart(t *testing.T) {
	m := facematchtest.Matcher(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			open := b.open(t)
			s := open()
			genuine := submit(t, s, attempt{"", "genuine", "approve", 97, "leonard4", "leonard2"})
			if n, err := sweep(t, s, m); err != nil || n != 1 {
				t.Fatalf("first Sweep = %d, %v", n, err)
			}
			impostor := submit(t, s, attempt{"", "impostor", "approve", 97, "howard2", "raj2"})
			if _, err := sweep(t, s, failing{}); err == nil {
				t.Fatal("Sweep with a failing engine succeeded")
			}
			if got, _ := routed(t, s, impostor); got {
				t.Fatal("routed by a failing engine")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
			if n, err := sweep(t, s, m); err != nil || n != 1 {
				t.Fatalf("Sweep after restart = %d, %v; want the impostor alone", n, err)
			}
			if got, _ := routed(t, s, impostor); !got {
				t.Error("impostor not routed after restart")
			}
			if got, _ := routed(t, s, genuine); got {
				t.Error("genuine routed")
			}
		})
	}
}

// TestRunEndsWithContext: Run sweeps at once and returns when its context
// ends.
func TestRunEndsWithContext(t *testing.T) {
	s := backends[0].open(t)()
	ref := submit(t, s, attempt{"", "impostor", "approve", 97, "howard2", "raj2"})
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	r := recheck.New(recheck.Config{Store: s, Matcher: facematchtest.Matcher(t), Every: time.Hour})
	go func() { done <- r.Run(ctx) }()
	for {
		if got, _ := routed(t, s, ref); got {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before routing", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop := fmt.Errorf("stopping")
	cancel(stop)
	if err := <-done; !errors.Is(err, stop) {
		t.Errorf("Run = %v, want its context's cause", err)
	}
}
