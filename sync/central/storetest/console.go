package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// The tests of this file are about what the review console keeps: device
// branches, the audit trail's hash chain, accounts and sessions, and the
// review queue over submissions' summaries. They hold for a plain store
// and one wrapped by seal.Store alike.

func consoleTests() []storeTest {
	return []storeTest{
		{"Branches", testBranches},
		{"AuditChain", testAuditChain},
		{"AuditConcurrent", testAuditConcurrent},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"SummaryRoundTrip", testSummaryRoundTrip},
		{"Reviews", testReviews},
		{"ReviewAbort", testReviewAbort},
		{"ReviewGoesWithSubmission", testReviewGoesWithSubmission},
		{"Queue", testQueue},
		{"QueueAfter", testQueueAfter},
		{"QueueTotal", testQueueTotal},
	}
}

func testBranches(t *testing.T, s central.Store) {
	ctx := context.Background()
	for _, tok := range []string{"jkt", "none", "own"} {
		branch := "jakarta-1"
		if tok == "none" {
			branch = ""
		}
		if err := s.CreateEnrollToken(ctx, central.EnrollToken{Hash: token(tok), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Branch: branch}); err != nil {
			t.Fatal(err)
		}
	}
	own := device("d3", t0.Add(3*time.Minute))
	own.Branch = "medan"
	for _, e := range []struct {
		tok string
		d   central.Device
	}{{"jkt", device("d1", t0.Add(time.Minute))}, {"none", device("d2", t0.Add(2*time.Minute))}, {"own", own}} {
		if err := s.Enroll(ctx, token(e.tok), e.d); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"d1": "jakarta-1", "d2": "", "d3": "medan"}
	check := func(when string) {
		t.Helper()
		for id, b := range want {
			if d, err := s.Device(ctx, id); err != nil || d.Branch != b {
				t.Errorf("%s: Device(%s).Branch = %q, %v; want %q", when, id, d.Branch, err, b)
			}
		}
		ds, err := s.Devices(ctx)
		if err != nil || len(ds) != 3 {
			t.Fatalf("Devices = %v, %v", ds, err)
		}
		for _, d := range ds {
			if d.Branch != want[d.ID] {
				t.Errorf("%s: Devices: %s in %q, want %q", when, d.ID, d.Branch, want[d.ID])
			}
		}
	}
	check("enrolled")
	if err := s.SetDeviceBranch(ctx, "d2", "surabaya"); err != nil {
		t.Fatal(err)
	}
	want["d2"] = "surabaya"
	check("moved")
	if err := s.SetDeviceBranch(ctx, "nope", "x"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("SetDeviceBranch(unknown) = %v, want ErrNotFound", err)
	}
}

