package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/facematch/facematchtest"
	"github.com/openkyc/kyc/sync/central/recheck"
	"github.com/openkyc/kyc/sync/vault"
)

// TestCentralRechecksApprovals runs `kyc-central serve --recheck-approvals`
// with the installed face models and an enrolled device whose vault holds
// two approvals sealed as the app seals them (internal/submission), each
// claiming a strong match and a live selfie: one whose selfie is the
// document's person, one whose selfie is another person's (a result edited
// before it synced, which the bands check cannot see). Once `kyc sync`
// has sent their images, central's own engine routes the impostor to
// review (central.ReasonCentralRecheckContradicts, audited with its
// numbers) and leaves the genuine approval approved.
func TestCentralRechecksApprovals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs kyc-central with the face models: skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	modelsDir, err := models.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	c := startCentral(t, ctx, "--recheck-approvals", "--models", modelsDir)
	if !strings.Contains(c.log.Text(), "rechecking device approvals with central's face engine") {
		t.Fatalf("central does not say it rechecks approvals:\n%s", c.log.Text())
	}
	kyc := buildKyc(t)
	dev := filepath.Join(t.TempDir(), "device")
	c.enroll(t, ctx, kyc, dev)
	syncOnce(t, ctx, kyc, dev) // the configuration: the attestations' challenge, the risk version
	// The genuine approval is sent and completed before the impostor's,
	// so the sweep that judges the impostor has judged it already.
	genuine := sealApproval(t, ctx, dev, "ses-genuine", facematchtest.Face(t, "leonard4"), facematchtest.Face(t, "leonard2"))
	syncOnce(t, ctx, kyc, dev)
	impostor := sealApproval(t, ctx, dev, "ses-impostor", facematchtest.Face(t, "howard2"), facematchtest.Face(t, "raj2"))
	syncOnce(t, ctx, kyc, dev)
	synced := time.Now()

	// The recheck sweeps at start and then every recheck.DefaultEvery.
	deadline := synced.Add(2*recheck.DefaultEvery + 30*time.Second)
	var subs map[string]centralSubmission
	for {
		subs = map[string]centralSubmission{}
		for _, s := range c.submissionList(t) {
			subs[s.ID] = s
		}
		if s, ok := subs[impostor]; ok && s.Summary.Decision != string(risk.Approve) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the impostor's approval was not routed to review within %s of its sync: %+v\ncentral's log:\n%s",
				deadline.Sub(synced), subs, c.log.Text())
		}
		// Paces the poll of a condition bounded by the deadline above.
		time.Sleep(2 * time.Second)
	}
	t.Logf("impostor routed %s after its sync", time.Since(synced).Round(time.Second))
	imp, gen := subs[impostor], subs[genuine]
	if imp.Summary.Decision != string(risk.Review) || len(imp.Summary.Reasons) == 0 ||
		imp.Summary.Reasons[0] != central.ReasonCentralRecheckContradicts || imp.Summary.DeviceDecision != string(risk.Approve) {
		t.Errorf("the impostor's case %+v, want review for %s with the device's approve kept", imp.Summary, central.ReasonCentralRecheckContradicts)
	}
	if gen.Summary.Decision != string(risk.Approve) || gen.Summary.DeviceDecision != "" {
		t.Errorf("the genuine case %+v, want the device's approval standing", gen.Summary)
	}

	code, body := c.admin(t, ctx, http.MethodGet, "/admin/v1/audit?action="+url.QueryEscape(central.AuditDecisionDistrusted), nil)
	var evs []central.AuditEvent
	if err := json.Unmarshal(body, &evs); err != nil || code != http.StatusOK {
		t.Fatalf("the audit trail: %d %v (%s)", code, err, body)
	}
	if len(evs) != 1 || evs[0].Subject != "case:"+imp.DeviceID+"/"+imp.Key || evs[0].Actor != "central" {
		t.Fatalf("distrusted decisions audited: %+v, want the impostor's case alone, by central", evs)
	}
	var f recheck.Finding
	if err := json.Unmarshal(evs[0].After, &f); err != nil {
		t.Fatal(err)
	}
	t.Logf("central's finding: match score %.1f (similarity %.3f) below %.1f, liveness %.3f (floor %.3f); %s",
		f.MatchScore, f.Similarity, f.MatchThreshold, f.Liveness, f.LivenessThreshold, f.Detail)
	if f.Reason != central.ReasonCentralRecheckContradicts || f.Problem != "" || f.MatchScore >= f.MatchThreshold ||
		f.DeviceSimilarity == nil || *f.DeviceSimilarity != claimedSimilarity {
		t.Errorf("finding %+v, want the faces compared, central's match score below its threshold, the device's claim %g beside it",
			f, claimedSimilarity)
	}
	// The genuine approval was judged, not passed over for want of images.
	if n := strings.Count(c.log.Text(), "routed to review"); n != 1 || strings.Contains(c.log.Text(), "approval not rechecked") {
		t.Errorf("central logged %d routings, want the impostor's alone, and every approval rechecked:\n%s", n, c.log.Text())
	}
}

// claimedSimilarity is the face match every sealed approval claims.
const claimedSimilarity = 0.91

// sealApproval seals into the vault of the enrolled device folder dev, as
// the app and `kyc verify --submit` do (submission.Seal: the device's
// signed attestation, the risk version it decides under), an attempt of
// session whose result approves at a high score, claiming the selfie
// matches the document and is live, with front and selfie as its images.
// It returns the submission's id.
func sealApproval(t *testing.T, ctx context.Context, dev, session string, front, selfie []byte) string {
	t.Helper()
	d := deviceconf.FromEnv()
	d.Dir, d.KeyFile, d.Passphrase = dev, "", ""
	key, err := d.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, d.VaultPath(), key.Source, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	conf, err := d.Load(ctx, nil, v)
	if err != nil {
		t.Fatal(err)
	}
	rep := &verify.Report{Decision: risk.Approve, Score: 97, NextAction: risk.Exit,
		Face: verify.FaceReport{Match: &face.Decision{Similarity: claimedSimilarity, Decision: face.DecisionMatch},
			Liveness: &face.LivenessResult{Score: 0.98, Live: true}},
		Device: &device.Report{Verdict: device.VerdictOK, Profile: device.ProfileField, Time: time.Now().UTC()}}
	sealed, err := submission.Seal(ctx, v, d, submission.Attempt{Meta: submission.Meta{Session: session, Attempt: 1, Operator: "e2e"},
		AppVersion: "e2e", Report: rep, RiskVersion: conf.Risk.Version, Images: submission.Images{Front: front, Selfie: selfie}})
	if err != nil {
		t.Fatal(err)
	}
	return sealed.ID
}
