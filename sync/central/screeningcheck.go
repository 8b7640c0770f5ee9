package central

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/sync/identity"
)

// ReasonScreeningUnconfirmed: an approval whose result claims watchlists
// confirmed by central more recently than central served the device its
// configuration (the only moment central confirms a device's lists), or a
// list confirmed at that moment that central did not serve it, or any
// confirmation by a device central never served one: the lists' ages the
// device judged fresh are not what central gave it. Central puts it first
// in Summary.Reasons, as the reasons of decisioncheck.go.
const ReasonScreeningUnconfirmed = "DEVICE_SCREENING_UNCONFIRMED"

// ScreeningClaimSkew is how far a list's claimed confirmation, put on
// central's clock by the device's reported offset, may be after central
// last served the device its configuration: the offset is measured from
// Date headers to the second and drifts a little between syncs.
const ScreeningClaimSkew = 5 * time.Minute

// ConfigServing is a configuration central served a device (GET
// /v1/config): when, by central's clock (the bundle's IssuedAt, as of
// which the device's agent records its lists confirmed), and the lists it
// named, each with its version.
type ConfigServing struct {
	At         time.Time        `json:"at"`
	Watchlists map[string]int64 `json:"watchlists,omitempty"`
	// ListsUnknown marks the record a store's upgrade makes for each
	// device enrolled before servings were recorded: At is the upgrade,
	// which no list's confirmation can be after, but which lists the
	// device was served is unknown, so none is doubted for not being
	// named. Without it every approval queued on a device at the upgrade
	// would go to review as "never served".
	ListsUnknown bool `json:"lists_unknown,omitempty"`
}

// ConfigServings records the last configuration central served each
// device, which a device's claimed lists' ages are checked against
// (doubtScreening).
type ConfigServings interface {
	// ServeConfig records c as served to deviceID, in place of the
	// record it has unless that one is later (another instance served
	// the device meanwhile).
	ServeConfig(ctx context.Context, deviceID string, c ConfigServing) error
	// LastConfig is the last configuration recorded served to deviceID;
	// ErrNotFound when none is.
	LastConfig(ctx context.Context, deviceID string) (ConfigServing, error)
}

// screeningDoubt is what central compared when it doubted a device's
// claimed lists' ages (decisionDoubt.Screening).
type screeningDoubt struct {
	// ServedAt is when central last served the device its configuration;
	// zero when it never did (as far as it recorded).
	ServedAt time.Time `json:"config_served_at,omitzero"`
	// OffsetMS is the device's clock offset from central's its last status
	// reports (central minus device), which moved its claims onto
	// central's clock.
	OffsetMS int64 `json:"clock_offset_ms"`
	// Lists are the lists whose claimed confirmation central's record
	// contradicts.
	Lists []claimedList `json:"lists"`
}