// appendEvents appends n console events, one a minute from t0 + offset.
func appendEvents(t *testing.T, s central.Store, n int, offset time.Duration) {
	t.Helper()
	for i := range n {
		e := central.AuditEvent{ID: fmt.Sprint("ev", i), At: t0.Add(offset + time.Duration(i)*time.Minute), Actor: fmt.Sprint("user:u", i%2),
			Action: "case.claim", Subject: fmt.Sprintf("case:d%d/k%d", i%3, i), Before: []byte(`{"state": "open"}`), After: []byte(`{"state":"claimed" }`)}
		if err := s.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func verifyChain(t *testing.T, s central.Store, want int) {
	t.Helper()
	c, err := central.VerifyAuditChain(context.Background(), s, nil)
	if n := c.Events; err != nil || n != want {
		t.Errorf("VerifyAuditChain = %d, %v; want %d, nil", n, err, want)
	}
}

func testAuditChain(t *testing.T, s central.Store) {
	ctx := context.Background()
	verifyChain(t, s, 0)
	odd := central.AuditEvent{ID: "odd", At: t0.Add(1234567 * time.Nanosecond), Actor: "user:ana", Action: "user.update", Subject: "user:bob",
		Before: []byte("{\"role\":  \"reviewer\",\n \"scopes\": [ ]}"), After: []byte(`{"role":"admin","name":"\u00e9"}`), Refs: []string{"r1"}}
	if err := s.AppendAudit(ctx, odd); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, central.AuditEvent{ID: "bad", At: t0, Before: []byte("{not json")}); err == nil {
		t.Error("AppendAudit accepted a Before that is not JSON")
	}
	appendEvents(t, s, 6, time.Hour)
	verifyChain(t, s, 7)
	got, err := s.Audit(ctx, central.AuditFilter{Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("Audit = %v, %v", got, err)
	}
	e := got[0]
	if e.Seq != 1 || e.Prev != nil || len(e.Hash) != 32 || string(e.Before) != string(odd.Before) || string(e.After) != string(odd.After) ||
		!e.At.Equal(t0.Add(1234*time.Microsecond)) || e.Subject != "user:bob" || !slices.Equal(e.Refs, []string{"r1"}) {
		t.Errorf("first event = %+v\nbefore %q after %q", e, e.Before, e.After)
	}
	ids := func(f central.AuditFilter) string {
		t.Helper()
		got, err := s.Audit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, e := range got {
			if i > 0 && e.Seq <= got[i-1].Seq {
				t.Errorf("%+v: not in Seq order", f)
			}
			out = append(out, e.ID)
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		name string
		f    central.AuditFilter
		want string
	}{
		{"actor", central.AuditFilter{Actor: "user:u1"}, "[ev1 ev3 ev5]"},
		{"subject exact", central.AuditFilter{Subject: "case:d1/k4"}, "[ev4]"},
		{"subject prefix", central.AuditFilter{Subject: "case:d1/"}, "[ev1 ev4]"},
		{"subject kind", central.AuditFilter{Subject: "user:"}, "[odd]"},
		{"subject not a prefix", central.AuditFilter{Subject: "case:d1"}, "[]"},
		{"after seq", central.AuditFilter{AfterSeq: 5}, "[ev4 ev5]"},
		{"after seq and actor", central.AuditFilter{AfterSeq: 3, Actor: "user:u0", Limit: 1}, "[ev2]"},
		{"action", central.AuditFilter{Action: "user.update"}, "[odd]"},
		{"actor and action", central.AuditFilter{Actor: "user:u1", Action: "case.claim"}, "[ev1 ev3 ev5]"},
		{"actor and another's action", central.AuditFilter{Actor: "user:ana", Action: "case.claim"}, "[]"},
		{"actor from a time", central.AuditFilter{Actor: "user:u0", After: t0.Add(time.Hour + 90*time.Second)}, "[ev2 ev4]"},
		{"action after seq", central.AuditFilter{Action: "case.claim", AfterSeq: 5, Limit: 1}, "[ev4]"},
		{"unknown actor", central.AuditFilter{Actor: "user:u"}, "[]"},
	} {
		if got := ids(c.f); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	all, err := s.Audit(ctx, central.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// Retention: the first three go, the third becomes the anchor.
	if n, err := s.DeleteAuditBefore(ctx, t0.Add(time.Hour+90*time.Second)); err != nil || n != 3 {
		t.Fatalf("DeleteAuditBefore = %d, %v; want 3", n, err)
	}
	seq, hash, err := s.AuditAnchor(ctx)
	if err != nil || seq != 3 || string(hash) != string(all[2].Hash) {
		t.Errorf("AuditAnchor = %d %x, %v; want 3 %x", seq, hash, err, all[2].Hash)
	}
	verifyChain(t, s, 4)
	appendEvents(t, s, 2, 2*time.Hour)
	verifyChain(t, s, 6)
	if got := ids(central.AuditFilter{AfterSeq: 7}); got != "[ev0 ev1]" {
		t.Errorf("appended after retention: %s", got)
	}
	if got := ids(central.AuditFilter{Actor: "user:u0"}); got != "[ev2 ev4 ev0]" {
		t.Errorf("an actor's events after retention: %s", got)
	}
	if got := ids(central.AuditFilter{Action: "user.update"}); got != "[]" {
		t.Errorf("an action's events after retention deleted them: %s", got)
	}
	if n, err := s.DeleteAuditBefore(ctx, t0); err != nil || n != 0 {
		t.Errorf("DeleteAuditBefore of nothing = %d, %v", n, err)
	}
	if seq, _, _ := s.AuditAnchor(ctx); seq != 3 {
		t.Errorf("anchor moved to %d by deleting nothing", seq)
	}
}

func testAuditConcurrent(t *testing.T, s central.Store) {
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := central.AuditEvent{ID: fmt.Sprint(w, "-", i), At: t0, Actor: fmt.Sprint("w", w), Action: "test"}
				if err := s.AppendAudit(context.Background(), e); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	verifyChain(t, s, writers*each)
}

// RunAuditTamper checks that VerifyAuditChain finds an event changed in
// the store. tamper changes the stored event with that Seq behind the
// store's back (SQL, a raw bbolt write).
func RunAuditTamper(t *testing.T, open func(t *testing.T) central.Store, tamper func(t *testing.T, s central.Store, seq int64)) {
	s := open(t)
	t.Cleanup(func() { s.Close() })
	appendEvents(t, s, 5, 0)
	verifyChain(t, s, 5)
	tamper(t, s, 3)
	c, err := central.VerifyAuditChain(context.Background(), s, nil)
	var br *central.AuditBreak
	if !errors.As(err, &br) || br.Seq != 3 || c.Events != 2 || !errors.Is(err, central.ErrAuditChain) {
		t.Errorf("after tampering with 3: VerifyAuditChain = %d, %v; want a break at 3", c.Events, err)
	}
}

func testUsers(t *testing.T, s central.Store) {
	ctx := context.Background()
	ana := central.User{Name: "ana", Role: central.RoleReviewer, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Scopes: []string{"jakarta-1", "medan"}, Lang: "id", CreatedAt: t0}
	for _, u := range []central.User{ana, {Name: "Zed", Role: central.RoleAdmin, CreatedAt: t0}, {Name: "bob", Role: central.RoleAuditor, CreatedAt: t0}} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateUser(ctx, central.User{Name: "ana", Role: central.RoleAdmin}); !errors.Is(err, central.ErrUserExists) {
		t.Errorf("duplicate CreateUser = %v, want ErrUserExists", err)
	}
	got, err := s.User(ctx, "ana")
	if err != nil || got.Role != central.RoleReviewer || got.PasswordHash != ana.PasswordHash || !slices.Equal(got.Scopes, ana.Scopes) ||
		got.Lang != "id" || !got.CreatedAt.Equal(t0) {
		t.Errorf("User(ana) = %+v, %v", got, err)
	}
	if _, err := s.User(ctx, "nobody"); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("User(unknown) = %v, want ErrNotFound", err)
	}
	locked := t0.Add(15 * time.Minute)
	u, err := s.UpdateUser(ctx, "ana", func(u *central.User) error {
		u.FailedLogins, u.LockedUntil, u.TOTPSecret, u.LastTOTPStep = 5, locked, []byte("sealed-secret"), 12345
		u.SecondFactorFailures, u.SecondFactorBlocked = 100, true
		return nil
	})
	if err != nil || u.FailedLogins != 5 || !u.LockedUntil.Equal(locked) {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateUser(ctx, "ana", func(u *central.User) error { u.Disabled = true; return boom }); err != boom {
		t.Errorf("UpdateUser with fn failing = %v, want fn's error as is", err)
	}
	if _, err := s.UpdateUser(ctx, "nobody", func(*central.User) error { return nil }); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}
	got, err = s.User(ctx, "ana")
	if err != nil || got.Disabled || got.FailedLogins != 5 || !got.LockedUntil.Equal(locked) || string(got.TOTPSecret) != "sealed-secret" || got.LastTOTPStep != 12345 ||
		got.SecondFactorFailures != 100 || !got.SecondFactorBlocked {
		t.Errorf("after updates: %+v, %v", got, err)
	}
	us, err := s.Users(ctx)
	var names []string
	for _, u := range us {
		names = append(names, u.Name)
	}
	if err != nil || fmt.Sprint(names) != "[Zed ana bob]" {
		t.Errorf("Users = %v, %v; want [Zed ana bob]", names, err)
	}
}

func testSessions(t *testing.T, s central.Store) {
	ctx := context.Background()
	sess := func(h, user string, expires time.Duration) central.ConsoleSession {
		return central.ConsoleSession{Hash: []byte(h), User: user, CSRF: "csrf-" + h, CreatedAt: t0, ExpiresAt: t0.Add(expires), SeenAt: t0, Pending: h == "p"}
	}
	for _, cs := range []central.ConsoleSession{sess("a1", "ana", time.Hour), sess("a2", "ana", 2*time.Hour), sess("p", "ana", time.Hour), sess("b1", "bob", time.Hour)} {
		if err := s.PutSession(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Session(ctx, []byte("a1"), t0.Add(time.Minute))
	if err != nil || got.User != "ana" || got.CSRF != "csrf-a1" || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.Pending {
		t.Errorf("Session(a1) = %+v, %v", got, err)
	}
	if got, err := s.Session(ctx, []byte("p"), t0); err != nil || !got.Pending {
		t.Errorf("Session(p) = %+v, %v; want pending", got, err)
	}
	if _, err := s.Session(ctx, []byte("a1"), t0.Add(time.Hour)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("expired session = %v, want ErrNotFound", err)
	}
	// Seen again: replaced in place.
	seen := sess("a2", "ana", 2*time.Hour)
	seen.SeenAt = t0.Add(30 * time.Minute)
	if err := s.PutSession(ctx, seen); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, []byte("a2"), t0.Add(time.Hour)); err != nil || !got.SeenAt.Equal(seen.SeenAt) {
		t.Errorf("Session(a2) after PutSession = %+v, %v", got, err)
	}
	// Touched: only SeenAt changes; once deleted, a touch cannot bring
	// it back (a renewal racing the sign-out).
	touched := t0.Add(40 * time.Minute)
	if err := s.TouchSession(ctx, []byte("a2"), touched); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, []byte("a2"), t0.Add(time.Hour)); err != nil || !got.SeenAt.Equal(touched) || !got.ExpiresAt.Equal(seen.ExpiresAt) || got.User != "ana" {
		t.Errorf("Session(a2) after TouchSession = %+v, %v", got, err)
	}
	// Listed per user, live ones only (by ExpiresAt), oldest first, with
	// the id and client the account page shows.
	listed := sess("a3", "ana", 3*time.Hour)
	listed.CreatedAt, listed.ID, listed.Browser, listed.OS = t0.Add(-time.Minute), "id-a3", "Firefox", "Linux"
	if err := s.PutSession(ctx, listed); err != nil {
		t.Fatal(err)
	}
	list := func(user string, now time.Time) string {
		t.Helper()
		ss, err := s.UserSessions(ctx, user, now)
		if err != nil {
			t.Fatalf("UserSessions(%s): %v", user, err)
		}
		var out []string
		for _, cs := range ss {
			out = append(out, string(cs.Hash)+"/"+cs.ID+"/"+cs.Browser+"/"+cs.OS)
		}
		return fmt.Sprint(out)
	}
	if got, want := list("ana", t0.Add(time.Minute)), "[a3/id-a3/Firefox/Linux a1/// a2/// p///]"; got != want {
		t.Errorf("UserSessions(ana) = %s, want %s", got, want)
	}
	if got, want := list("ana", t0.Add(90*time.Minute)), "[a3/id-a3/Firefox/Linux a2///]"; got != want {
		t.Errorf("UserSessions(ana) later = %s, want %s (expired ones left out)", got, want)
	}
	if got, want := list("nobody", t0), "[]"; got != want {
		t.Errorf("UserSessions(nobody) = %s, want %s", got, want)
	}
	if err := s.DeleteSession(ctx, []byte("b1")); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, []byte("b1"), touched); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("TouchSession after DeleteSession = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, []byte("b1"), t0); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("a touch brought a deleted session back: %v", err)
	}
	if err := s.DeleteSession(ctx, []byte("b1")); err != nil {
		t.Errorf("deleting an absent session: %v", err)
	}
	if _, err := s.Session(ctx, []byte("b1"), t0); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("deleted session = %v", err)
	}
	if err := s.PutSession(ctx, sess("b2", "bob", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSessions(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]error{"a2": central.ErrNotFound, "a3": central.ErrNotFound, "p": central.ErrNotFound, "b2": nil} {
		if _, err := s.Session(ctx, []byte(h), t0); !errors.Is(err, want) {
			t.Errorf("after DeleteSessions(ana): Session(%s) = %v, want %v", h, err, want)
		}
	}
	if err := s.DeleteSessions(ctx, "nobody"); err != nil {
		t.Errorf("DeleteSessions(nobody) = %v", err)
	}
}

// summarised is a complete submission (no images) with a summary.
func summarised(dev, id string, received time.Time, sum *central.Summary) central.Submission {
	sub := decided(dev, id, received, nil)
	sub.Summary = sum
	return sub
}

func begin(t *testing.T, s central.Store, subs ...central.Submission) {
	t.Helper()
	for _, sub := range subs {
		if _, _, err := s.BeginSubmission(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
	}
}

func ref(sub central.Submission) central.SubmissionRef {
	return central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}
}

func testSummaryRoundTrip(t *testing.T, s central.Store) {
	ctx := context.Background()
	sum := &central.Summary{Decision: "review", Score: 0.42, Reasons: []string{"face_mismatch", "low_quality"}, NextAction: "manual_review",
		DocType: "ktp", Country: "IDN", SessionID: "sess-9", Attempt: 2, Hits: 1}
	with, without := summarised("d1", "with", t0, sum), summarised("d1", "without", t0, nil)
	begin(t, s, with, without)
	got, err := s.Upload(ctx, "d1", with.Key)
	if err != nil || got.Summary == nil || fmt.Sprint(*got.Summary) != fmt.Sprint(*sum) {
		t.Errorf("Upload(with).Summary = %+v, %v; want %+v", got.Summary, err, sum)
	}
	if got, err := s.Upload(ctx, "d1", without.Key); err != nil || got.Summary != nil {
		t.Errorf("Upload(without).Summary = %+v, %v; want nil", got.Summary, err)
	}
	c, err := s.Case(ctx, ref(with))
	if err != nil || fmt.Sprint(c.Summary) != fmt.Sprint(*sum) || c.ID != "with" || c.Verdict != "allow" || !c.ReceivedAt.Equal(t0) ||
		!c.CompletedAt.Equal(t0) || !c.CreatedAt.Equal(with.CreatedAt) {
		t.Errorf("Case = %+v, %v", c, err)
	}
	if c, err := s.Case(ctx, ref(without)); err != nil || c.Summary.Decision != "" {
		t.Errorf("Case(without) = %+v, %v", c, err)
	}
}

// claim is an fn for UpdateReview: who claims the case, recording it.
func claim(who string, at time.Time) func(central.Case) (central.Review, central.AuditEvent, error) {
	return func(c central.Case) (central.Review, central.AuditEvent, error) {
		rv := c.Review
		rv.State, rv.Assignee, rv.ClaimedAt = central.ReviewClaimed, who, at
		return rv, central.AuditEvent{ID: "claim-" + c.ID, At: at, Actor: "user:" + who, Action: "case.claim",
			Subject: "case:" + c.Ref.DeviceID + "/" + c.Ref.Key, Before: []byte(`{"state":"open"}`), After: []byte(`{"state":"claimed"}`)}, nil
	}
}

func testReviews(t *testing.T, s central.Store) {
	ctx := context.Background()
	sum := &central.Summary{Decision: "review", Reasons: []string{"face_mismatch"}}
	a, b, c := summarised("d1", "a", t0, sum), summarised("d2", "b", t0.Add(time.Minute), sum), summarised("d1", "c", t0.Add(2*time.Minute), sum)
	begin(t, s, a, b, c)
	got, err := s.Case(ctx, ref(a))
	if err != nil || got.Review.State != "" || got.Review.Version != 0 || got.Review.Seq != 0 {
		t.Errorf("untouched case: %+v, %v; want the zero Review", got.Review, err)
	}
	if _, err := s.Case(ctx, central.SubmissionRef{DeviceID: "d1", Key: "nope"}); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("Case(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateReview(ctx, central.SubmissionRef{DeviceID: "d1", Key: "nope"}, claim("ana", t0)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("UpdateReview(unknown) = %v, want ErrNotFound", err)
	}
	steps := []struct {
		sub          central.Submission
		who          string
		version, seq int64
	}{
		{a, "ana", 1, 1},
		{b, "bob", 1, 2},
		{a, "cid", 2, 3},
	}
	for _, st := range steps {
		var seen central.Case
		got, err := s.UpdateReview(ctx, ref(st.sub), func(c central.Case) (central.Review, central.AuditEvent, error) {
			seen = c
			return claim(st.who, t0.Add(time.Hour))(c)
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen.ID != st.sub.ID || seen.Review.Version != st.version-1 {
			t.Errorf("fn saw %q version %d, want %q version %d", seen.ID, seen.Review.Version, st.sub.ID, st.version-1)
		}
		if got.ID != st.sub.ID || got.Review.Assignee != st.who || got.Review.State != central.ReviewClaimed || got.Review.Version != st.version || got.Review.Seq != st.seq {
			t.Errorf("UpdateReview(%s by %s) = %q %+v; want version %d seq %d", st.sub.ID, st.who, got.ID, got.Review, st.version, st.seq)
		}
	}
	got, err = s.Case(ctx, ref(a))
	if err != nil || got.Review.Assignee != "cid" || got.Review.Version != 2 || got.Review.Seq != 3 || !got.Review.ClaimedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Case(a) = %+v, %v", got.Review, err)
	}
	verifyChain(t, s, 3)
	evs, err := s.Audit(ctx, central.AuditFilter{Subject: "case:d1/"})
	if err != nil || len(evs) != 2 || evs[0].ID != "claim-a" || evs[0].Actor != "user:ana" || string(evs[1].After) != `{"state":"claimed"}` {
		t.Errorf("audit of d1's cases = %+v, %v", evs, err)
	}
	changes := func(dev string, after int64, limit int) string {
		t.Helper()
		chs, err := s.ReviewChanges(ctx, dev, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ch := range chs {
			out = append(out, fmt.Sprintf("%s:%d", ch.ID, ch.Review.Seq))
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		dev   string
		after int64
		limit int
		want  string
	}{
		{"", 0, 0, "[b:2 a:3]"}, // each review's last change
		{"", 2, 0, "[a:3]"},
		{"", 0, 1, "[b:2]"},
		{"d1", 0, 0, "[a:3]"},
		{"d2", 0, 10, "[b:2]"},
		{"d2", 2, 10, "[]"},
		{"d9", 0, 10, "[]"},
	} {
		if got := changes(c.dev, c.after, c.limit); got != c.want {
			t.Errorf("ReviewChanges(%q, %d, %d) = %s, want %s", c.dev, c.after, c.limit, got, c.want)
		}
	}
}

func testReviewAbort(t *testing.T, s central.Store) {
	ctx := context.Background()
	a := summarised("d1", "a", t0, &central.Summary{Decision: "review"})
	begin(t, s, a)
	if _, err := s.UpdateReview(ctx, ref(a), claim("ana", t0)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []error{central.ErrClaimed, central.ErrStale, errors.New("other")} {
		_, err := s.UpdateReview(ctx, ref(a), func(c central.Case) (central.Review, central.AuditEvent, error) {
			return central.Review{State: central.ReviewDecided}, central.AuditEvent{ID: "never", At: t0, Action: "case.decide"}, want
		})
		if err != want {
			t.Errorf("UpdateReview with fn failing = %v, want %v as is", err, want)
		}
	}
	got, err := s.Case(ctx, ref(a))
	if err != nil || got.Review.State != central.ReviewClaimed || got.Review.Version != 1 || got.Review.Seq != 1 {
		t.Errorf("after aborted updates: %+v, %v", got.Review, err)
	}
	verifyChain(t, s, 1)
	if chs, err := s.ReviewChanges(ctx, "", 0, 0); err != nil || len(chs) != 1 || chs[0].Review.Seq != 1 {
		t.Errorf("ReviewChanges = %+v, %v", chs, err)
	}
	// The next change takes the next seq: an aborted one used none.
	if got, err := s.UpdateReview(ctx, ref(a), claim("bob", t0)); err != nil || got.Review.Seq != 2 || got.Review.Version != 2 {
		t.Errorf("UpdateReview after aborts = %+v, %v; want version 2 seq 2", got.Review, err)
	}
}

func testReviewGoesWithSubmission(t *testing.T, s central.Store) {
	ctx := context.Background()
	sum := &central.Summary{Decision: "review"}
	a, b := summarised("d1", "a", t0, sum), summarised("d1", "b", t0.Add(time.Minute), sum)
	begin(t, s, a, b)
	for _, sub := range []central.Submission{a, b} {
		if _, err := s.UpdateReview(ctx, ref(sub), claim("ana", t0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSubmission(ctx, "d1", a.Key); err != nil {
		t.Fatal(err)
	}
	// At the end of the claims' lease: a live claim would hold b back.
	if n, err := s.Expire(ctx, central.ExpireDecision, t0.Add(time.Hour), t0.Add(central.ClaimLease), 10); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v", n, err)
	}
	for _, sub := range []central.Submission{a, b} {
		if _, err := s.Case(ctx, ref(sub)); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("Case(%s) after erasure = %v, want ErrNotFound", sub.ID, err)
		}
	}
	if chs, err := s.ReviewChanges(ctx, "", 0, 0); err != nil || len(chs) != 0 {
		t.Errorf("ReviewChanges after erasure = %+v, %v", chs, err)
	}
	if cs, total, err := s.Queue(ctx, central.QueueFilter{}); err != nil || total != 0 || len(cs) != 0 {
		t.Errorf("Queue after erasure = %d cases, total %d, %v", len(cs), total, err)
	}
	// The same submission sent again once its tombstone is swept (the
	// device's attestation would be refused by then, but a restored backup
	// may hold it) is a new, untouched case.
	if _, err := s.Expire(ctx, central.ExpireErased, t0.Add(time.Hour), t0.Add(central.ClaimLease), 10); err != nil {
		t.Fatal(err)
	}
	begin(t, s, a)
	if c, err := s.Case(ctx, ref(a)); err != nil || c.Review.Version != 0 {
		t.Errorf("Case of a resent submission = %+v, %v", c.Review, err)
	}
}

// DefaultQueue is the console's queue page: cases waiting for a person.
var DefaultQueue = central.QueueFilter{
	States:    []central.ReviewState{central.ReviewOpen, central.ReviewClaimed, central.ReviewSecond},
	Decisions: []string{"review", "escalate"},
	Limit:     50,
}

func testQueue(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	sum := func(decision, doc, country string, reasons ...string) *central.Summary {
		return &central.Summary{Decision: decision, DocType: doc, Country: country, Reasons: reasons}
	}
	subs := []central.Submission{
		summarised("d1", "q1", at(1), sum("review", "ktp", "IDN", "face_mismatch", "low_quality")),
		summarised("d2", "q2", at(2), sum("escalate", "passport", "MYS", "sanctions_hit")),
		summarised("d1", "q3", at(3), sum("approve", "ktp", "IDN")),
		summarised("d2", "q4", at(4), sum("review", "passport", "IDN", "low_quality")),
		summarised("d3", "q5", at(5), sum("review", "ktp", "IDN", "face_mismatch")),
		summarised("d1", "q6", at(6), sum("reject", "ktp", "IDN", "doc_expired")),
		summarised("d3", "q7", at(7), nil), // stored before summaries
	}
	begin(t, s, subs...)
	// Still uploading: not in the queue.
	imgs := map[string][]byte{"selfie": image(1, 100)}
	uploading := decided("d1", "q8", at(8), imgs)
	uploading.Summary = sum("review", "ktp", "IDN")
	begin(t, s, uploading)
	set := func(sub central.Submission, rv central.Review) {
		t.Helper()
		_, err := s.UpdateReview(ctx, ref(sub), func(central.Case) (central.Review, central.AuditEvent, error) {
			return rv, central.AuditEvent{ID: "set-" + sub.ID, At: t0, Action: "test"}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	set(subs[4], central.Review{State: central.ReviewClaimed, Assignee: "ana"})
	set(subs[5], central.Review{State: central.ReviewDecided, Outcome: central.OutcomeReject, DecidedBy: "bob"})
	set(subs[3], central.Review{State: central.ReviewSecond, Assignee: "ana", Outcome: central.OutcomeApprove})
	withDefault := func(f func(*central.QueueFilter)) central.QueueFilter {
		q := DefaultQueue
		f(&q)
		return q
	}
	cases := []struct {
		name  string
		f     central.QueueFilter
		want  string
		total int
	}{
		{"everything", central.QueueFilter{}, "[q1 q2 q3 q4 q5 q6 q7]", 7},
		{"default", DefaultQueue, "[q1 q2 q4 q5]", 4},
		{"open", central.QueueFilter{States: []central.ReviewState{central.ReviewOpen}}, "[q1 q2 q3 q7]", 4},
		{"open to review", central.QueueFilter{States: []central.ReviewState{central.ReviewOpen}, Decisions: []string{"review", "escalate"}}, "[q1 q2]", 2},
		{"decided", central.QueueFilter{States: []central.ReviewState{central.ReviewDecided}}, "[q6]", 1},
		{"reason", withDefault(func(f *central.QueueFilter) { f.Reason = "face_mismatch" }), "[q1 q5]", 2},
		{"reason is a whole code", central.QueueFilter{Reason: "low"}, "[]", 0},
		{"reason anywhere", central.QueueFilter{Reason: "low_quality"}, "[q1 q4]", 2},
		{"devices", central.QueueFilter{DeviceIDs: []string{"d2", "d3"}}, "[q2 q4 q5 q7]", 4},
		{"doc type", central.QueueFilter{DocType: "passport"}, "[q2 q4]", 2},
		{"country", withDefault(func(f *central.QueueFilter) { f.Country = "MYS" }), "[q2]", 1},
		{"assignee", central.QueueFilter{Assignee: "ana"}, "[q4 q5]", 2},
		{"received window", central.QueueFilter{ReceivedAfter: at(3), ReceivedBefore: at(6)}, "[q3 q4 q5]", 3},
		{"newest", central.QueueFilter{Newest: true}, "[q7 q6 q5 q4 q3 q2 q1]", 7},
		{"newest before", central.QueueFilter{Newest: true, ReceivedBefore: at(5)}, "[q4 q3 q2 q1]", 4},
		{"newest window", central.QueueFilter{Newest: true, ReceivedAfter: at(2), ReceivedBefore: at(5)}, "[q4 q3 q2]", 3},
		{"page 1", withDefault(func(f *central.QueueFilter) { f.Limit = 2 }), "[q1 q2]", 4},
		{"page 2", withDefault(func(f *central.QueueFilter) { f.Limit, f.Offset = 2, 2 }), "[q4 q5]", 4},
		{"past the end", withDefault(func(f *central.QueueFilter) { f.Limit, f.Offset = 2, 10 }), "[]", 4},
		{"newest paged", central.QueueFilter{Newest: true, Limit: 2, Offset: 1}, "[q6 q5]", 7},
		{"nothing", central.QueueFilter{Country: "XXX"}, "[]", 0},
		{"uncounted", central.QueueFilter{Newest: true, Limit: 2, Offset: 1, Uncounted: true}, "[q6 q5]", -1},
		{"uncounted past the end", withDefault(func(f *central.QueueFilter) { f.Limit, f.Offset, f.Uncounted = 2, 10, true }), "[]", -1},
	}
	for _, c := range cases {
		got, total, err := s.Queue(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var ids []string
		for _, cs := range got {
			ids = append(ids, cs.ID)
		}
		if fmt.Sprint(ids) != c.want || total != c.total {
			t.Errorf("%s: %v total %d, want %s total %d", c.name, ids, total, c.want, c.total)
		}
	}
	// Reviewed while its images arrive: in the queue, as reviewed, once
	// complete.
	set(uploading, central.Review{State: central.ReviewClaimed, Assignee: "cid"})
	if cs, total, err := s.Queue(ctx, central.QueueFilter{Assignee: "cid"}); err != nil || total != 0 {
		t.Errorf("an upload in the queue: %+v, %v", cs, err)
	}
	if _, err := appendChunk(t, s, uploading, "selfie", 0, imgs["selfie"]); err != nil {
		t.Fatal(err)
	}
	if cs, total, err := s.Queue(ctx, central.QueueFilter{Assignee: "cid", States: []central.ReviewState{central.ReviewClaimed}}); err != nil || total != 1 || cs[0].ID != "q8" {
		t.Errorf("completed upload reviewed by cid: %+v total %d, %v", cs, total, err)
	}
	got, _, err := s.Queue(ctx, central.QueueFilter{Assignee: "ana", States: []central.ReviewState{central.ReviewClaimed}})
	if err != nil || len(got) != 1 {
		t.Fatalf("claimed by ana = %+v, %v", got, err)
	}
	q5 := got[0]
	if q5.Ref != ref(subs[4]) || q5.Review.Version != 1 || q5.Summary.Decision != "review" || !slices.Equal(q5.Summary.Reasons, []string{"face_mismatch"}) ||
		!q5.CompletedAt.Equal(at(5)) || q5.Verdict != "allow" {
		t.Errorf("queue case = %+v", q5)
	}
}

// testQueueAfter: paging by the last case of the page before (After) lists
// what one call lists, in both orders, across cases received at the same
// time, within a window and a filter, without counting past the page; a
// page after a case since deleted goes on from where it was.
func testQueueAfter(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var subs []central.Submission
	for i := range 12 {
		decision := []string{"review", "approve", "escalate"}[i%3]
		// Three at each minute, from three devices, in no order of key.
		subs = append(subs, summarised(fmt.Sprint("d", 3-i%3), fmt.Sprintf("k%02d", (i*7)%12), at(i/3), &central.Summary{Decision: decision}))
	}
	begin(t, s, subs...)
	ids := func(cs []central.Case) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	for _, f := range []central.QueueFilter{
		{},
		{Newest: true},
		{Decisions: []string{"review", "escalate"}},
		{Decisions: []string{"review", "escalate"}, Newest: true},
		{ReceivedAfter: at(1), ReceivedBefore: at(3)},
		{ReceivedAfter: at(1), ReceivedBefore: at(3), Newest: true},
	} {
		all, total, err := s.Queue(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var paged []central.Case
		p := f
		p.Limit = 2
		for range 20 {
			page, n, err := s.Queue(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if p.After != nil && n != -1 {
				t.Errorf("%+v: a page after a case counted %d", p, n)
			}
			paged = append(paged, page...)
			if len(page) < p.Limit {
				break
			}
			p.After = &page[len(page)-1]
		}
		if fmt.Sprint(ids(paged)) != fmt.Sprint(ids(all)) || total != len(all) {
			t.Errorf("%+v: paged %v, want %v (total %d)", f, ids(paged), ids(all), total)
		}
	}
	all, _, err := s.Queue(ctx, central.QueueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubmission(ctx, all[4].Ref.DeviceID, all[4].Ref.Key); err != nil {
		t.Fatal(err)
	}
	page, _, err := s.Queue(ctx, central.QueueFilter{After: &all[4], Limit: 2})
	if err != nil || fmt.Sprint(ids(page)) != fmt.Sprint(ids(all[5:7])) {
		t.Errorf("after a deleted case: %v, %v; want %v", ids(page), err, ids(all[5:7]))
	}
}

// testQueueTokens checks Queue's Tokens filter on a plain store given
// Seals (RunStorage).
func testQueueTokens(t *testing.T, s central.Store) {
	ctx := context.Background()
	sum := &central.Summary{Decision: "review"}
	mk := func(id string, m int, tokens ...string) central.Submission {
		return sealed(summarised("d1", id, t0.Add(time.Duration(m)*time.Minute), sum), "kek-1", tokens...)
	}
	approved := mk("e", 5, "nik-1")
	approved.Summary = &central.Summary{Decision: "approve"}
	uploading := sealed(decided("d1", "f", t0.Add(6*time.Minute), map[string][]byte{"selfie": image(1, 100)}), "kek-1", "nik-1")
	uploading.Summary = sum
	begin(t, s, mk("a", 1, "nik-1", "name-1"), mk("b", 2, "nik-2", "name-1"), mk("c", 3, "nik-1", "name-2"), mk("d", 4), approved, uploading)
	for _, c := range []struct {
		tokens []string
		want   string
	}{
		{[]string{"nik-1"}, "[a c e]"},
		{[]string{"name-1"}, "[a b]"},
		{[]string{"nik-1", "name-1"}, "[a]"},
		{[]string{"nik-2", "name-2"}, "[]"},
		{[]string{"unknown"}, "[]"},
	} {
		f := central.QueueFilter{}
		for _, tok := range c.tokens {
			f.Tokens = append(f.Tokens, []byte(tok))
		}
		got, total, err := s.Queue(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, cs := range got {
			ids = append(ids, cs.ID)
			if cs.Seal == nil || cs.Seal.KeyID != "kek-1" || string(cs.Seal.Key) != "wrapped:"+cs.ID {
				t.Errorf("case %s: Seal %+v", cs.ID, cs.Seal)
			}
		}
		if fmt.Sprint(ids) != c.want || total != len(ids) {
			t.Errorf("tokens %v: %v total %d, want %s", c.tokens, ids, total, c.want)
		}
	}
	// One person's cases ordered, filtered and paged as the queue is.
	all, _, err := s.Queue(ctx, central.QueueFilter{Tokens: [][]byte{[]byte("nik-1")}})
	if err != nil || len(all) != 3 {
		t.Fatalf("nik-1's cases = %d, %v", len(all), err)
	}
	for _, c := range []struct {
		name  string
		f     central.QueueFilter
		want  string
		total int
	}{
		{"newest", central.QueueFilter{Newest: true}, "[e c a]", 3},
		{"decision", central.QueueFilter{Decisions: []string{"review"}}, "[a c]", 2},
		{"window", central.QueueFilter{ReceivedAfter: t0.Add(2 * time.Minute), ReceivedBefore: t0.Add(5 * time.Minute)}, "[c]", 1},
		{"page 2", central.QueueFilter{Limit: 1, Offset: 1}, "[c]", 3},
		{"after", central.QueueFilter{Limit: 1, After: &all[0]}, "[c]", -1},
		{"newest after", central.QueueFilter{Newest: true, Limit: 1, After: &all[2]}, "[c]", -1},
	} {
		c.f.Tokens = [][]byte{[]byte("nik-1")}
		got, total, err := s.Queue(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, cs := range got {
			ids = append(ids, cs.ID)
		}
		if fmt.Sprint(ids) != c.want || total != c.total {
			t.Errorf("nik-1, %s: %v total %d, want %s total %d", c.name, ids, total, c.want, c.total)
		}
	}
}

// CheckQueueTotals checks that the total Queue gives for filters of states
// and decisions (which a store may count apart from the queue) is the
// number of cases it lists, and the same as a filter it walks for.
func CheckQueueTotals(t *testing.T, s central.Store, when string) {
	t.Helper()
	ctx := context.Background()
	waiting := DefaultQueue.States
	for _, f := range []central.QueueFilter{
		{},
		{States: waiting, Decisions: DefaultQueue.Decisions},
		{States: waiting, Decisions: DefaultQueue.Decisions, Newest: true, Limit: 1, Offset: 1},
		{States: []central.ReviewState{central.ReviewOpen}},
		{States: []central.ReviewState{central.ReviewClaimed, central.ReviewDecided}},
		{Decisions: []string{"escalate", ""}},
	} {
		all := f
		all.Limit, all.Offset = central.MaxListLimit, 0
		cases, total, err := s.Queue(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		// From the beginning of time: a filter every case passes, but
		// not of states and decisions alone.
		walked := f
		walked.ReceivedAfter = time.Unix(0, 0)
		_, wtotal, err := s.Queue(ctx, walked)
		if err != nil {
			t.Fatal(err)
		}
		_, ftotal, err := s.Queue(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if total != len(cases) || ftotal != len(cases) || wtotal != len(cases) {
			t.Errorf("%s: Queue(%+v) lists %d cases, totals %d, %d paged, %d walked", when, f, len(cases), total, ftotal, wtotal)
		}
	}
}

// testQueueTotal: the queue's total follows every change of the queue:
// submissions completing, reviews moving through their states and back,
// deletion and retention.
func testQueueTotal(t *testing.T, s central.Store) {
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var subs []central.Submission
	for i := range 9 {
		subs = append(subs, summarised(fmt.Sprint("d", i%2), fmt.Sprint("t", i), at(i), &central.Summary{Decision: []string{"review", "escalate", "approve"}[i%3]}))
	}
	subs = append(subs, summarised("d1", "nosummary", at(9), nil))
	begin(t, s, subs...)
	CheckQueueTotals(t, s, "stored")
	imgs := map[string][]byte{"selfie": image(1, 100)}
	uploading, closed := decided("d1", "up", at(10), imgs), decided("d1", "closed", at(11), imgs)
	uploading.Summary, closed.Summary = &central.Summary{Decision: "escalate"}, &central.Summary{Decision: "review"}
	begin(t, s, uploading, closed)
	// Claimed while its images arrive, then complete.
	if _, err := s.UpdateReview(ctx, ref(uploading), claim("ana", at(10))); err != nil {
		t.Fatal(err)
	}
	CheckQueueTotals(t, s, "uploading")
	if _, err := appendChunk(t, s, uploading, "selfie", 0, imgs["selfie"]); err != nil {
		t.Fatal(err)
	}
	CheckQueueTotals(t, s, "uploaded")
	set := func(sub central.Submission, st central.ReviewState) {
		t.Helper()
		_, err := s.UpdateReview(ctx, ref(sub), func(c central.Case) (central.Review, central.AuditEvent, error) {
			rv := c.Review
			rv.State = st
			return rv, central.AuditEvent{ID: fmt.Sprint("set-", sub.ID, "-", c.Review.Version), At: t0, Action: "test"}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, st := range []central.ReviewState{central.ReviewClaimed, central.ReviewSecond, central.ReviewDecided, central.ReviewOpen, central.ReviewClaimed} {
		set(subs[i%4], st)
		set(subs[9], st)
		CheckQueueTotals(t, s, fmt.Sprint("set ", st))
	}
	if err := s.DeleteSubmission(ctx, subs[0].DeviceID, subs[0].Key); err != nil {
		t.Fatal(err)
	}
	CheckQueueTotals(t, s, "deleted")
	// Retention closes the upload (complete, in the queue) and takes the
	// decisions of the first hours, but for subs[1]'s, waiting in second
	// review (held back).
	if _, err := s.Expire(ctx, central.ExpireImages, at(12), at(12), 10); err != nil {
		t.Fatal(err)
	}
	CheckQueueTotals(t, s, "images expired")
	if _, err := s.Expire(ctx, central.ExpireDecision, at(4), at(12), 10); err != nil {
		t.Fatal(err)
	}
	CheckQueueTotals(t, s, "decisions expired")
	if _, total, err := s.Queue(ctx, central.QueueFilter{}); err != nil || total != 9 {
		t.Errorf("Queue at the end: total %d, %v; want 9", total, err)
	}
}
