package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
)

// stepStore records the store calls the console makes and, for the
// budgets, the keys it spends and reads.
type stepStore struct {
	central.Store
	mu    sync.Mutex
	steps []string
	keys  []string
}

func (s *stepStore) step(name, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, name)
	if key != "" {
		s.keys = append(s.keys, key)
	}
}

// take returns the steps recorded since the last take.
func (s *stepStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.steps
	s.steps = nil
	return out
}

func (s *stepStore) User(ctx context.Context, name string) (central.User, error) {
	s.step("User", "")
	return s.Store.User(ctx, name)
}

func (s *stepStore) UpdateUser(ctx context.Context, name string, fn func(*central.User) error) (central.User, error) {
	s.step("UpdateUser", "")
	return s.Store.UpdateUser(ctx, name, fn)
}

func (s *stepStore) AppendAudit(ctx context.Context, e central.AuditEvent) error {
	s.step("AppendAudit", "")
	return s.Store.AppendAudit(ctx, e)
}

func (s *stepStore) SpendBudget(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (bool, time.Duration, error) {
	s.step("SpendBudget", key)
	return s.Store.SpendBudget(ctx, key, now, interval, burst)
}

func (s *stepStore) BudgetWait(ctx context.Context, key string, now func() time.Time, interval time.Duration, burst int) (time.Duration, error) {
	s.step("BudgetWait", key)
	return s.Store.BudgetWait(ctx, key, now, interval, burst)
}

// TestSignInSameSteps: a refused sign-in takes the same store steps
// whether the name is nobody's, the password wrong, the account disabled
// or locked, or the account locked at this address; so the time a refusal
// takes tells none of them apart (user enumeration). And the name as
// typed, which may be a password typed into the wrong field, is never a
// key the store keeps.
func TestSignInSameSteps(t *testing.T) {
	var rec *stepStore
	e := newEnvWrapped(t, func(s central.Store) central.Store {
		rec = &stepStore{Store: s}
		return rec
	})
	for _, name := range []string{"wrongpw", "disabled", "locked", "pairlocked"} {
		e.addUser(name, central.RoleReviewer)
	}
	ctx := context.Background()
	if _, err := e.store.UpdateUser(ctx, "disabled", func(u *central.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, "locked", func(u *central.User) error {
		u.LockedUntil = e.clk.Now().Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Each attempt from an address of its own: the address's budget and
	// each pair start alike.
	attempt := func(ip, name, pw string) []string {
		t.Helper()
		b := e.browserFrom(ip)
		b.get("/console/signin")
		rec.take()
		if a := b.post("/console/signin", url.Values{"name": {name}, "password": {pw}}); a.status != http.StatusUnauthorized {
			t.Fatalf("sign-in of %q: %d, want 401", name, a.status)
		}
		return rec.take()
	}
	// pairlocked's pair at 127.0.0.9 is locked by MaxFailures wrong
	// passwords first.
	for range auth.MaxFailures {
		attempt("127.0.0.9", "pairlocked", "wrong password here")
	}
	typed := "Correct Horse Battery Staple 42"
	cases := []struct{ ip, name, pw string }{
		{"127.0.0.2", typed, testPassword},
		{"127.0.0.3", "wrongpw", "wrong password here"},
		{"127.0.0.4", "disabled", testPassword},
		{"127.0.0.5", "locked", testPassword},
		{"127.0.0.9", "pairlocked", testPassword},
	}
	var want []string
	for i, tc := range cases {
		got := attempt(tc.ip, tc.name, tc.pw)
		if i == 0 {
			want = got
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("refused sign-in of %s took the steps\n%v\nan unknown name's are\n%v", tc.name, got, want)
		}
	}
	// An unknown name's pair locks as a known one's, audited without it.
	for range auth.MaxFailures {
		attempt("127.0.0.6", typed, testPassword)
	}
	evs, err := e.store.Audit(ctx, central.AuditFilter{Action: AuditLocked})
	if err != nil {
		t.Fatal(err)
	}
	unknownLocks := 0
	for _, ev := range evs {
		if strings.Contains(string(ev.After), typed) || strings.Contains(ev.Subject, typed) {
			t.Errorf("an audit event holds the name as typed: %+v", ev)
		}
		if ev.Subject == "signin" && strings.Contains(string(ev.After), `"address":"127.0.0.6"`) {
			unknownLocks++
		}
	}
	if unknownLocks != 1 {
		t.Errorf("%d audited locks of the unknown name's pair, want 1", unknownLocks)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, k := range rec.keys {
		if strings.Contains(strings.ToLower(k), strings.ToLower(typed)) || strings.Contains(k, "wrongpw") {
			t.Errorf("a budget key holds the name as typed: %q", k)
		}
	}
	if len(rec.keys) == 0 {
		t.Error("no budget recorded")
	}
}
