package agent

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// ErrEnrollmentRemoved means the vault pinned an enrolment (vault.Pin)
// that the enrolment file no longer is: deleted, or changed by hand.
// Without the pin's enrolment the device would stand alone with its own
// unsigned configuration, or take another central's: nothing is
// verified, and sync installs no configuration, until the device enrols
// again (which pins the new enrolment) or the file is put back.
var ErrEnrollmentRemoved = errors.New("enrollment removed: this device was enrolled with central, and its enrolment file is missing or not the enrolment its vault recorded: enrol again (kyc enroll --again, or the app's settings) or restore " + identity.EnrollmentFile)

// PinOf is the vault's pin of enrolment e (vault.Vault.SetPin): central's
// URL, the device's id and the fingerprint of central's keys.
func PinOf(e identity.Enrollment) vault.Pin {
	return vault.Pin{CentralURL: e.CentralURL, DeviceID: e.DeviceID, Keys: protocol.CentralFingerprint(e.CentralBoxKey[:], e.CentralSignKey)}
}

// CheckPin is nil when e is the enrolment p pinned, else
// ErrEnrollmentRemoved saying what differs.
func CheckPin(p vault.Pin, e identity.Enrollment) error {
	q := PinOf(e)
	switch {
	case !bytes.Equal(p.Keys, q.Keys):
		return fmt.Errorf("%w (central's keys are not those pinned at enrolment with %s)", ErrEnrollmentRemoved, p.CentralURL)
	case p.DeviceID != q.DeviceID:
		return fmt.Errorf("%w (device %s, enrolled as %s)", ErrEnrollmentRemoved, q.DeviceID, p.DeviceID)
	case p.CentralURL != q.CentralURL:
		return fmt.Errorf("%w (central %s, enrolled with %s)", ErrEnrollmentRemoved, q.CentralURL, p.CentralURL)
	}
	return nil
}

// MarkOf is the part of c that only goes forward, as the vault keeps it
// (vault.Vault.RecordConfig).
func MarkOf(c protocol.Config) vault.ConfigMark {
	m := vault.ConfigMark{IssuedAt: c.IssuedAt, RiskVersion: c.Version}
	for _, w := range c.Watchlists {
		if m.Watchlists == nil {
			m.Watchlists = make(map[string]int64, len(c.Watchlists))
		}
		m.Watchlists[w.Name] = w.Version
	}
	return m
}

// CheckMark is nil unless c, a configuration installed on the device, is
// older than m, the newest sync installed (ErrConfigRollback): an older
// risk version, an older version of one of m's lists or one of them
// missing, or signed more than rollbackTolerance before m. A copy of an
// older configuration central signed, put back on disk, is so refused. A
// mark dated ahead of now (central's clock ran ahead when it signed; the
// next sync lowers it) is held to its versions only.
func CheckMark(m *vault.ConfigMark, c protocol.Config, now time.Time) error {
	if m == nil {
		return nil
	}
	if what := olderThanMark(*m, c); what != "" {
		return fmt.Errorf("%w: %s", ErrConfigRollback, what)
	}
	if !m.IssuedAt.After(now.Add(rollbackTolerance)) && c.IssuedAt.Before(m.IssuedAt.Add(-rollbackTolerance)) {
		return fmt.Errorf("%w: signed %s, the newest installed %s", ErrConfigRollback, c.IssuedAt.UTC().Format(time.RFC3339), m.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// olderThanMark names what c takes back from m, "" when nothing: what
// goesBack names, and a risk version 0 where one was installed (a copy
// from before central published its settings; central's answer of 0 is
// "none published", which goesBack lets through).
func olderThanMark(m vault.ConfigMark, c protocol.Config) string {
	if c.Version == 0 && m.RiskVersion > 0 {
		return fmt.Sprintf("risk configuration version 0, installed %d", m.RiskVersion)
	}
	return goesBack(markConfig(m), c)
}

// markConfig is m as the configuration it marks, for SyncConfig's
// rollback checks.
func markConfig(m vault.ConfigMark) protocol.Config {
	c := protocol.Config{Version: m.RiskVersion, IssuedAt: m.IssuedAt}
	for _, name := range slices.Sorted(maps.Keys(m.Watchlists)) {
		c.Watchlists = append(c.Watchlists, protocol.Watchlist{Name: name, Version: m.Watchlists[name]})
	}
	return c
}
