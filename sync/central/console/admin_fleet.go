package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The device fleet: every enrolled device with its branch, last contact,
// outbox and configuration as it reported them, and the device check of its
// latest submission; admins revoke, move and enrol devices here.

func (c *Console) routeAdminFleet() {
	c.route("GET /console/devices", central.RoleAuditor, c.devicesPage)
	c.route("POST /console/devices/{id}/revoke", central.RoleAdmin, c.revokeDevicePost)
	c.route("POST /console/devices/{id}/branch", central.RoleAdmin, c.branchDevicePost)
	c.route("POST /console/devices/tokens", central.RoleAdmin, c.enrolTokenPost)
}

// fleetClockFlag is how far a device's clock must be from central's for
// the fleet page to say so: the device signs its requests with central's
// time, but dates its captures and attestations by its own.
const fleetClockFlag = time.Minute

// fleetRow is one device as the fleet page shows it.
type fleetRow struct {
	central.Device
	// What the device reported at its last sync (Reported false: never).
	QueueDepth   int
	Rejected     int
	OldestQueued time.Time
	OldestAge    time.Duration // by central's clock
	LastError    string
	SinceSeen    time.Duration
	// ClockAhead and ClockBehind are how far the device's clock was from
	// central's at its last report, when beyond fleetClockFlag (one of
	// them at most).
	ClockAhead, ClockBehind time.Duration
	// From its latest submission: the device check's verdict and whether
	// the attestation was fresh (signed a recent challenge).
	LastVerdict  string
	LastFresh    bool
	LastReceived time.Time
	HasLast      bool
	// Config and watchlists in use against the current ones.
	ConfigVersion int64
	ConfigStale   bool
	Lists         []fleetList
	Reported      bool
}

// fleetList is one watchlist on a device.
type fleetList struct {
	Name            string
	Version, Latest int64
	Stale, Missing  bool
}

type fleetPage struct {
	Rows          []fleetRow
	ConfigVersion int64
	Lists         []string // the current watchlists
	Branches      []string
	CanChange     bool
	Revoked       int
	Token         *tokenView // the enrolment token just made, shown once
	TokenBranch   string
}

// tokenView is an enrolment token as shown once after it was made.
type tokenView struct {
	central.TokenResponse
	Branch string
	QR     template.URL // data: URL of a PNG, made here (so trusted)
}

func (c *Console) devicesPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	p, err := c.fleet(r, v)
	if err != nil {
		return err
	}
	return c.render(w, r, v, http.StatusOK, "admin_devices.html", p)
}

