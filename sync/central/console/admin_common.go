package console

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// The admin pages (admin_*.go): the device fleet, the partners, watchlists
// and risk settings, the dashboard with its CSV export, and privacy
// (erasure and retention). They register through routeAdmin, change
// central only through central.Server's operations or the partner API's
// (Config.Partners), which audit every change, and take their strings
// from the catalogues' "adm." keys.

func (c *Console) routeAdmin() {
	c.routeAdminFleet()
	c.routeAdminPartners()
	c.routeAdminLists()
	c.routeAdminRisk()
	c.routeAdminDashboard()
	c.routeAdminPrivacy()
}

// server is the running central, for pages that change it; 503 when the
// console runs without one (some tests).
func (c *Console) server() (*central.Server, error) {
	if c.cfg.Central == nil {
		return nil, fail(http.StatusServiceUnavailable, "unavailable")
	}
	return c.cfg.Central, nil
}

// opError turns an operation's input error (*httpx.Error below 500) into a
// console error with the code's message, and passes anything else on as
// internal.
func opError(err error) error {
	var he *httpx.Error
	if errors.As(err, &he) && he.Status < 500 && he.Status != 0 {
		return &httpx.Error{Status: he.Status, Code: he.Code, Message: he.Code, Cause: he}
	}
	if errors.As(err, &he) && he.Status == http.StatusNotImplemented {
		return &httpx.Error{Status: he.Status, Code: he.Code, Message: he.Code, Cause: he}
	}
	return err
}

// admAge is a duration as people read an age: 45s, 12m, 5h, 3d.
func admAge(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// admMS is a duration in milliseconds as an age.
func admMS(ms float64) string { return admAge(time.Duration(ms * float64(time.Millisecond))) }

// trimFloat prints f without trailing zeros: 0.5, 85, 0.125.
func admTrim(f float64) string {
	s := fmt.Sprintf("%.4f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// percentile is the p-th percentile (0-1) of sorted values, by the
// nearest rank; 0 for none.
func admPercentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// sortedCopy returns vs sorted, leaving vs as it was.
func admSorted(vs []float64) []float64 {
	out := append([]float64(nil), vs...)
	sort.Float64s(out)
	return out
}

// inScope keeps the devices of ds that v sees.
func admInScope(v *Viewer, ds []central.Device) []central.Device {
	if len(v.User.Scopes) == 0 {
		return ds
	}
	var out []central.Device
	for _, d := range ds {
		if v.User.InScope(d.Branch) {
			out = append(out, d)
		}
	}
	return out
}