// names are the lists' names, sorted.
func (sd *screeningDoubt) names() []string {
	names := make([]string, 0, len(sd.Lists))
	for _, c := range sd.Lists {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// claimedList is one list's confirmation as the device claims it.
type claimedList struct {
	Name string `json:"name"`
	// Confirmed is the claimed confirmation on the device's clock (the
	// later of the list's Confirmed and its screening time less its age);
	// Central the same on central's clock.
	Confirmed time.Time `json:"confirmed"`
	Central   time.Time `json:"confirmed_central"`
	// Served is whether central's last configuration named the list.
	Served bool `json:"served"`
}

// screeningClaims is the lists' ages a payload's result records
// (report.risk.screening, risk.ScreeningAge); nil for a result without
// them (a device older than the check, a caller that judges no ages).
func screeningClaims(payload []byte) *risk.ScreeningAge {
	var p struct {
		Report *struct {
			Risk *struct {
				Screening *risk.ScreeningAge `json:"screening"`
			} `json:"risk"`
		} `json:"report"`
	}
	if json.Unmarshal(payload, &p) != nil || p.Report == nil || p.Report.Risk == nil {
		return nil
	}
	return p.Report.Risk.Screening
}

// doubtScreening checks the lists' ages a device's approval claims against
// central's record of the last configuration it served that device. The
// device's agent records a list confirmed as of the moment central signed
// the bundle naming it, put on the device's clock (sync/agent), so no
// list can claim a confirmation after central last served the device: a
// claim later than that (beyond ScreeningClaimSkew, once moved onto
// central's clock by the offset the device's last status reports, an
// offset beyond identity.MaxClockCorrection, which no agent reports,
// counting as none), a list claimed confirmed at that moment that central
// did not serve, or any claimed confirmation by a device central never
// served, comes from a device that is tampered with or lies. Such an
// approval goes to review, ReasonScreeningUnconfirmed. A claim earlier
// than the last serving is not judged (the device may have screened
// before it); lists with no confirmation (imported on the device) are
// the device's own; a result that records no ages is judged as before.
// The device's agent uploads before it syncs its configuration in each
// pass, so the last serving central knows at ingest is, for a device
// back from days offline, the one its lists came from. judged is how
// doubtDecision judged the approval by its bands: the doubt records its
// risk versions and band, as a doubt of the bands does.
func (s *Server) doubtScreening(ctx context.Context, d Device, sum Summary, payload []byte, judged *decisionDoubt) (*decisionDoubt, error) {
	if sum.Decision != string(risk.Approve) || judged == nil {
		return nil, nil
	}
	sc := screeningClaims(payload)
	if sc == nil {
		return nil, nil
	}
	last, err := s.cfg.Store.LastConfig(ctx, d.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("reading the last configuration served to a device to check its lists' ages: %w", err)
	}
	sd := &screeningDoubt{ServedAt: last.At}
	if d.Status != nil {
		if off := time.Duration(d.Status.ClockOffsetMS) * time.Millisecond; off.Abs() <= identity.MaxClockCorrection {
			sd.OffsetMS = d.Status.ClockOffsetMS
		}
	}
	off := time.Duration(sd.OffsetMS) * time.Millisecond
	for _, l := range sc.Lists {
		claimed := l.Confirmed
		if l.Known && l.Since == "confirmed" && !sc.At.IsZero() {
			if byAge := sc.At.Add(-l.Age); byAge.After(claimed) {
				claimed = byAge
			}
		}
		if claimed.IsZero() {
			continue
		}
		c := claimedList{Name: l.Name, Confirmed: claimed, Central: claimed.Add(off)}
		_, c.Served = last.Watchlists[l.Name]
		switch {
		case last.At.IsZero():
		case c.Central.After(last.At.Add(ScreeningClaimSkew)):
		case !c.Served && !last.ListsUnknown && !c.Central.Before(last.At.Add(-ScreeningClaimSkew)):
		default:
			continue
		}
		sd.Lists = append(sd.Lists, c)
	}
	if len(sd.Lists) == 0 {
		return nil, nil
	}
	dd := &decisionDoubt{Reason: ReasonScreeningUnconfirmed, Decision: sum.Decision, Score: sum.Score, Screening: sd,
		DeviceVersion: judged.DeviceVersion, VersionFrom: judged.VersionFrom, Version: judged.Version, ApproveMin: judged.ApproveMin}
	if last.At.IsZero() {
		dd.Detail = fmt.Sprintf("the device approved claiming central confirmed its watchlists (%s), but central never served it a configuration", strings.Join(sd.names(), ", "))
		return dd, nil
	}
	why := make([]string, 0, len(sd.Lists))
	for _, c := range sd.Lists {
		if c.Central.After(last.At.Add(ScreeningClaimSkew)) {
			why = append(why, fmt.Sprintf("%s claimed confirmed at %s by central's clock, after it", c.Name, c.Central.UTC().Format(time.RFC3339)))
		} else {
			why = append(why, c.Name+" claimed confirmed by it, which did not name the list")
		}
	}
	dd.Detail = fmt.Sprintf("the device approved, but the confirmations of its watchlists it claims contradict the configuration central last served it (%s): %s",
		last.At.UTC().Format(time.RFC3339), strings.Join(why, "; "))
	return dd, nil
}
