package partnerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

type partnerKey struct{}

// PartnerFrom returns the partner a request was authenticated as
// (Authenticate, Router.Partner).
func PartnerFrom(ctx context.Context) (central.Partner, bool) {
	p, ok := ctx.Value(partnerKey{}).(central.Partner)
	return p, ok
}

// WithPartner returns ctx carrying p, as Authenticate does (for tests of
// handlers).
func WithPartner(ctx context.Context, p central.Partner) context.Context {
	return context.WithValue(ctx, partnerKey{}, p)
}

// refuse logs a refused credential and returns e, spending a failure of
// the request's address when spend (a request with no credential at all:
// a credential's guess paid in charge before its lookup); an address whose
// budget is spent gets 429. A credential central made that no longer
// works (expired, revoked, of a disabled partner) is no guess, and spends
// nothing.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, spend bool, reason string, e *httpx.Error) error {
	addr := httpx.ClientAddr(r)
	if spend {
		if err := a.fails.Fail(r.Context(), addr); err != nil {
			return err
		}
	}
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "partner authentication failed",
		slog.String("request_id", httpx.RequestID(r.Context())), slog.String("reason", reason),
		slog.String("addr", addr), slog.String("method", r.Method), slog.String("route", r.Pattern))
	httpx.CutOff(w)
	return e
}

// blocked answers 429 when the request's address spent its failures.
func (a *API) blocked(w http.ResponseWriter, r *http.Request) error {
	b, wait, err := a.fails.Blocked(r.Context(), httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	if b {
		return rateLimitedAuth(w, wait)
	}
	return nil
}

func rateLimitedAuth(w http.ResponseWriter, wait time.Duration) error {
	httpx.CutOff(w)
	return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "too many failed authentications from this address; retry later", RetryAfter: max(wait, time.Second)}
}

// charge spends one of the address's failures before a credential (its
// keyed hash) not known to be right is looked up, or answers 429 when none
// is left: every guess pays before it is checked, so guesses sent at once
// get no more checks than the budget. A budget read first and spent once a
// guess proved wrong let all of them through (each read it before any
// spent). A credential this instance made or found right lately is not
// charged, so a partner calling as often as it likes with its own spends
// nothing (on another instance, its first use there); callers do not
// charge one that carries central's tag (keys.madeHere) at all.
func (a *API) charge(w http.ResponseWriter, r *http.Request, cred string) error {
	if a.known.has(cred, a.now()) {
		return nil
	}
	ok, wait, err := a.fails.Allow(r.Context(), httpx.ClientAddr(r))
	if err != nil {
		return err
	}
	if !ok {
		return rateLimitedAuth(w, wait)
	}
	return nil
}

// passKeyCred and tokenCred name a credential in knownCreds: a client id
// with its pass key (keyed: the cache holds nothing that opens the API),
// a partner token by its hash.
func (a *API) passKeyCred(clientID, passKey string) string {
	return "pass-key\x00" + string(mac(a.keys.passKey, clientID, passKey))
}

func tokenCred(hash []byte) string { return "token\x00" + string(hash) }

// knownCreds are the keyed hashes of credentials (a client id with its
// pass key, a partner token) found in the store lately, until when they
// count as known: an instance's cache, bounded by maxKnown.
type knownCreds struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// maxKnown bounds knownCreds: far more than the partners' credentials in
// use at once; past it, the expired and then arbitrary ones are forgotten
// (their next use is charged once more).
const maxKnown = 4096

func (k *knownCreds) has(cred string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	until, ok := k.m[cred]
	return ok && now.Before(until)
}

func (k *knownCreds) add(cred string, until, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) >= maxKnown {
		for c, u := range k.m {
			if !now.Before(u) {
				delete(k.m, c)
			}
		}
		for c := range k.m {
			if len(k.m) < maxKnown {
				break
			}
			delete(k.m, c)
		}
	}
	k.m[cred] = until
}

func unauthorized(w http.ResponseWriter, code, msg string) *httpx.Error {
	w.Header().Set("WWW-Authenticate", `Bearer realm="kyc-central partner API"`)
	return httpx.Errorf(http.StatusUnauthorized, code, "%s", msg)
}