// fleet gathers the fleet page's data.
func (c *Console) fleet(r *http.Request, v *Viewer) (*fleetPage, error) {
	ctx := r.Context()
	st := c.cfg.Store
	ds, err := st.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	_, cfgV, err := st.Risk(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the risk version: %w", err)
	}
	wls, err := st.Watchlists(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing watchlists: %w", err)
	}
	latest := map[string]int64{}
	p := &fleetPage{ConfigVersion: cfgV, CanChange: v.Can(central.RoleAdmin)}
	for _, wl := range wls {
		latest[wl.Name] = wl.Version
		p.Lists = append(p.Lists, wl.Name)
	}
	sort.Strings(p.Lists)
	now := c.cfg.Now()
	branches := map[string]bool{}
	for _, d := range admInScope(v, ds) {
		row := fleetRow{Device: d}
		if d.Branch != "" {
			branches[d.Branch] = true
		}
		if d.Revoked() {
			p.Revoked++
		}
		if !d.LastSeen.IsZero() {
			row.SinceSeen = now.Sub(d.LastSeen)
		}
		if s := d.Status; s != nil {
			row.Reported = true
			row.QueueDepth, row.Rejected, row.OldestQueued, row.LastError = s.QueueDepth, s.Rejected, s.OldestQueued, s.LastError
			// OldestQueued is by the device's clock: central's is the
			// device's plus the offset the device measured.
			offset := time.Duration(s.ClockOffsetMS) * time.Millisecond
			if !s.OldestQueued.IsZero() {
				row.OldestAge = now.Sub(s.OldestQueued.Add(offset))
			}
			switch {
			case offset < -fleetClockFlag:
				row.ClockAhead = -offset
			case offset > fleetClockFlag:
				row.ClockBehind = offset
			}
			row.ConfigVersion = s.ConfigVersion
			row.ConfigStale = s.ConfigVersion != cfgV
			for _, name := range p.Lists {
				have, ok := s.Watchlists[name]
				row.Lists = append(row.Lists, fleetList{Name: name, Version: have, Latest: latest[name], Stale: ok && have != latest[name], Missing: !ok})
			}
		}
		last, _, err := st.Queue(ctx, central.QueueFilter{DeviceIDs: []string{d.ID}, Newest: true, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("reading a device's latest submission: %w", err)
		}
		if len(last) == 1 {
			row.HasLast, row.LastVerdict, row.LastFresh, row.LastReceived = true, last[0].Verdict, last[0].Fresh, last[0].ReceivedAt
		}
		p.Rows = append(p.Rows, row)
	}
	for b := range branches {
		p.Branches = append(p.Branches, b)
	}
	slices.Sort(p.Branches)
	return p, nil
}

// checkDeviceChange refuses (403, as a change of a case out of scope) a
// change by an admin scoped to some branches of a device outside them, or
// a move to (or a token for) a branch outside them: moving another
// branch's device into theirs would open its cases to them, and revoking
// it would stop another branch's sync. id is "" for a new device (a
// token); branch is nil when the change keeps the branch.
func (c *Console) checkDeviceChange(ctx context.Context, v *Viewer, id string, branch *string) error {
	if len(v.User.Scopes) == 0 {
		return nil
	}
	if id != "" {
		if err := c.checkScope(ctx, v, id); err != nil {
			if e, ok := errors.AsType[*httpx.Error](err); ok && e.Status == http.StatusNotFound {
				return fail(http.StatusForbidden, "out_of_scope_device")
			}
			return err
		}
	}
	if branch != nil && !v.User.InScope(*branch) {
		return fail(http.StatusForbidden, "out_of_scope_device")
	}
	return nil
}

func (c *Console) revokeDevicePost(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	if err := c.checkDeviceChange(r.Context(), v, r.PathValue("id"), nil); err != nil {
		return err
	}
	// The confirmation is a checkbox in the form, so a stray click on
	// the button alone revokes nothing.
	if r.PostFormValue("confirm") != "yes" {
		return c.seeOther(w, r, "/console/devices", "msg.adm.revoke_unconfirmed")
	}
	if _, err := srv.RevokeDevice(r.Context(), v.Actor(), r.PathValue("id")); err != nil {
		return opError(err)
	}
	c.forgetDevices()
	return c.seeOther(w, r, "/console/devices", "msg.adm.revoked")
}

func (c *Console) branchDevicePost(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	branch := strings.TrimSpace(r.PostFormValue("branch"))
	if err := c.checkDeviceChange(r.Context(), v, r.PathValue("id"), &branch); err != nil {
		return err
	}
	if _, err := srv.SetDeviceBranch(r.Context(), v.Actor(), r.PathValue("id"), branch); err != nil {
		return opError(err)
	}
	c.forgetDevices()
	return c.seeOther(w, r, "/console/devices", "msg.adm.branch_set")
}

// enrolTokenPost makes an enrolment token and shows it in this answer
// only (no redirect: the token is not kept anywhere to show again).
func (c *Console) enrolTokenPost(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	srv, err := c.server()
	if err != nil {
		return err
	}
	branch := strings.TrimSpace(r.PostFormValue("branch"))
	if err := c.checkDeviceChange(r.Context(), v, "", &branch); err != nil {
		return err
	}
	hours := strings.TrimSpace(r.PostFormValue("ttl_hours"))
	ttl := central.DefaultTokenTTL
	if hours != "" {
		var h int
		if _, err := fmt.Sscan(hours, &h); err != nil || h < 1 || time.Duration(h)*time.Hour > central.MaxTokenTTL {
			return fail(http.StatusBadRequest, "adm.ttl")
		}
		ttl = time.Duration(h) * time.Hour
	}
	tr, err := srv.CreateEnrollToken(r.Context(), v.Actor(), branch, ttl)
	if err != nil {
		return opError(err)
	}
	qrURL, err := qrDataURL(tr.Token, 8)
	if err != nil {
		return err
	}
	p, err := c.fleet(r, v)
	if err != nil {
		return err
	}
	p.Token = &tokenView{TokenResponse: tr, Branch: branch, QR: template.URL(qrURL)}
	return c.render(w, r, v, http.StatusOK, "admin_devices.html", p)
}

// qrDataURL draws text as a QR code (error correction M, quiet zone of 4
// modules, scale pixels per module) in a PNG data: URL, which the
// console's content security policy allows as an image.
func qrDataURL(text string, scale int) (string, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("encoding the QR code: %w", err)
	}
	n := code.Bounds().Dx()
	size := (n + 8) * scale
	// Scale leaves a border of 4 modules around the code, as QR readers
	// expect.
	code, err = barcode.Scale(code, n*scale, n*scale)
	if err != nil {
		return "", fmt.Errorf("scaling the QR code: %w", err)
	}
	img := quietZone(code, size, 4*scale)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("encoding the QR code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// quietZone puts code on a white square of size pixels, border pixels in.
func quietZone(code image.Image, size, border int) image.Image {
	img := image.NewGray(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	b := code.Bounds()
	draw.Draw(img, image.Rect(border, border, border+b.Dx(), border+b.Dy()), code, b.Min, draw.Src)
	return img
}
