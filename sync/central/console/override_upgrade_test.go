package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// overrideFixture is a console on open's store with an admin "root" and
// partner "p1" (branch north), and told, which runs a webhook emitter and
// checks the decision events it wrote for p1 since told's last call
// ("session type decision").
func overrideFixture(t *testing.T, open opener) (f *fixture, told func(step string, want ...string)) {
	t.Helper()
	ctx := context.Background()
	f = newFixtureOn(t, open)
	f.addUser("root", central.RoleAdmin)
	if err := f.store.CreatePartner(ctx, central.Partner{ID: "p1", Name: "Bank", ClientID: "cli_p1", Branches: []string{"north"},
		CreatedAt: f.clk.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	em, err := webhook.NewEmitter(webhook.EmitterConfig{Store: f.store, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var seen int64
	return f, func(step string, want ...string) {
		t.Helper()
		if _, err := em.RunOnce(ctx); err != nil {
			t.Fatalf("%s: emitter: %v", step, err)
		}
		evs, err := f.store.Events(ctx, "p1", seen, central.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			seen = max(seen, ev.Seq)
			if ev.Type == central.EventSubmissionCompleted {
				continue
			}
			var b webhook.Body
			if err := json.Unmarshal(ev.Payload, &b); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.SessionID+" "+ev.Type+" "+b.Data.Decision)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the partner was told %q, want %q", step, got, want)
		}
	}
}

// TestPreReleaseOverrideDeclined: an override of a decided case proposed
// by a release that kept no Standing.Seq (the store holds it as that
// release wrote it) and declined after the upgrade restores the decision
// the partner was told, and tells it nothing: no second decision.changed.
// An override confirmed after it is told once. On bbolt and PostgreSQL.
func TestPreReleaseOverrideDeclined(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) opener{
		"bbolt":      func(*testing.T) opener { return boltStore },
		"postgresql": func(t *testing.T) opener { return pgStore(pgtest.StartT(t)) },
	} {
		t.Run(name, func(t *testing.T) {
			if name == "postgresql" && testing.Short() {
				t.Skip("starts PostgreSQL")
			}
			testPreReleaseOverrideDeclined(t, open(t))
		})
	}
}

func testPreReleaseOverrideDeclined(t *testing.T, open opener) {
	ctx := context.Background()
	f, told := overrideFixture(t, open)
	ref := f.engineDecided(t, "sess-old", "approve")
	bs := f.signedIn("rev1", "rev2", "root")
	rev1, rev2, root := bs[0], bs[1], bs[2]
	step := func(b *browser, action string, form url.Values) {
		t.Helper()
		f.clk.Advance(time.Second)
		b.get(caseHref(ref))
		if a := b.act(ref, action, form); a.status != http.StatusSeeOther {
			t.Fatalf("%s: %d, want %d", action, a.status, http.StatusSeeOther)
		}
	}
	told("submitted")
	step(rev1, "override", url.Values{"outcome": {"reject"}, "reason": {"document_forged"}, "note": {"the photo is pasted"}})
	step(root, "override/confirm", nil)
	told("override confirmed", "sess-old decision.changed reject")

	// rev2 proposes an approve as the release before Standing.Seq did:
	// the decision in force kept aside without the change that made it
	// final.
	f.clk.Advance(time.Second)
	now := f.clk.Now().UTC()
	if _, err := f.store.UpdateReview(ctx, ref, func(cs central.Case) (central.Review, central.AuditEvent, error) {
		rv := cs.Review
		rv.Standing = &central.Standing{Assignee: rv.Assignee, Outcome: rv.Outcome, Reason: rv.Reason,
			DecidedBy: rv.DecidedBy, DecidedAt: rv.DecidedAt, SecondBy: rv.SecondBy}
		rv.DecidedSeq = 0
		rv.State, rv.Assignee, rv.SecondBy = central.ReviewOverride, "rev2", ""
		rv.Outcome, rv.Reason, rv.DecidedBy, rv.DecidedAt = central.OutcomeApprove, "", "rev2", now
		rv.Note = appendNote(rv.Note, "rev2", "the issuer confirmed it")
		return rv, central.AuditEvent{ID: "ev-old-propose", At: now, Actor: "user:rev2", Action: AuditOverridePropose,
			Subject: caseSubject(ref)}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if rv := f.reviewOf(ref); rv.Standing == nil || rv.Standing.Seq != 0 || rv.Standing.Outcome != central.OutcomeReject {
		t.Fatalf("the pre-release proposal is stored as %+v", rv)
	}
	told("pre-release override read")
	step(rev1, "override/decline", url.Values{"note": {"not convinced"}})
	if rv := f.reviewOf(ref); rv.State != central.ReviewDecided || rv.Outcome != central.OutcomeReject {
		t.Fatalf("after the decline: %+v, want the confirmed reject", rv)
	}
	told("pre-release override declined")

	step(rev2, "override", url.Values{"outcome": {"approve"}, "note": {"the issuer confirmed it"}})
	step(root, "override/confirm", nil)
	told("override after it confirmed", "sess-old decision.changed approve")
}
