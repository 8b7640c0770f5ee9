package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
)

// screenedPayload is a device's approval whose lists central confirmed
// age before it screened, as the engine records their ages.
func screenedPayload(t *testing.T, at time.Time, age time.Duration) []byte {
	t.Helper()
	in := risk.Input{Signals: map[risk.SignalName]float64{}, Attempt: 1, Device: risk.DeviceOK,
		Screening: &risk.ScreeningData{At: at, Lists: []risk.WatchlistDates{{Name: "un", Published: at.AddDate(0, -1, 0), Confirmed: at.Add(-age)}}}}
	for _, s := range risk.Signals() {
		in.Signals[s] = 1
	}
	res, err := risk.Evaluate(risk.DefaultConfig(), in)
	if err != nil || res.Decision != risk.Approve {
		t.Fatalf("the engine decided %s (%v), want an approval", res.Decision, err)
	}
	b, err := json.Marshal(map[string]any{"session_id": "s", "attempt": 1, "report": map[string]any{
		"decision": res.Decision, "score": res.Score, "reasons": res.Reasons, "next_action": res.NextAction, "risk": res}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdminRiskScreeningMaxAge: the risk form edits screening_max_age_days
// (1 to 365, shown at its default, 7, when the published settings leave
// it out), through the four-eyes proposal like every other setting: the
// proposal's changes name it, and only the second admin's confirmation
// publishes it. Its preview decides past approvals again by the lists'
// ages they recorded, so a stricter limit shows the ones it sends to
// review. Set back to 7 it is left out of the document again, which
// devices of an earlier release still install.
func TestAdminRiskScreeningMaxAge(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	ada, bob := e.user(t, "ada", central.RoleAdmin), e.user(t, "bob", central.RoleAdmin)
	e.enrolDevice(t, "dev-1", "JKT", nil)
	now := time.Now().UTC()
	e.submit(t, "dev-1", "sub-3-days", screenedPayload(t, now.Add(-time.Hour), 72*time.Hour), now.Add(-time.Hour), now)
	e.submit(t, "dev-1", "sub-1-hour", screenedPayload(t, now.Add(-time.Hour), time.Hour), now.Add(-time.Hour), now)

	const field = `name="screening_max_age_days" type="number" min="1" max="365" step="1" value="%s"`
	if _, body := ada.get(t, "/console/risk"); !strings.Contains(body, strings.Replace(field, "%s", "7", 1)) {
		t.Fatalf("the form does not show the default maximum age:\n%.500s", between(body, `id="risk-form"`, `</form>`))
	}
	for _, bad := range []string{"0", "366", "-1", "", "2.5", "week"} {
		f := riskFormOf(risk.DefaultConfig(), "propose", "0")
		f.Set("screening_max_age_days", bad)
		resp, body := ada.post(t, "/console/risk", f)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "a whole number of days from 1 to 365") ||
			!strings.Contains(body, `href="#f-screening_max_age_days"`) {
			t.Errorf("%q days: %d, want 422 naming the field", bad, resp.StatusCode)
		}
	}

	strict := risk.DefaultConfig()
	strict.ScreeningMaxAgeDays = 2
	f := riskFormOf(strict, "preview", "0")
	resp, body := ada.post(t, "/console/risk", f)
	preview := html.UnescapeString(between(body, `id="risk-preview"`, `</section>`))
	if resp.StatusCode != http.StatusOK || !strings.Contains(preview, "Of the latest 2 submissions, 2 could be decided again; 1 would be decided differently.") ||
		!strings.Contains(preview, "sub-3-days") || strings.Contains(preview, "sub-1-hour") {
		t.Fatalf("the preview at 2 days (%d) does not send the approval with 3-day-old lists to review:\n%s", resp.StatusCode, preview)
	}

	f.Set("action", "propose")
	if resp, body := ada.post(t, "/console/risk", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("proposing: %d\n%.500s", resp.StatusCode, body)
	}
	if _, v, _ := e.store.Risk(ctx); v != 0 {
		t.Fatalf("a proposal alone published version %d", v)
	}
	_, body = bob.get(t, "/console/risk")
	diff := html.UnescapeString(between(body, `id="risk-proposal"`, `</table>`))
	if !strings.Contains(diff, "<th scope=\"row\">Maximum age of the watchlists (days)</th>\n      <td>7</td><td>2</td>") {
		t.Fatalf("the proposal's changes do not name the maximum age:\n%s", diff)
	}
	if resp, body := bob.post(t, "/console/risk/proposal/confirm", url.Values{"id": {e.pendingRisk(t).ID}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirming: %d\n%.500s", resp.StatusCode, body)
	}
	doc, v, err := e.store.Risk(ctx)
	if cfg, perr := risk.ParseConfig(doc); err != nil || perr != nil || v != 1 || cfg.ScreeningMaxAgeDays != 2 {
		t.Fatalf("published version %d %s (%v, %v), want screening_max_age_days 2", v, doc, err, perr)
	}
	if _, body := ada.get(t, "/console/risk"); !strings.Contains(body, strings.Replace(field, "%s", "2", 1)) {
		t.Error("the form does not show the published maximum age")
	}

	publishRisk(t, bob, ada, risk.DefaultConfig(), "1")
	if doc, v, err := e.store.Risk(ctx); err != nil || v != 2 || strings.Contains(string(doc), "screening_max_age_days") {
		t.Errorf("published version %d %s (%v), want the default left out", v, doc, err)
	}
}

// between is the part of s from the first start to the next end after it
// (the internal tests' between, for this package's).
func between(s, start, end string) string {
	_, s, _ = strings.Cut(s, start)
	s, _, _ = strings.Cut(s, end)
	return s
}