// Authenticate wraps h behind the partner token (Authorization: Bearer or
// x-onekyc-token): an unknown token is 401 "unauthorized" (spending the
// address's failure budget), an expired one 401 "token_expired"; inside
// h, PartnerFrom gives the partner. Only a guess spends: a token that
// carries central's tag (keys.madeHere), or that the store knows, costs
// its address nothing however stale, so a partner backend still sending
// one does not lock out its neighbours behind a NAT.
func (a *API) Authenticate(h httpx.HandlerFunc) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := a.blocked(w, r); err != nil {
			return err
		}
		tok := bearer(r.Header)
		if tok == "" {
			return a.refuse(w, r, true, "no_token", unauthorized(w, "unauthorized", "send the partner token: Authorization: Bearer <token> (POST /api/v1/partner-token makes one)"))
		}
		th := tokenHash(tok)
		ours := a.keys.madeHere(prefixToken, tok)
		if !ours { // a guess pays before it is looked up
			if err := a.charge(w, r, tokenCred(th)); err != nil {
				return err
			}
		}
		// Found regardless of expiry (zero now), so an expired token is
		// told apart from an unknown one by this clock.
		t, err := a.cfg.Store.PartnerTokenByHash(r.Context(), th, time.Time{})
		if errors.Is(err, central.ErrNotFound) && ours {
			// Made here and since cleared from the store: the partner's
			// next token removes its expired ones.
			return unauthorized(w, "token_expired", "the partner token has expired; generate a new one (POST /api/v1/partner-token)")
		}
		if errors.Is(err, central.ErrNotFound) {
			// A guess paid before the lookup; one that did not was known
			// here, central's: no guess either.
			return a.refuse(w, r, false, "bad_token", unauthorized(w, "unauthorized", "the partner token is unknown"))
		}
		if err != nil {
			return fmt.Errorf("reading the partner token: %w", err)
		}
		// A token central made is no guess, expired or not: a client
		// that keeps sending its expired one is told so (token_expired,
		// no failure), as before it was known.
		a.known.add(tokenCred(th), a.now().Add(a.cfg.TokenTTL), a.now())
		if now := a.now(); !now.Before(t.ExpiresAt) || madeAhead(t, now) {
			return unauthorized(w, "token_expired", "the partner token has expired; generate a new one (POST /api/v1/partner-token)")
		}
		p, err := a.cfg.Store.Partner(r.Context(), t.PartnerID)
		if errors.Is(err, central.ErrNotFound) || err == nil && p.Disabled {
			// Its own token, no guess: told as an unknown one, at no cost.
			return a.refuse(w, r, false, "partner_disabled", unauthorized(w, "unauthorized", "the partner token is unknown"))
		}
		if err != nil {
			return fmt.Errorf("reading the partner: %w", err)
		}
		if revoked(p, t, a.now()) {
			// As an expired token: the partner's client makes a new one.
			return unauthorized(w, "token_expired", "the partner token ended with the pass key it was made under; generate a new one (POST /api/v1/partner-token)")
		}
		if err := a.spend(w, r, "partner-calls:"+p.ID); err != nil {
			return err
		}
		return h(w, r.WithContext(WithPartner(r.Context(), p)))
	}
}

// spend takes one of a partner's calls (Config.PartnerRate) from the
// store's budget under key, or answers 429 with the time until one is
// back (the body unread, the connection cut).
func (a *API) spend(w http.ResponseWriter, r *http.Request, key string) error {
	wait, ok, err := a.spendRate(r.Context(), key, a.cfg.PartnerRate)
	if err != nil {
		return err
	}
	if !ok {
		httpx.CutOff(w)
		return &httpx.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many requests from this partner; retry after the time in Retry-After", RetryAfter: wait}
	}
	return nil
}

// spendRate spends one unit of key's budget at lim in the store (shared
// by instances), or says how long until one is back. The store reads the
// clock in its write (central.RateLimits): a partner's calls sent at once
// are judged in the order they commit.
func (a *API) spendRate(ctx context.Context, key string, lim RateLimit) (time.Duration, bool, error) {
	every := time.Duration(float64(time.Second) / lim.PerSecond)
	ok, wait, err := a.cfg.Store.SpendBudget(ctx, key, a.now, max(every, time.Microsecond), lim.Burst)
	if err != nil {
		return 0, false, fmt.Errorf("rate limit %s: %w", key, err)
	}
	return max(wait, time.Second), ok, nil
}

// revoked reports whether t was made before the end of a rotated-out pass
// key's overlap that has passed (central.Partner.TokensNotBefore, and
// TokenCutoffs for earlier rotations).
func revoked(p central.Partner, t central.PartnerToken, now time.Time) bool {
	ended := func(c time.Time) bool { return !c.IsZero() && !now.Before(c) && t.CreatedAt.Before(c) }
	return ended(p.TokensNotBefore) || slices.ContainsFunc(p.TokenCutoffs, ended)
}

// tokenClockSlack is how far after central's clock a token may be dated
// before madeAhead takes the clock as put back since: the clocks of
// instances sharing the store differ by less.
const tokenClockSlack = time.Minute

// madeAhead reports whether t was made while central's clock read later
// than it does at now: an NTP step back, or a clock set years ahead and
// corrected. Its expiry was reckoned by that clock, so it would last as
// long again as the clock was off, years past a token's life; it is
// taken as expired (the partner's client makes a new one).
func madeAhead(t central.PartnerToken, now time.Time) bool {
	return t.CreatedAt.After(now.Add(tokenClockSlack))
}

