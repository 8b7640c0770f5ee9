package partnerapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// authFailBurst is the partner API's failure burst per address.
const authFailBurst = 20

// hostedStore is a raw store with the hosted flow's state, as
// centraltest's.
type hostedStore interface {
	central.Store
	central.HostedStates
}

// gatedLookups holds every credential lookup (a client id's partner, a
// token) at its gate.
type gatedLookups struct {
	hostedStore
	centraltest.Gate
}

func (g *gatedLookups) PartnerByClientID(ctx context.Context, clientID string) (central.Partner, error) {
	g.Arrive()
	return g.hostedStore.PartnerByClientID(ctx, clientID)
}

func (g *gatedLookups) PartnerTokenByHash(ctx context.Context, hash []byte, now time.Time) (central.PartnerToken, error) {
	g.Arrive()
	return g.hostedStore.PartnerTokenByHash(ctx, hash, now)
}

// TestAuthBudgetAtOnce: wrong credentials sent all at once from one
// address get no more lookups than the address's failure burst (20); the
// rest are 429. Each lookup here waits until every request is in, so a
// budget read before the lookup and spent after it let all of them
// through. A partner's own credentials, made here, are not charged: it may
// call Generate Partner Token before every request.
func TestAuthBudgetAtOnce(t *testing.T) {
	const n, burst = 40, authFailBurst
	for _, tc := range []struct {
		name string
		r    func(clientID string) req
	}{
		{"pass key", func(clientID string) req {
			return req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": clientID, "pass_key": "pk_guess"}}
		}},
		{"partner token", func(string) req {
			return req{method: "GET", path: "/api/v1/flows/x", token: "ptk_guess"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &gatedLookups{}
			e := newEnv(t, func(t testing.TB) central.Store {
				g.hostedStore = centraltest.BoltStore(t).(hostedStore)
				return g
			})
			c := e.addPartner("Acme")
			for range 3 * burst { // its own: never charged
				tok := e.token(c.ClientID, c.PassKey).Token
				e.must(http.StatusNotFound, e.do(req{method: "GET", path: "/api/v1/flows/x", token: tok}))
			}
			codes := g.AtOnce(n, func() (string, bool) {
				a := e.do(tc.r(c.ClientID))
				return http.StatusText(a.status), a.status != http.StatusTooManyRequests
			})
			if codes[http.StatusText(http.StatusUnauthorized)] != burst || codes[http.StatusText(http.StatusTooManyRequests)] != n-burst {
				t.Errorf("%d wrong credentials at once: %v, want %d looked up (401) and the rest 429", n, codes, burst)
			}
		})
	}
}

// TestExpiredTokenNotAFailure: a client that keeps sending its expired
// token is told token_expired each time, not 429: the token is no guess,
// and its address can still get a new one.
func TestExpiredTokenNotAFailure(t *testing.T) {
	e := newEnv(t, boltStore)
	c := e.addPartner("Acme")
	tok := e.token(c.ClientID, c.PassKey).Token
	e.clk.Advance(partnerapi.DefaultTokenTTL + time.Minute)
	for i := range 2 * authFailBurst {
		a := e.do(req{method: "GET", path: "/api/v1/flows/x", token: tok})
		if a.status != http.StatusUnauthorized || a.code(t) != "token_expired" {
			t.Fatalf("the expired token's use %d: %d %s, want 401 token_expired", i+1, a.status, a.body)
		}
	}
	e.token(c.ClientID, c.PassKey)
}

// TestStaleCredentialsNotGuesses: a credential central made that no
// longer works (a token expired and cleared from the store by the
// partner's next one, a token or pass key of a disabled partner, a pass
// key rotated out, a token that ended with it) is no guess: a partner
// backend that keeps sending it is told so each time and spends nothing
// of its address's failure budget, which its neighbours behind the same
// NAT share. A guesser from that address still gets exactly the burst of
// failures (a guessed token in a central token's shape too), then 429.
func TestStaleCredentialsNotGuesses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stale makes the credential stale and returns the request
		// sending it and the code it is answered.
		stale func(e *env, c partnerapi.Created) (req, string)
	}{
		{"expired token, cleared", func(e *env, c partnerapi.Created) (req, string) {
			tok := e.token(c.ClientID, c.PassKey).Token
			e.clk.Advance(partnerapi.DefaultTokenTTL + time.Minute)
			e.token(c.ClientID, c.PassKey) // the next token clears the expired one
			return req{method: "GET", path: "/api/v1/flows/x", token: tok}, "token_expired"
		}},
		{"disabled partner's token", func(e *env, c partnerapi.Created) (req, string) {
			tok := e.token(c.ClientID, c.PassKey).Token
			e.disable(c.Partner.ID)
			return req{method: "GET", path: "/api/v1/flows/x", token: tok}, "unauthorized"
		}},
		{"disabled partner's pass key", func(e *env, c partnerapi.Created) (req, string) {
			e.disable(c.Partner.ID)
			return req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}}, "invalid_credentials"
		}},
		{"rotated-out pass key and its token", func(e *env, c partnerapi.Created) (req, string) {
			tok := e.token(c.ClientID, c.PassKey).Token
			e.must(http.StatusOK, e.do(req{method: "POST", path: "/admin/v1/partners/" + c.Partner.ID + "/rotate-key", admin: true,
				body: map[string]any{"overlap_seconds": 1}}))
			e.clk.Advance(time.Minute)
			for range authFailBurst {
				a := e.do(req{method: "GET", path: "/api/v1/flows/x", token: tok})
				if a.status != http.StatusUnauthorized || a.code(t) != "token_expired" {
					t.Fatalf("the revoked token: %d %s, want 401 token_expired", a.status, a.body)
				}
			}
			return req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": c.PassKey}}, "invalid_credentials"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, boltStore)
			c := e.addPartner("Acme")
			r, code := tc.stale(e, c)
			for i := range 3 * authFailBurst {
				a := e.do(r)
				if a.status != http.StatusUnauthorized || a.code(t) != code {
					t.Fatalf("the stale credential's use %d: %d %s, want 401 %s", i+1, a.status, a.body, code)
				}
			}
			// The address's budget is whole: a guesser gets the burst, then 429.
			forged := "ptk_" + strings.Repeat("A", 65)
			for i := range authFailBurst + 1 {
				a := e.do(req{method: "GET", path: "/api/v1/flows/x", token: forged})
				want := http.StatusUnauthorized
				if i == authFailBurst {
					want = http.StatusTooManyRequests
				}
				if a.status != want {
					t.Fatalf("guess %d after the stale credential's uses: %d %s, want %d", i+1, a.status, a.body, want)
				}
			}
		})
	}
}

