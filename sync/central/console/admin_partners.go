package console

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// The partners (banks and others on the partner API): each with its
// branches, which endpoints it has configured and how its webhook delivery
// fares; admins disable a partner (a leaked key, a contract ended) and
// enable it again here, through the partner API's SetDisabled, which
// audits. Keys, secrets and their hashes never reach the page: rows are
// built from partnerapi.View, the admin API's view without them.

// PartnerAdmin is what the partners page changes partners through
// (*partnerapi.API).
type PartnerAdmin interface {
	SetDisabled(ctx context.Context, actor, id string, disabled bool) (partnerapi.PartnerView, error)
}

// partnerHealthWindow is how many of a partner's newest webhook events
// the page sums up (Webhooks.WebhookHealth), so a page view costs the
// same however many events partners have.
const partnerHealthWindow = 200

func (c *Console) routeAdminPartners() {
	c.route("GET /console/partners", central.RoleAdmin, c.partnersPage)
	c.route("POST /console/partners/{id}/disable", central.RoleAdmin, c.setPartnerDisabled(true))
	c.route("POST /console/partners/{id}/enable", central.RoleAdmin, c.setPartnerDisabled(false))
}

// partnerRow is one partner as the page shows it.
type partnerRow struct {
	partnerapi.PartnerView
	Health central.WebhookHealth
	// LastOK: the last attempt was answered 2xx.
	LastOK bool
	// Unsigned: a webhook URL but no signing secret valid now (a partner
	// made before every URL got one, or its last secret retired), so every
	// delivery fails until an admin rotates a secret in.
	Unsigned bool
}

type partnersPage struct {
	Rows   []partnerRow
	Window int
	// CanChange: the console can change partners (Config.Partners) and
	// the viewer is an admin of every branch.
	CanChange bool
	// ReadOnly: the console has no partner API to change them through.
	ReadOnly bool
}

func (c *Console) partnersPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	ctx := r.Context()
	ps, err := c.cfg.Store.PartnersList(ctx)
	if err != nil {
		return fmt.Errorf("listing partners: %w", err)
	}
	now := c.cfg.Now()
	p := &partnersPage{Window: partnerHealthWindow, ReadOnly: c.cfg.Partners == nil}
	p.CanChange = !p.ReadOnly && globalSetting(v) == nil
	for _, pt := range ps {
		if !partnerInScope(v, pt) {
			continue
		}
		h, err := c.cfg.Store.WebhookHealth(ctx, pt.ID, partnerHealthWindow)
		if err != nil {
			return fmt.Errorf("reading partner %s's webhook delivery: %w", pt.ID, err)
		}
		p.Rows = append(p.Rows, partnerRow{PartnerView: partnerapi.View(pt), Health: h,
			LastOK: h.Last.Status >= 200 && h.Last.Status < 300, Unsigned: unsigned(pt, now)})
	}
	return c.render(w, r, v, http.StatusOK, "admin_partners.html", p)
}

// unsigned: p has a webhook URL and no secret to sign its events with at
// now (the webhook worker's rule: a secret serves until its NotAfter).
func unsigned(p central.Partner, now time.Time) bool {
	if p.Webhook.URL == "" {
		return false
	}
	for _, s := range p.Webhook.Secrets {
		if s.NotAfter.IsZero() || now.Before(s.NotAfter) {
			return false
		}
	}
	return true
}

// partnerInScope: an admin scoped to some branches sees the partners
// whose branches are all theirs (a partner of no branch serves the API
// only, which is every branch's).
func partnerInScope(v *Viewer, p central.Partner) bool {
	if len(v.User.Scopes) == 0 {
		return true
	}
	for _, b := range p.Branches {
		if !v.User.InScope(b) {
			return false
		}
	}
	return len(p.Branches) > 0
}

// setPartnerDisabled disables or enables the partner of the path. Only an
// admin of every branch may: a partner's API and key serve all its
// branches.
func (c *Console) setPartnerDisabled(disabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, v *Viewer) error {
		if len(v.User.Scopes) > 0 {
			return fail(http.StatusForbidden, "partner_scope")
		}
		if c.cfg.Partners == nil {
			return fail(http.StatusServiceUnavailable, "unavailable")
		}
		// Disabling stops a partner's live traffic: as a device's
		// revocation, it takes the confirmation box, so a stray click on
		// the button alone does nothing.
		if disabled && r.PostFormValue("confirm") != "yes" {
			return c.seeOther(w, r, "/console/partners", "msg.adm.partner_unconfirmed")
		}
		if _, err := c.cfg.Partners.SetDisabled(r.Context(), v.Actor(), r.PathValue("id"), disabled); err != nil {
			return opError(err)
		}
		msg := "msg.adm.partner_enabled"
		if disabled {
			msg = "msg.adm.partner_disabled"
		}
		return c.seeOther(w, r, "/console/partners", msg)
	}
}
