package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestDeviceScreeningAgesCheckedAgainstServing: the lists' ages a device's
// approval claims are checked against central's record of the last
// configuration it served that device, the only moment central confirms
// a device's lists. A device whose lists have not been confirmed for days
// (it has not synced its configuration) and claims them confirmed an hour
// before, a list confirmed at that serving which it did not name, or a
// confirmation by a device central never served: the approval goes to
// review, DEVICE_SCREENING_UNCONFIRMED first, audited. Honest claims
// stand, from a device offline for days and from one whose clock is hours
// off (its status reports the offset), and so does a result without ages
// (a device older than the check) or a decision that is not an approval.
// The audit event names the risk version the device decided under and the
// one whose bands central judged the approval by, as a doubt of the bands
// does, not version 0.
func TestDeviceScreeningAgesCheckedAgainstServing(t *testing.T) {
	const day = 24 * time.Hour
	type list struct {
		name      string
		confirmed time.Duration // after the serving (the device's clock less how fast it runs); -1: none (a list imported on the device)
		age       time.Duration // the age the result claims; 0: at - confirmed, as the engine writes it
	}
	cases := []struct {
		name     string
		never    bool          // the device never fetched a configuration
		upgraded bool          // the device synced before central recorded servings: only the upgrade's record
		later    time.Duration // how long after the serving the device screens and syncs
		fast     time.Duration // how far the device's clock is ahead of central's
		lists    []list
		noAges   bool
		decision string
		reason   string // the reason put first, when central distrusts the approval
	}{
		{name: "screened an hour after the serving", later: time.Hour, lists: []list{{"un", 0, 0}}},
		{name: "offline three days, honest ages", later: 3 * day, lists: []list{{"un", 0, 0}}},
		{name: "ten days later, claiming a confirmation an hour old", later: 10 * day, lists: []list{{"un", 10*day - time.Hour, 0}}, reason: central.ReasonScreeningUnconfirmed},
		{name: "ten days later, the age cut to an hour", later: 10 * day, lists: []list{{"un", 0, time.Hour}}, reason: central.ReasonScreeningUnconfirmed},
		{name: "a confirmation within the skew", later: time.Hour, lists: []list{{"un", 4 * time.Minute, 0}}},
		{name: "a device clock three hours fast", later: time.Hour, fast: 3 * time.Hour, lists: []list{{"un", 0, 0}}},
		{name: "a list central did not serve, confirmed at the serving", later: time.Hour, lists: []list{{"un", 0, 0}, {"invented", 0, 0}}, reason: central.ReasonScreeningUnconfirmed},
		{name: "a list withdrawn since, confirmed before the serving", later: time.Hour, lists: []list{{"un", 0, 0}, {"withdrawn", -2 * day, 0}}},
		{name: "a list imported on the device", later: 10 * day, lists: []list{{"local", -1, 0}}},
		{name: "never served a configuration", never: true, lists: []list{{"un", 0, 0}}, reason: central.ReasonScreeningUnconfirmed},
		{name: "a result without ages", later: 10 * day, noAges: true},
		{name: "synced before servings were recorded, lists confirmed until the upgrade", upgraded: true, later: time.Hour, lists: []list{{"un", 0, 0}, {"other", -day, 0}}},
		{name: "synced before servings were recorded, claiming a confirmation after the upgrade", upgraded: true, later: 10 * day, lists: []list{{"un", 10*day - time.Hour, 0}}, reason: central.ReasonScreeningUnconfirmed},
		{name: "a review with a false claim", later: 10 * day, lists: []list{{"un", 10*day - time.Hour, 0}}, decision: "review"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var store central.Store = openBolt(t)
			if i == 2 { // one on PostgreSQL, sealed, as kyc-central runs
				store = sealedPG(t)
			}
			var shift atomic.Int64 // how far central's clock is moved on
			now := func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
			c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store), Now: now})
			if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/un", []byte("name\n"), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("publishing a list: %d %+v", resp.StatusCode, e)
			}
			risked := c.publishRisk(t, `{"bands":{"approve_min":90,"review_min":50}}`)
			d := c.enrol(t)
			served := now()
			var challenge string
			switch {
			case tc.upgraded:
				if err := store.ServeConfig(context.Background(), d.id.DeviceID(), central.ConfigServing{At: served, ListsUnknown: true}); err != nil {
					t.Fatal(err)
				}
			case !tc.never:
				challenge = d.config(t).Challenge
			}
			shift.Add(int64(tc.later))
			at := now().Add(tc.fast) // the device's clock when it screens
			if tc.fast != 0 {
				st, _ := json.Marshal(protocol.DeviceStatus{ClockOffsetMS: -tc.fast.Milliseconds()})
				if resp, e := c.send(t, d.request(t, http.MethodPut, protocol.PathStatus, st, now()), nil); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("status: %d %+v", resp.StatusCode, e)
				}
			}
			sd := risk.ScreeningData{At: at}
			for _, l := range tc.lists {
				w := risk.WatchlistDates{Name: l.name, Published: served.Add(-30 * day)}
				if l.confirmed >= 0 {
					w.Confirmed = served.Add(tc.fast + l.confirmed)
				}
				sd.Lists = append(sd.Lists, w)
			}
			age := risk.DefaultConfig().ScreeningAge(sd)
			for j, l := range tc.lists {
				if l.age != 0 {
					age.Lists[j].Age = l.age
				}
			}
			decision := tc.decision
			if decision == "" {
				decision = "approve"
			}
			rr := map[string]any{"score": 95, "reasons": []any{}}
			if !tc.noAges {
				rr["screening"] = age
			}
			payload := map[string]any{"session_id": "s-1", "attempt": 1, "attestation": d.attestation(t, at, challenge), "risk_version": risked,
				"report": map[string]any{"decision": decision, "score": 95, "next_action": "EXIT", "risk": rr,
					"reasons": []map[string]any{{"code": "ALL_CHECKS_PASSED"}}}}
			if resp, e := c.send(t, d.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey("s-1-1")), d.sealedPayload(t, "s-1-1", payload, at), now()), nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("submission: %d %+v", resp.StatusCode, e)
			}
			ctx := context.Background()
			sub, err := c.Cfg.Store.Upload(ctx, d.id.DeviceID(), protocol.SubmissionKey("s-1-1"))
			if err != nil {
				t.Fatal(err)
			}
			events, err := c.Cfg.Store.Audit(ctx, central.AuditFilter{Action: central.AuditDecisionDistrusted})
			if err != nil {
				t.Fatal(err)
			}
			sum := sub.Summary
			if tc.reason == "" {
				if sum == nil || sum.Decision != decision || sum.DeviceDecision != "" || len(events) != 0 {
					t.Fatalf("recorded %+v (audit %d events: %s), want the device's %s to stand", sum, len(events), afters(events), decision)
				}
				return
			}
			if sum == nil || sum.Decision != "review" || sum.DeviceDecision != decision || len(sum.Reasons) == 0 || sum.Reasons[0] != tc.reason {
				t.Fatalf("recorded %+v, want review with %s first and the device's %s kept", sum, tc.reason, decision)
			}
			if len(events) != 1 {
				t.Fatalf("%d audit events, want one", len(events))
			}
			var doubt struct {
				Reason        string  `json:"reason"`
				DeviceVersion *int64  `json:"device_risk_version"`
				From          string  `json:"device_risk_version_from"`
				Version       *int64  `json:"risk_version"`
				ApproveMin    float64 `json:"approve_min"`
				Screening     struct {
					ServedAt time.Time `json:"config_served_at"`
					Lists    []struct {
						Name string `json:"name"`
					} `json:"lists"`
				} `json:"screening"`
			}
			if err := json.Unmarshal(events[0].After, &doubt); err != nil || doubt.Reason != tc.reason || len(doubt.Screening.Lists) != 1 ||
				tc.never != doubt.Screening.ServedAt.IsZero() {
				t.Errorf("audit event says %s (%v), want %s, one list and the serving compared", events[0].After, err, tc.reason)
			}
			if doubt.DeviceVersion == nil || *doubt.DeviceVersion != risked || doubt.From != "decision" ||
				doubt.Version == nil || *doubt.Version != risked || doubt.ApproveMin != 90 {
				t.Errorf("audit event says %s, want the device's risk version %d from its decision, judged by that version's bands (approve from 90)", events[0].After, risked)
			}
		})
	}
}

// afters are the events' After, for a failure's message.
func afters(evs []central.AuditEvent) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, string(e.After))
	}
	return out
}
