package console

import (
	"context"
	"encoding/json"
	"html"
	"slices"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// submitDistrusted stores a case as central's ingest does when it does not
// trust the device's decision (decisioncheck.go): routed to review, the
// reason code first, the device's decision kept, and (unless doubt is
// nil) the device_decision_distrusted event with its detail.
func (e *env) submitDistrusted(t *testing.T, id, decision string, score float64, code string, doubt map[string]any) central.SubmissionRef {
	t.Helper()
	ctx := context.Background()
	pl := payload(t, "payload_device.json", id, func(m map[string]any) {
		r := m["report"].(map[string]any)
		r["decision"], r["score"] = decision, score
	})
	sum := central.Summarize(pl)
	sum.DeviceDecision, sum.Decision = sum.Decision, "review"
	sum.Reasons = slices.Insert(sum.Reasons, 0, code)
	now := e.clk.Now().UTC()
	sub := central.Submission{DeviceID: "dev-north", Key: protocol.SubmissionKey(id), ID: id, ManifestHash: []byte(id),
		CreatedAt: now, ReceivedAt: now, CompletedAt: now, Verdict: "ok", Payload: pl, Summary: &sum}
	if _, _, err := e.store.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	ref := central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
	if doubt != nil {
		after, _ := json.Marshal(doubt)
		if err := e.store.AppendAudit(ctx, central.AuditEvent{ID: httpx.NewRequestID(), At: now, Actor: "central",
			Action: central.AuditDecisionDistrusted, Subject: caseSubject(ref), After: after}); err != nil {
			t.Fatal(err)
		}
	}
	return ref
}

// TestDistrustedDecision: a case central sent to review because it did not
// trust the device's decision says so on its page, in words, with the
// bands and versions compared (from the audit event) or from the summary
// alone, in English and Indonesian; its reason code is explained among
// the reasons, in the queue and in the queue's reason filter.
func TestDistrustedDecision(t *testing.T) {
	f := newFixture(t)
	browsers := map[string]*browser{}
	for _, lang := range []string{"en", "id"} {
		b := f.browser()
		b.header.Set("Accept-Language", lang)
		b.signIn("rev1")
		f.clk.nextStep() // the next sign-in's code
		browsers[lang] = b
	}
	for _, tc := range []struct {
		name, decision string
		score          float64
		code           string
		doubt          map[string]any
		lang, want     string
	}{
		{"contradicts the bands", "approve", 10, central.ReasonDecisionContradictsBands,
			map[string]any{"reason": central.ReasonDecisionContradictsBands, "device_decision": "approve", "score": 10, "device_risk_version": 3, "risk_version": 3, "approve_min": 70},
			"en", "The device decided approve at score 10; central sent the case to review: the approval is outside the approve band (70-100) of risk configuration version 3, which the device reports in use."},
		{"in Indonesian", "approve", 10, central.ReasonDecisionContradictsBands,
			map[string]any{"reason": central.ReasonDecisionContradictsBands, "device_decision": "approve", "score": 10, "device_risk_version": 3, "risk_version": 3, "approve_min": 70},
			"id", "Perangkat memutuskan setujui dengan skor 10; pusat mengirim kasus ke tinjauan: persetujuan berada di luar rentang setuju (70-100) konfigurasi risiko versi 3"},
		{"an unknown risk version", "approve", 60.5, central.ReasonRiskVersionUnknown,
			map[string]any{"reason": central.ReasonRiskVersionUnknown, "device_decision": "approve", "score": 60.5, "risk_version": 0, "approve_min": 85},
			"en", "outside the approve band (85-100) of the current risk configuration version 0; the device's result does not name the version it was made under, and the device reports no version yet."},
		{"another risk version", "approve", 60.5, central.ReasonRiskVersionUnknown,
			map[string]any{"reason": central.ReasonRiskVersionUnknown, "device_decision": "approve", "score": 60.5, "device_risk_version": 2, "risk_version": 4, "approve_min": 85},
			"en", "current risk configuration version 4; the device's result does not name the version it was made under, and the device reports version 2."},
		{"the bands of the version decided under", "approve", 80, central.ReasonDecisionContradictsBands,
			map[string]any{"reason": central.ReasonDecisionContradictsBands, "device_decision": "approve", "score": 80, "device_risk_version": 1, "device_risk_version_from": "decision", "risk_version": 1, "approve_min": 85},
			"en", "the approval is outside the approve band (85-100) of risk configuration version 1, under which the device made it."},
		{"decided under a version central does not know", "approve", 87, central.ReasonRiskVersionUnknown,
			map[string]any{"reason": central.ReasonRiskVersionUnknown, "device_decision": "approve", "score": 87, "device_risk_version": 7, "device_risk_version_from": "decision", "risk_version": 2, "approve_min": 90},
			"en", "The device decided approve at score 87 under risk configuration version 7, whose bands central does not know; central sent the case to review: the approval is outside the approve band (90-100) of the current version 2."},
		{"decided under a version central does not know, in Indonesian", "approve", 87, central.ReasonRiskVersionUnknown,
			map[string]any{"reason": central.ReasonRiskVersionUnknown, "device_decision": "approve", "score": 87, "device_risk_version": 7, "device_risk_version_from": "decision", "risk_version": 2, "approve_min": 90},
			"id", "Perangkat memutuskan setujui dengan skor 87 dengan konfigurasi risiko versi 7, yang rentangnya tidak diketahui pusat"},
		{"an unknown decision", "approved", 99, central.ReasonDecisionUnknown,
			map[string]any{"reason": central.ReasonDecisionUnknown, "device_decision": "approved", "score": 99},
			"en", "The device decided “approved”, a decision the risk engine never gives; central sent the case to review."},
		{"central's engine finds another person", "approve", 97, central.ReasonCentralRecheckContradicts,
			map[string]any{"reason": central.ReasonCentralRecheckContradicts, "device_decision": "approve", "score": 97, "similarity": 0.0812, "match_score": 12.04,
				"match_threshold": 64.12, "liveness": 0.61, "liveness_threshold": 0.25, "device_similarity": 0.91, "device_liveness": 0.98},
			"en", "The device decided approve at score 97; central's own face engine, run on the submission's images, contradicts it and sent the case to review: the selfie does not match the document (similarity 0.081, the device claims 0.910; match score 12.0, below 64.1)."},
		{"central's engine finds a spoof, in Indonesian", "approve", 97, central.ReasonCentralRecheckContradicts,
			map[string]any{"reason": central.ReasonCentralRecheckContradicts, "device_decision": "approve", "score": 97, "similarity": 0.6, "match_score": 90,
				"match_threshold": 64.12, "liveness": 0.1, "liveness_threshold": 0.25},
			"id", "mesin wajah pusat sendiri, dijalankan pada gambar kiriman, membantahnya dan pusat mengirim kasus ke tinjauan: swafoto tidak hidup (liveness 0.100, di bawah 0.250; klaim perangkat tidak ada)."},
		{"central's engine finds no face", "approve", 97, central.ReasonCentralRecheckContradicts,
			map[string]any{"reason": central.ReasonCentralRecheckContradicts, "device_decision": "approve", "score": 97, "problem": "selfie: no_face: no face found in the image"},
			"en", "contradicts it and sent the case to review: it cannot use an image (selfie: no_face: no face found in the image)."},
		{"watchlist ages central did not confirm", "approve", 95, central.ReasonScreeningUnconfirmed,
			map[string]any{"reason": central.ReasonScreeningUnconfirmed, "device_decision": "approve", "score": 95,
				"screening": map[string]any{"config_served_at": "2026-11-02T08:30:00Z", "clock_offset_ms": 0, "lists": []map[string]any{{"name": "un"}, {"name": "ofac"}}}},
			"en", "The device decided approve at score 95 claiming central had confirmed its watchlists (un, ofac) more recently than central last served it its configuration (2026-11-02 08:30 UTC)"},
		{"watchlist ages from a device never served, in Indonesian", "approve", 95, central.ReasonScreeningUnconfirmed,
			map[string]any{"reason": central.ReasonScreeningUnconfirmed, "device_decision": "approve", "score": 95,
				"screening": map[string]any{"clock_offset_ms": 0, "lists": []map[string]any{{"name": "un"}}}},
			"id", "Perangkat memutuskan setujui dengan skor 95 dengan klaim bahwa pusat mengonfirmasi daftar pantauannya (un), padahal pusat tidak pernah memberinya konfigurasi"},
		{"an approval under a configuration put back", "approve", 95, central.ReasonConfigRolledBack,
			map[string]any{"reason": central.ReasonConfigRolledBack, "device_decision": "approve", "score": 95, "device_risk_version": 1,
				"rollback": map[string]any{"reported": map[string]any{"version": 2, "since": "2026-11-02T08:30:00Z"}, "decided_after": "2026-11-03T10:00:00Z"}},
			"en", "The device decided approve at score 95 under risk configuration version 1, after 2026-11-03 10:00 UTC, though it had reported version 2 in use since 2026-11-02 08:30 UTC"},
		{"a document expired before the capture", "approve", 95, central.ReasonClockDocExpired,
			map[string]any{"reason": central.ReasonClockDocExpired, "device_decision": "approve", "score": 95,
				"clock": map[string]any{"expiry_date": "2022-06-30", "made_after": "2026-11-03T10:00:00Z"}},
			"en", "The device decided approve at score 95 for a document that expired on 2022-06-30, yet the capture was made after 2026-11-03 10:00 UTC by central's clock"},
		{"a holder under age, in Indonesian", "approve", 95, central.ReasonClockHolderUnderage,
			map[string]any{"reason": central.ReasonClockHolderUnderage, "device_decision": "approve", "score": 95,
				"clock": map[string]any{"min_age": 18, "age_at_receipt": 16, "received_at": "2026-11-03T10:00:00Z"}},
			"id", "Perangkat memutuskan setujui dengan skor 95 untuk pemegang berusia 16 saat pusat menerima kiriman (2026-11-03 10:00 UTC), setelah pengambilan, di bawah usia minimum 18"},
		{"no audit event", "approve", 10, central.ReasonDecisionContradictsBands, nil,
			"en", "The device decided approve at score 10; central did not trust that decision and sent the case to review."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := f.submitDistrusted(t, "dd-"+strings.ReplaceAll(tc.name, " ", "-"), tc.decision, tc.score, tc.code, tc.doubt)
			b := browsers[tc.lang]
			p := b.get(caseHref(ref))
			if p.status != 200 || !strings.Contains(p.body, `id="device-distrusted"`) || !strings.Contains(p.body, html.EscapeString(tc.want)) {
				t.Fatalf("the case page (%d) does not say %q:\n%s", p.status, tc.want, between(p.body, `<dl class="kv">`, `</dl>`))
			}
			words := html.EscapeString(f.console.cat.t(tc.lang, "reason."+tc.code))
			if !strings.Contains(between(p.body, `id="central-reason"`, `</li>`), words) {
				t.Errorf("the reasons do not explain %s as %q", tc.code, words)
			}
			q := b.get("/console/queue")
			if !strings.Contains(q.body, caseHref(ref)) || !strings.Contains(q.body, `<abbr title="`+tc.code+`">`+words+`</abbr>`) {
				t.Errorf("the queue does not list the case with %s in words", tc.code)
			}
			if !strings.Contains(q.body, `<option value="`+tc.code+`"`) {
				t.Errorf("the queue's reason filter lacks %s", tc.code)
			}
		})
	}
	if p := browsers["en"].get(caseHref(f.review)); strings.Contains(p.body, `id="device-distrusted"`) || strings.Contains(p.body, `id="central-reason"`) {
		t.Error("a case whose decision is the device's says central distrusted it")
	}
}

// between is the part of s from the first start to the next end after it.
func between(s, start, end string) string {
	_, s, _ = strings.Cut(s, start)
	s, _, _ = strings.Cut(s, end)
	return s
}
