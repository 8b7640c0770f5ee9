package partnerapi_test

import (
	"context"
	"net/http"
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