// TokenResponse is Generate Partner Token's answer.
type TokenResponse struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"` // "Bearer"
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int64     `json:"expires_in"` // seconds
}

// partnerToken is Generate Partner Token: client id and pass key in, the
// partner's current token (if it has more than TokenReuse left) or a new
// one out.
func (a *API) partnerToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.blocked(w, r); err != nil {
		return err
	}
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	var ve ValidationError
	str := func(name string) string {
		var s string
		raw, ok := m[name]
		switch {
		case !ok:
			ve.add(name, "required", "%s is required", name)
		case json.Unmarshal(raw, &s) != nil || !storableID(s) || len(s) > 256:
			ve.add(name, "invalid", "%s must be a non-empty string", name)
		}
		return s
	}
	clientID, passKey := str("client_id"), str("pass_key")
	for k := range m {
		if k != "client_id" && k != "pass_key" {
			ve.add(k, "unknown_field", "unknown field %s", k)
		}
	}
	if err := ve.err(); err != nil {
		return err
	}
	ctx := r.Context()
	now := a.now()
	cred := a.passKeyCred(clientID, passKey)
	// A pass key central made (tagged) is no guess, whatever it is sent
	// with: it pays nothing. Any other pays before it is looked up.
	if !a.keys.madeHere(prefixPassKey, passKey) {
		if err := a.charge(w, r, cred); err != nil {
			return err
		}
	}
	// Refused, it spends nothing more: a guess paid before its lookup,
	// and one that did not pay is central's (tagged) or was right lately
	// (known), no guess.
	bad := func() error {
		return a.refuse(w, r, false, "bad_credentials", httpx.Errorf(http.StatusUnauthorized, "invalid_credentials", "client_id or pass_key is wrong"))
	}
	p, err := a.cfg.Store.PartnerByClientID(ctx, clientID)
	if errors.Is(err, central.ErrNotFound) {
		a.keys.checkPassKey(central.Partner{Keys: []central.PartnerKey{{Hash: "0"}}}, passKey, now) // same work as a real check
		return bad()
	}
	if err != nil {
		return fmt.Errorf("reading the partner: %w", err)
	}
	if valid := a.keys.checkPassKey(p, passKey, now); !valid || p.Disabled {
		// The partner's own key (a zero now matches its rotated-out ones
		// too), rotated out or of a disabled partner, is no guess: known,
		// so that an untagged one's later tries are not charged either.
		if valid || a.keys.checkPassKey(p, passKey, time.Time{}) {
			a.known.add(cred, now.Add(a.cfg.TokenTTL), now)
		}
		return bad()
	}
	// Generate Partner Token is a partner's call too: a loop on it (a
	// client asking before every request, at whatever rate) is bounded as
	// the others are, with a budget of its own, so a client that does ask
	// before every request keeps its whole rate for the requests.
	if err := a.spend(w, r, "partner-token:"+p.ID); err != nil {
		return err
	}
	tok, exp, err := a.issueToken(ctx, p, now)
	if err != nil {
		return err
	}
	a.known.add(cred, now.Add(a.cfg.TokenTTL), now)
	httpx.WriteJSON(w, http.StatusOK, TokenResponse{Token: tok, TokenType: "Bearer", ExpiresAt: exp,
		ExpiresIn: int64(exp.Sub(now) / time.Second)})
	return nil
}

// issueToken returns the partner's token valid for more than TokenReuse,
// or records a new one.
func (a *API) issueToken(ctx context.Context, p central.Partner, now time.Time) (string, time.Time, error) {
	partnerID := p.ID
	t, err := a.cfg.Store.ValidPartnerToken(ctx, partnerID, now.Add(a.cfg.TokenReuse))
	switch {
	case err == nil && (revoked(p, t, now) || madeAhead(t, now)):
		// Made under a rotated-out key, or by a clock since put back: a
		// new one.
	case err == nil:
		tok := a.keys.partnerToken(partnerID, t.CreatedAt)
		if string(tokenHash(tok)) == string(t.Hash) {
			a.known.add(tokenCred(t.Hash), t.ExpiresAt, now)
			return tok, t.ExpiresAt.UTC(), nil
		}
		// Not derivable (another SecretKey made it): a new one.
	case !errors.Is(err, central.ErrNotFound):
		return "", time.Time{}, fmt.Errorf("reading the partner's token: %w", err)
	}
	created := now.Truncate(time.Microsecond)
	tok := a.keys.partnerToken(partnerID, created)
	exp := created.Add(a.cfg.TokenTTL)
	if err := a.cfg.Store.PutPartnerToken(ctx, central.PartnerToken{Hash: tokenHash(tok), PartnerID: partnerID, CreatedAt: created, ExpiresAt: exp}); err != nil {
		return "", time.Time{}, fmt.Errorf("storing the partner token: %w", err)
	}
	a.known.add(tokenCred(tokenHash(tok)), exp, now)
	return tok, exp, nil
}
