package partnerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Audit actions of partner administration (Subject "partner:<id>").
const (
	AuditPartnerCreate        = "partner_create"
	AuditPartnerRotateKey     = "partner_rotate_key"
	AuditPartnerBranches      = "partner_branches"
	AuditPartnerWebhook       = "partner_webhook"
	AuditPartnerWebhookSecret = "partner_webhook_secret"
	AuditPartnerDisable       = "partner_disable"
	AuditPartnerEnable        = "partner_enable"
)

// PartnerView is a partner as the admin API shows it: no hashes, no
// sealed secrets.
type PartnerView struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ClientID   string    `json:"client_id"`
	Branches   []string  `json:"branches"`
	WebhookURL string    `json:"webhook_url,omitempty"`
	Keys       []KeyView `json:"keys"`
	// WebhookSecrets are the signing secrets' dates (never the secrets).
	WebhookSecrets []KeyView `json:"webhook_secrets"`
	// Push and ReferenceImage are the enterprise push and the
	// reference-image endpoint, when configured (never their secrets).
	Push           *PushView           `json:"push,omitempty"`
	ReferenceImage *ReferenceImageView `json:"reference_image,omitempty"`
	Disabled       bool                `json:"disabled"`
	CreatedAt      time.Time           `json:"created_at"`
}

