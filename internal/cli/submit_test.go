package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// verifyOutput is what the tests read of `kyc verify --submit`.
type verifyOutput struct {
	Decision     string              `json:"decision"`
	NextAction   string              `json:"next_action"`
	SubmissionID string              `json:"submission_id"`
	Attestation  *device.Attestation `json:"attestation"`
}

func verifyRun(t *testing.T, env []string, args ...string) (run, verifyOutput) {
	t.Helper()
	r := kyc(t, env, append([]string{"verify"}, args...)...)
	var out verifyOutput
	if r.exit == ExitOK {
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("verify output is not JSON: %v\n%s", err, r.stdout)
		}
	}
	return r, out
}

// blankImage writes a grey picture with no face in it.
func blankImage(t *testing.T) string {
	t.Helper()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	path := filepath.Join(t.TempDir(), "blank.jpg")
	if !gocv.IMWrite(path, m) {
		t.Fatal("writing the blank image")
	}
	return path
}

// TestVerifySubmitReachesCentral runs real verifications of a real
// specimen with `kyc verify --submit` on an enrolled device, syncs them to
// a real central with `kyc sync --once`, and finds them there as the app's
// would be: payload, images, a fresh attestation and a Summary whose
// decision is the one the CLI printed. A selfie without a face is a RETRY
// that is sealed too; a failure of the machinery seals nothing. Then a
// reviewer's decision stored at central reaches the device at its next
// sync and `kyc sync --list` shows it.
func TestVerifySubmitReachesCentral(t *testing.T) {
	ctx := context.Background()
	c := startCentral(t)
	dir, keyFile := deviceEnv(t)
	if code, res := runCLI(t, "enroll", "--central", c.URL, "--ca", c.CAFile, "--token-file", c.tokenFile(t), "--dir", dir); code != ExitOK {
		t.Fatalf("enroll: exit %d %v", code, res)
	}
	// The first sync brings central's attestation challenge.
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK || res["online"] != true {
		t.Fatalf("first sync: exit %d %v", code, res)
	}
	id, err := identity.Load(filepath.Join(dir, deviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	doc := testenv.Data(t, "mrz", "passporteye", "passport-td3.jpg")
	selfie := testenv.Data(t, "faces", "faceapi_bbt", "leonard", "leonard1.png")

	if r := kyc(t, nil, "verify", "--document", doc, "--selfie", selfie, "--submit", "--no-device-check"); r.exit != ExitUsage {
		t.Errorf("--submit without the device check: exit %d %s; central would refuse it", r.exit, r.stdout)
	}

	r, first := verifyRun(t, nil, "--document", doc, "--selfie", selfie, "--submit",
		"--session", "ses-cli", "--doc-type", "passport", "--country", "UTO", "--operator", "tester")
	if r.exit != ExitOK || first.SubmissionID != "ses-cli-1" || first.Decision == "" || first.Attestation == nil || first.Attestation.Nonce == "" {
		t.Fatalf("verify --submit: exit %d %+v\n%s\n%s", r.exit, first, r.stdout, r.stderr)
	}
	t.Logf("the specimen: %s, next %s", first.Decision, first.NextAction)
	// The clock check is judged by the last contact sync kept in the vault,
	// as the app's is: a clock turned back since would fail it.
	if c, ok := first.Attestation.Report.Check(device.CheckClock); !ok || c.Evidence["last_central_contact"] == "" || c.Evidence["last_central_contact"] == "never" {
		t.Errorf("clock check of the sealed attempt: %+v; want it to know the last sync's contact", c)
	}
	// Input a new capture can fix is a decision, sealed like any other.
	r, retry := verifyRun(t, nil, "--document", doc, "--selfie", blankImage(t), "--submit", "--session", "ses-cli", "--attempt", "2")
	if r.exit != ExitOK || retry.NextAction != "RETRY" || retry.SubmissionID != "ses-cli-2" {
		t.Fatalf("verify --submit of a selfie without a face: exit %d %+v; want a sealed RETRY\n%s", r.exit, retry, r.stderr)
	}
	// The machinery failing (no models) seals nothing.
	if r, out := verifyRun(t, []string{models.DirEnv + "=" + t.TempDir()}, "--document", doc, "--selfie", selfie, "--submit", "--session", "ses-cli", "--attempt", "3"); r.exit == ExitOK || out.SubmissionID != "" {
		t.Fatalf("verify --submit without models: exit %d %s", r.exit, r.stdout)
	}

	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	infos, err := v.ListSubmissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range infos {
		ids = append(ids, in.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"ses-cli-1", "ses-cli-2"}) {
		t.Fatalf("the vault holds %v; want the two verifications and not the failed one", ids)
	}
	sealed, err := v.GetSubmission(ctx, "ses-cli-1")
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	docBytes, _ := os.ReadFile(doc)
	selfieBytes, _ := os.ReadFile(selfie)
	if !bytes.Equal(sealed.Images[submission.ImageFront], docBytes) || !bytes.Equal(sealed.Images[submission.ImageSelfie], selfieBytes) || len(sealed.Images) != 2 {
		t.Errorf("sealed images %d; want the document and the selfie as given", len(sealed.Images))
	}
	var payload submission.Payload
	if err := json.Unmarshal(sealed.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Session != "ses-cli" || payload.Attempt != 1 || payload.Operator != "tester" || payload.DocType != "passport" ||
		payload.Country != "UTO" || payload.App != "test" || payload.Report == nil || payload.Attestation == nil {
		t.Fatalf("sealed payload %+v", payload)
	}
	if err := device.Verify(id.Public(), *payload.Attestation); err != nil {
		t.Errorf("the sealed attestation does not verify: %v", err)
	}

	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK || res["synced"] != float64(2) || res["queue_depth"] != float64(0) {
		t.Fatalf("sync --once: exit %d %v", code, res)
	}
	for _, want := range []struct {
		id      string
		out     verifyOutput
		attempt int
	}{{"ses-cli-1", first, 1}, {"ses-cli-2", retry, 2}} {
		sub, err := c.Store.Upload(ctx, id.DeviceID(), protocol.SubmissionKey(want.id))
		if err != nil || sub.CompletedAt.IsZero() {
			t.Fatalf("%s at central: %+v, %v", want.id, sub, err)
		}
		if sub.Summary == nil || sub.Summary.Decision != want.out.Decision || sub.Summary.NextAction != want.out.NextAction ||
			sub.Summary.SessionID != "ses-cli" || sub.Summary.Attempt != want.attempt {
			t.Errorf("%s: summary %+v; want decision %s / %s as the CLI printed", want.id, sub.Summary, want.out.Decision, want.out.NextAction)
		}
		if got := central.Summarize(sub.Payload); sub.Summary != nil && got.Decision != sub.Summary.Decision {
			t.Errorf("%s: stored summary %+v differs from the payload's %+v", want.id, sub.Summary, got)
		}
		if !sub.AttestationFresh {
			t.Errorf("%s: the attestation is not fresh: central's challenge was not in it", want.id)
		}
		var names []string
		for _, im := range sub.Images {
			names = append(names, im.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"front", "selfie"}) {
			t.Errorf("%s: images %v", want.id, names)
		}
	}

	// A reviewer decides the first at central; the next sync brings it.
	ref := central.SubmissionRef{DeviceID: id.DeviceID(), Key: protocol.SubmissionKey("ses-cli-1")}
	decided := time.Now().UTC().Truncate(time.Second)
	if _, err := c.Store.UpdateReview(ctx, ref, func(central.Case) (central.Review, central.AuditEvent, error) {
		return central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject, Reason: "document_forged", Note: "private", DecidedBy: "alice", DecidedAt: decided},
			central.AuditEvent{ID: "decide-1", At: decided, Actor: "alice", Action: "review.decide", Subject: "case:" + ref.DeviceID + "/" + ref.Key}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, res := runCLI(t, "sync", "--once", "--dir", dir); code != ExitOK || res["reviews"] != float64(1) {
		t.Fatalf("sync after the review: exit %d %v; want 1 review brought", code, res)
	}
	code, res := runCLI(t, "sync", "--list", "--dir", dir)
	list, _ := res["submissions"].([]any)
	if code != ExitOK || len(list) != 2 {
		t.Fatalf("sync --list: exit %d %v", code, res)
	}
	for _, it := range list {
		item := it.(map[string]any)
		review, _ := item["review"].(map[string]any)
		switch item["id"] {
		case "ses-cli-1":
			if item["state"] != "synced" || review["state"] != "decided" || review["outcome"] != "reject" || review["reason"] != "document_forged" || review["decided_at"] == nil {
				t.Errorf("ses-cli-1 listed as %v", item)
			}
			if _, ok := review["note"]; ok {
				t.Errorf("the reviewer's note reached the device: %v", review)
			}
		case "ses-cli-2":
			if review != nil {
				t.Errorf("ses-cli-2 has a review: %v", item)
			}
		}
	}
}

// TestVerifySubmitUsesSyncedConfig: a sealed result is decided by the
// risk configuration and lists sync installed. An operator's own
// configuration (thresholds down) or an empty folder of lists (no
// screening) would otherwise seal a decision central cannot tell apart
// from the device's, so `--submit` refuses both and seals nothing.
func TestVerifySubmitUsesSyncedConfig(t *testing.T) {
	dir, _ := deviceEnv(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	doc := testenv.Data(t, "mrz", "passporteye", "passport-td3.jpg")
	selfie := testenv.Data(t, "faces", "faceapi_bbt", "leonard", "leonard1.png")
	lax := filepath.Join(t.TempDir(), "lax.json")
	if err := os.WriteFile(lax, []byte(`{"thresholds": {"face_match_min": 0.01, "face_match_accept": 0.02}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, extra := range map[string][]string{
		"own risk configuration": {"--risk-config", lax},
		"own watchlists":         {"--watchlists", t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			r := kyc(t, nil, append([]string{"verify", "--document", doc, "--selfie", selfie, "--submit", "--session", "ses-own"}, extra...)...)
			if r.exit != ExitUsage {
				t.Fatalf("exit %d, want %d (usage)\n%.300s\n%.300s", r.exit, ExitUsage, r.stdout, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, vaultFile)); err == nil {
				t.Fatal("the vault was opened: something may have been sealed")
			}
		})
	}
}