// disable disables a partner through the admin API.
func (e *env) disable(id string) {
	e.t.Helper()
	e.must(http.StatusOK, e.do(req{method: "PUT", path: "/admin/v1/partners/" + id + "/disabled", admin: true, body: map[string]bool{"disabled": true}}))
}

// TestUntaggedPassKeyNotAGuess: a pass key an older release made carries
// no tag, so its first use on an instance pays as a guess would (it is
// not known to be central's until looked up); once found to be the
// partner's own, its refused uses (here, of a disabled partner) pay
// nothing more, however many.
func TestUntaggedPassKeyNotAGuess(t *testing.T) {
	e := newEnv(t, boltStore)
	c := e.addPartner("Acme")
	legacy := "pk_" + strings.Repeat("k", 43) // an older release's: 32 random bytes, no tag
	if _, err := e.store.UpdatePartner(context.Background(), c.Partner.ID, func(p *central.Partner) error {
		p.Keys = []central.PartnerKey{{Hash: e.api.HashPassKey(legacy), CreatedAt: e.clk.Now()}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.token(c.ClientID, legacy) // it works
	e.disable(c.Partner.ID)
	for i := range 3 * authFailBurst {
		a := e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": legacy}})
		if a.status != http.StatusUnauthorized || a.code(t) != "invalid_credentials" {
			t.Fatalf("the disabled partner's untagged key, use %d: %d %s, want 401 invalid_credentials", i+1, a.status, a.body)
		}
	}
	// Its first use paid one failure; a guesser has the rest of the burst.
	for i := range authFailBurst {
		a := e.do(req{method: "POST", path: "/api/v1/partner-token", body: map[string]string{"client_id": c.ClientID, "pass_key": "pk_guess"}})
		want := http.StatusUnauthorized
		if i == authFailBurst-1 {
			want = http.StatusTooManyRequests
		}
		if a.status != want {
			t.Fatalf("guess %d: %d %s, want %d", i+1, a.status, a.body, want)
		}
	}
}