// KeyView is a pass key's or webhook secret's dates.
type KeyView struct {
	CreatedAt time.Time  `json:"created_at"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

// View returns p as the admin API shows it.
func View(p central.Partner) PartnerView {
	v := PartnerView{ID: p.ID, Name: p.Name, ClientID: p.ClientID, Branches: p.Branches, WebhookURL: MaskURL(p.Webhook.URL),
		Disabled: p.Disabled, CreatedAt: p.CreatedAt, Keys: []KeyView{}, WebhookSecrets: []KeyView{},
		Push: pushView(p), ReferenceImage: referenceImageView(p)}
	if v.Branches == nil {
		v.Branches = []string{}
	}
	kv := func(created, notAfter time.Time) KeyView {
		k := KeyView{CreatedAt: created}
		if !notAfter.IsZero() {
			k.NotAfter = &notAfter
		}
		return k
	}
	for _, k := range p.Keys {
		v.Keys = append(v.Keys, kv(k.CreatedAt, k.NotAfter))
	}
	for _, s := range p.Webhook.Secrets {
		v.WebhookSecrets = append(v.WebhookSecrets, kv(s.CreatedAt, s.NotAfter))
	}
	return v
}

// NewPartner is what creating a partner takes.
type NewPartner struct {
	Name       string   `json:"name"`
	Branches   []string `json:"branches,omitempty"`
	WebhookURL string   `json:"webhook_url,omitempty"`
}

// Created is a new partner with its secrets, shown once.
type Created struct {
	Partner  PartnerView `json:"partner"`
	ClientID string      `json:"client_id"`
	PassKey  string      `json:"pass_key"`
	// WebhookSecret is set when the partner was created with a webhook URL.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// Rotated is a new pass key or webhook secret, shown once, and until when
// the previous one stays valid.
type Rotated struct {
	Partner PartnerView `json:"partner"`
	// Secret is the new pass key, or the new webhook secret ("whsec_...").
	Secret string `json:"secret"`
	// PreviousValidUntil is when the previous one stops working (absent
	// when there was none).
	PreviousValidUntil *time.Time `json:"previous_valid_until,omitempty"`
}

// checkName, checkBranches and checkWebhookURL validate admin input.
func checkName(ve *ValidationError, name string) {
	if strings.TrimSpace(name) == "" || len(name) > 128 || !central.PlainText(name) {
		ve.add("name", "invalid", "name must be 1-128 printable characters (no control, format or invisible ones)")
	}
}

func checkBranches(ve *ValidationError, bs []string) []string {
	out := make([]string, 0, len(bs))
	for i, b := range bs {
		b = strings.TrimSpace(b)
		if b == "" || central.CheckBranch(b) != nil {
			ve.add(fmt.Sprintf("branches[%d]", i), "invalid", "a branch is 1-64 printable characters")
			continue
		}
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	if len(out) > 1000 {
		ve.add("branches", "too_many", "at most 1000 branches")
	}
	slices.Sort(out)
	return out
}

// checkBranchOwners refuses the branches a partner other than id owns: a
// branch's kiosk sessions go to one partner (the webhook emitter keeps one
// owner a branch), and a second owner would silently take them.
func (a *API) checkBranchOwners(ctx context.Context, ve *ValidationError, id string, branches []string) error {
	if len(branches) == 0 {
		return nil
	}
	list, err := a.cfg.Store.PartnersList(ctx)
	if err != nil {
		return fmt.Errorf("listing the partners: %w", err)
	}
	for _, other := range list {
		for _, b := range other.Branches {
			if other.ID != id && slices.Contains(branches, b) {
				ve.add("branches", "branch_taken", "branch %q belongs to partner %s", b, other.ID)
			}
		}
	}
	return nil
}

// checkWebhookURL accepts an https URL (http only for a loopback host,
// for tests and a receiver on central's own machine), or "" for none.
func checkWebhookURL(ve *ValidationError, field, raw string) {
	if raw == "" {
		return
	}
	if !okURL(raw) {
		ve.add(field, "invalid_url", "%s must be an absolute https:// URL (http:// only for a loopback host), at most 2048 characters", field)
	}
}

// URLMask stands for each query value of a partner's URL where MaskURL
// shows it.
const URLMask = "REDACTED"

// MaskURL is a partner's endpoint URL (webhook, push, token, reference
// image) as it is shown and audited (the admin API's and the console's
// views, the audit trail, which auditors read): scheme, host, path and
// the query's parameter names kept, each query value replaced by URLMask,
// userinfo and fragment removed. A partner may authenticate central by a
// token in the query (https://partner.example/hook?token=...), which is a
// credential to central and to no reader of those. The URL stored, and
// called, is left whole. A URL without a query, userinfo or fragment
// comes back unchanged; one that does not parse as URLMask.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return URLMask
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return raw
	}
	u.User, u.Fragment, u.RawFragment = nil, "", ""
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, p := range params {
			if name, _, ok := strings.Cut(p, "="); ok {
				params[i] = name + "=" + URLMask
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	return u.String()
}

func okURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 2048 || u.Host == "" || u.User != nil || u.Fragment != "" || !okHost(u.Hostname()) {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return central.IsLoopback(u.Hostname())
	}
	return false
}

// okHost reports whether h is an IP address central may call or a DNS
// name (letters, digits, hyphens, underscores and dots). url.Parse also
// lets through hosts such as "*" or "a.example;sandbox", which would
// change the meaning of the hosted pages' Content-Security-Policy, where
// the origins of a flow's redirect and callback URLs are written as
// frame-ancestors. An IPv6 literal's zone is such text too (url.Parse
// takes "%25" then anything, spaces as %20: "[::1%x * x]" would put a bare
// * there), and names no interface of central's in a partner's URL.
func okHost(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == "" && httpx.CheckOutboundAddr(a) == nil // the dialer refuses it anyway; say so now
	}
	if len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") ||
			strings.ContainsFunc(label, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
			}) {
			return false
		}
	}
	return true
}

// CreatePartner records a partner with a new client id and pass key (and
// webhook secret, with a webhook URL), audited under actor; the secrets
// are in the answer only.
func (a *API) CreatePartner(ctx context.Context, actor string, req NewPartner) (Created, error) {
	var ve ValidationError
	checkName(&ve, req.Name)
	branches := checkBranches(&ve, req.Branches)
	checkWebhookURL(&ve, "webhook_url", req.WebhookURL)
	if err := a.checkBranchOwners(ctx, &ve, "", branches); err != nil {
		return Created{}, err
	}
	if err := ve.err(); err != nil {
		return Created{}, err
	}
	now := a.now()
	pass := a.keys.newPassKey()
	p := central.Partner{ID: newPartnerID(), Name: strings.TrimSpace(req.Name), ClientID: newClientID(),
		Keys: []central.PartnerKey{{Hash: a.keys.hashPassKey(pass), CreatedAt: now}}, Branches: branches,
		Webhook: central.WebhookEndpoint{URL: req.WebhookURL}, CreatedAt: now}
	var whsec string
	if req.WebhookURL != "" {
		var sealed []byte
		var err error
		if whsec, sealed, err = a.keys.newWebhookSecret(p.ID); err != nil {
			return Created{}, fmt.Errorf("sealing the webhook secret: %w", err)
		}
		p.Webhook.Secrets = []central.WebhookSecret{{Sealed: sealed, CreatedAt: now}}
	}
	if err := a.cfg.Store.CreatePartner(ctx, p); err != nil {
		return Created{}, fmt.Errorf("creating the partner: %w", err)
	}
	v := View(p)
	if err := a.audit(ctx, actor, AuditPartnerCreate, p.ID, nil, v); err != nil {
		return Created{}, err
	}
	a.known.add(a.passKeyCred(p.ClientID, pass), now.Add(a.cfg.KeyOverlap), now)
	return Created{Partner: v, ClientID: p.ClientID, PassKey: pass, WebhookSecret: whsec}, nil
}

// checkOverlap validates an overlap asked for; zero means the default.
func (a *API) checkOverlap(ve *ValidationError, d time.Duration) time.Duration {
	switch {
	case d == 0:
		return a.cfg.KeyOverlap
	case d < 0 || d > MaxOverlap:
		ve.add("overlap_seconds", "out_of_range", "overlap_seconds must be 0 (the default, %v) to %d", a.cfg.KeyOverlap, int(MaxOverlap/time.Second))
	}
	return d
}

// RotateKey gives a partner a new pass key; the current one stays valid
// for overlap (0: Config.KeyOverlap), older ones end now. The partner's
// tokens made until the overlap ends stop working then
// (central.Partner.TokensNotBefore).
func (a *API) RotateKey(ctx context.Context, actor, id string, overlap time.Duration) (Rotated, error) {
	var ve ValidationError
	overlap = a.checkOverlap(&ve, overlap)
	if err := ve.err(); err != nil {
		return Rotated{}, err
	}
	now := a.now()
	pass := a.keys.newPassKey()
	var before PartnerView
	var prevUntil *time.Time
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = View(*p)
		keys := []central.PartnerKey{{Hash: a.keys.hashPassKey(pass), CreatedAt: now}}
		for _, k := range p.Keys {
			if k.NotAfter.IsZero() { // the current one: overlaps
				until := now.Add(overlap)
				k.NotAfter, prevUntil = until, &until
				keys = append(keys, k)
			}
		}
		p.Keys = keys
		p.TokenCutoffs = a.liveCutoffs(append(p.TokenCutoffs, p.TokensNotBefore), now)
		p.TokensNotBefore = now.Add(overlap)
		return nil
	})
	if err != nil {
		return Rotated{}, fmt.Errorf("rotating the pass key: %w", err)
	}
	v := View(p)
	if err := a.audit(ctx, actor, AuditPartnerRotateKey, id, before, v); err != nil {
		return Rotated{}, err
	}
	a.known.add(a.passKeyCred(p.ClientID, pass), now.Add(a.cfg.KeyOverlap), now)
	return Rotated{Partner: v, Secret: pass, PreviousValidUntil: prevUntil}, nil
}

// liveCutoffs keeps of a partner's token cutoffs those that may still end
// a token: the ones to come, and the last one passed if a token made
// before it could still be unexpired (it ends every token an earlier
// passed one does).
func (a *API) liveCutoffs(cs []time.Time, now time.Time) []time.Time {
	var out []time.Time
	var passed time.Time
	for _, c := range cs {
		switch {
		case c.IsZero():
		case now.Before(c):
			out = append(out, c)
		case c.After(passed):
			passed = c
		}
	}
	if !passed.IsZero() && now.Before(passed.Add(a.cfg.TokenTTL)) {
		out = append(out, passed)
	}
	return out
}

// MaxWebhookSecrets bounds the secrets a partner's events are signed with
// at once: the current one and those rotated out still in their overlap.
// A rotation beyond it ends the ones whose overlap ends first.
const MaxWebhookSecrets = 3

// RotateWebhookSecret gives a partner a new webhook signing secret; the
// current one stays valid (events are signed with both) for overlap. A
// secret rotated out earlier keeps the overlap it was given (a second
// rotation within it does not cut short a receiver still on it), up to
// MaxWebhookSecrets in all.
func (a *API) RotateWebhookSecret(ctx context.Context, actor, id string, overlap time.Duration) (Rotated, error) {
	var ve ValidationError
	overlap = a.checkOverlap(&ve, overlap)
	if err := ve.err(); err != nil {
		return Rotated{}, err
	}
	now := a.now()
	secret, sealed, err := a.keys.newWebhookSecret(id)
	if err != nil {
		return Rotated{}, fmt.Errorf("sealing the webhook secret: %w", err)
	}
	var before PartnerView
	var prevUntil *time.Time
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = View(*p)
		var old []central.WebhookSecret
		for _, s := range p.Webhook.Secrets {
			switch {
			case s.NotAfter.IsZero():
				until := now.Add(overlap)
				s.NotAfter, prevUntil = until, &until
			case !now.Before(s.NotAfter):
				continue // its overlap is over
			}
			old = append(old, s)
		}
		for len(old) > MaxWebhookSecrets-1 { // past the bound: the one ending first goes
			first := slices.IndexFunc(old, func(s central.WebhookSecret) bool {
				return !slices.ContainsFunc(old, func(o central.WebhookSecret) bool { return o.NotAfter.Before(s.NotAfter) })
			})
			old = slices.Delete(old, first, first+1)
		}
		p.Webhook.Secrets = append([]central.WebhookSecret{{Sealed: sealed, CreatedAt: now}}, old...)
		return nil
	})
	if err != nil {
		return Rotated{}, fmt.Errorf("rotating the webhook secret: %w", err)
	}
	v := View(p)
	if err := a.audit(ctx, actor, AuditPartnerWebhookSecret, id, before, v); err != nil {
		return Rotated{}, err
	}
	return Rotated{Partner: v, Secret: secret, PreviousValidUntil: prevUntil}, nil
}

// SetBranches sets the branches whose kiosk sessions a partner sees.
func (a *API) SetBranches(ctx context.Context, actor, id string, branches []string) (PartnerView, error) {
	var ve ValidationError
	bs := checkBranches(&ve, branches)
	if err := a.checkBranchOwners(ctx, &ve, id, bs); err != nil {
		return PartnerView{}, err
	}
	if err := ve.err(); err != nil {
		return PartnerView{}, err
	}
	var before PartnerView
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = View(*p)
		p.Branches = bs
		return nil
	})
	if err != nil {
		return PartnerView{}, fmt.Errorf("setting the branches: %w", err)
	}
	v := View(p)
	return v, a.audit(ctx, actor, AuditPartnerBranches, id, before.Branches, v.Branches)
}

// SetDisabled disables a partner or enables it again. A disabled
// partner's tokens and pass keys are refused, its hosted sessions answer
// 410 link_unavailable at every step (package hostedflow) and its webhook
// and push events are held (package webhook); enabling it lets them all
// go on, since nothing is deleted: disabling is how an operator stops a
// partner at once (a leaked key, a contract ended) and may be undone. The
// time disabled is kept (central.Partner.SetDisabled) so that it does not
// count towards the held events' retries.
func (a *API) SetDisabled(ctx context.Context, actor, id string, disabled bool) (PartnerView, error) {
	var before bool
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before = p.Disabled
		p.SetDisabled(disabled, a.now())
		return nil
	})
	if err != nil {
		return PartnerView{}, fmt.Errorf("setting whether the partner is disabled: %w", err)
	}
	action := AuditPartnerEnable
	if disabled {
		action = AuditPartnerDisable
	}
	return View(p), a.audit(ctx, actor, action, id, map[string]bool{"disabled": before}, map[string]bool{"disabled": disabled})
}

// WebhookSet is a partner after its webhook URL was set, with the signing
// secret made for it (when it had none), shown once.
type WebhookSet struct {
	PartnerView
	// WebhookSecret is set when the partner had no valid signing secret:
	// an endpoint without one would fail every delivery (the worker signs
	// every event), so one is made with the URL, as Stripe and Standard
	// Webhooks do when an endpoint is configured.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// SetWebhookURL sets (or with "" removes) a partner's webhook endpoint. A
// URL set on a partner with no secret valid now (one created without a
// URL) makes one, in the answer only and audited as RotateWebhookSecret
// audits; a partner with a secret keeps it.
func (a *API) SetWebhookURL(ctx context.Context, actor, id, u string) (WebhookSet, error) {
	var ve ValidationError
	checkWebhookURL(&ve, "url", u)
	if err := ve.err(); err != nil {
		return WebhookSet{}, err
	}
	now := a.now()
	var fresh string
	var sealed []byte
	if u != "" {
		var err error
		if fresh, sealed, err = a.keys.newWebhookSecret(id); err != nil {
			return WebhookSet{}, fmt.Errorf("sealing the webhook secret: %w", err)
		}
	}
	var before string
	var beforeView PartnerView
	var made bool
	p, err := a.cfg.Store.UpdatePartner(ctx, id, func(p *central.Partner) error {
		before, beforeView, made = p.Webhook.URL, View(*p), false
		p.Webhook.URL = u
		if u != "" && !hasValidWebhookSecret(*p, now) {
			p.Webhook.Secrets, made = []central.WebhookSecret{{Sealed: sealed, CreatedAt: now}}, true
		}
		return nil
	})
	if err != nil {
		return WebhookSet{}, fmt.Errorf("setting the webhook URL: %w", err)
	}
	v := View(p)
	if err := a.audit(ctx, actor, AuditPartnerWebhook, id, map[string]string{"url": MaskURL(before)}, map[string]string{"url": MaskURL(u)}); err != nil {
		return WebhookSet{}, err
	}
	if !made {
		return WebhookSet{PartnerView: v}, nil
	}
	if err := a.audit(ctx, actor, AuditPartnerWebhookSecret, id, beforeView, v); err != nil {
		return WebhookSet{}, err
	}
	return WebhookSet{PartnerView: v, WebhookSecret: fresh}, nil
}

// hasValidWebhookSecret reports whether p has a webhook secret the worker
// would sign with at now.
func hasValidWebhookSecret(p central.Partner, now time.Time) bool {
	return slices.ContainsFunc(p.Webhook.Secrets, func(s central.WebhookSecret) bool {
		return s.NotAfter.IsZero() || now.Before(s.NotAfter)
	})
}

// --- the admin API's handlers ---

func notFoundPartner(err error) error {
	if errors.Is(err, central.ErrNotFound) {
		return httpx.Wrap(err, http.StatusNotFound, "unknown_partner", "no such partner")
	}
	return err
}

// decodeStrict reads a JSON body into v, refusing unknown fields (each
// named) and members of the wrong type.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, fields ...string) error {
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	var ve ValidationError
	for k := range m {
		if !slices.Contains(fields, k) {
			ve.add(k, "unknown_field", "unknown field %s", k)
		}
	}
	if err := ve.err(); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, v); err != nil {
		field := ""
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			field = te.Field
		}
		ve.add(field, "invalid_type", "%s has the wrong type", field)
		return &ve
	}
	return nil
}

func (a *API) adminCreate(w http.ResponseWriter, r *http.Request) error {
	var req NewPartner
	if err := decodeStrict(w, r, &req, "name", "branches", "webhook_url"); err != nil {
		return err
	}
	c, err := a.CreatePartner(r.Context(), central.AdminActor(r.Context()), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) adminList(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.cfg.Store.PartnersList(r.Context())
	if err != nil {
		return fmt.Errorf("listing partners: %w", err)
	}
	out := make([]PartnerView, 0, len(ps))
	for _, p := range ps {
		out = append(out, View(p))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) adminGet(w http.ResponseWriter, r *http.Request) error {
	p, err := a.cfg.Store.Partner(r.Context(), r.PathValue("id"))
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, View(p))
	return nil
}

type overlapReq struct {
	OverlapSeconds int64 `json:"overlap_seconds"`
}

func readOverlap(w http.ResponseWriter, r *http.Request) (time.Duration, error) {
	var req overlapReq
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return 0, err
	}
	if len(bytes.TrimSpace(body)) > 0 { // the body is optional
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := decodeStrict(w, r, &req, "overlap_seconds"); err != nil {
			return 0, err
		}
	}
	if req.OverlapSeconds < 0 || req.OverlapSeconds > int64(MaxOverlap/time.Second) {
		var ve ValidationError
		ve.add("overlap_seconds", "out_of_range", "overlap_seconds must be 0 (the default) to %d", int64(MaxOverlap/time.Second))
		return 0, &ve
	}
	return time.Duration(req.OverlapSeconds) * time.Second, nil
}

func (a *API) adminRotateKey(w http.ResponseWriter, r *http.Request) error {
	d, err := readOverlap(w, r)
	if err != nil {
		return err
	}
	rot, err := a.RotateKey(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), d)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rot)
	return nil
}

func (a *API) adminWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	d, err := readOverlap(w, r)
	if err != nil {
		return err
	}
	rot, err := a.RotateWebhookSecret(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), d)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, rot)
	return nil
}

func (a *API) adminBranches(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Branches []string `json:"branches"`
	}
	if err := decodeStrict(w, r, &req, "branches"); err != nil {
		return err
	}
	v, err := a.SetBranches(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), req.Branches)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) adminDisabled(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Disabled *bool `json:"disabled"`
	}
	if err := decodeStrict(w, r, &req, "disabled"); err != nil {
		return err
	}
	if req.Disabled == nil {
		var ve ValidationError
		ve.add("disabled", "required", "disabled is required")
		return &ve
	}
	v, err := a.SetDisabled(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), *req.Disabled)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) adminWebhook(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		URL string `json:"url"`
	}
	if err := decodeStrict(w, r, &req, "url"); err != nil {
		return err
	}
	v, err := a.SetWebhookURL(r.Context(), central.AdminActor(r.Context()), r.PathValue("id"), req.URL)
	if err != nil {
		return notFoundPartner(err)
	}
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
