package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// metaPin is the meta record holding the device's enrolment pin (Pin).
const metaPin = "enrolment-pin"

// Pin is what the vault keeps of the device's enrolment, sealed like
// every record: which central the device enrolled with, and the newest
// configuration sync installed from it. Kept here rather than beside the
// enrolment file, it cannot be deleted without the vault's results and
// audit going with it, nor changed without the vault's key; the loader
// of the device's configuration refuses a missing or changed enrolment
// and a configuration older than Config against it
// (internal/deviceconf).
type Pin struct {
	CentralURL string `json:"central_url"`
	DeviceID   string `json:"device_id"`
	// Keys is the fingerprint of central's keys pinned at enrolment
	// (protocol.CentralFingerprint).
	Keys []byte `json:"keys"`
	// Config is the newest configuration installed from this enrolment;
	// nil before the first sync installs one.
	Config *ConfigMark `json:"config,omitempty"`
}

// ConfigMark is a configuration central signed, by the parts that only
// go forward: when central signed it, the risk configuration's version
// and each watchlist's.
type ConfigMark struct {
	IssuedAt    time.Time        `json:"issued_at"`
	RiskVersion int64            `json:"risk_version"`
	Watchlists  map[string]int64 `json:"watchlists,omitempty"`
}

// SetPin records p as the device's enrolment, replacing the one before
// with its configuration mark: a new enrolment starts with no mark. It is
// the enrolment's to call (kyc enroll, the app), and sync's when the
// vault holds none.
func (v *Vault) SetPin(ctx context.Context, p Pin) error {
	if p.CentralURL == "" || p.DeviceID == "" || len(p.Keys) == 0 {
		return fmt.Errorf("recording the enrolment pin: %w: missing fields", ErrInvalid)
	}
	p.Config = nil
	pt, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("recording the enrolment pin: %w", err)
	}
	// A damaged pin is replaced, not reopened: enrolling again mends it.
	if err := v.replaceMeta(ctx, metaPin, pt); err != nil {
		return fmt.Errorf("recording the enrolment pin: %w", err)
	}
	return nil
}

// ErrPinChanged means RecordConfig was given a mark for an enrolment
// other than the one the vault holds (the device was enrolled again
// meanwhile, or has no pin).
var ErrPinChanged = errors.New("vault: the enrolment pin is not the one given")

// RecordConfig keeps m as the newest configuration installed from the
// enrolment pinned with keys; ErrPinChanged when the vault holds no pin
// or one with other keys. Sync calls it once the configuration is
// installed, having refused one older than the mark before.
func (v *Vault) RecordConfig(ctx context.Context, keys []byte, m ConfigMark) error {
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		p, ok, err := readPin(tx, k)
		if err != nil {
			return err
		}
		if !ok || !bytes.Equal(p.Keys, keys) {
			return ErrPinChanged
		}
		m.IssuedAt = m.IssuedAt.UTC()
		p.Config = &m
		pt, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return v.putRecord(tx, k, bucketMeta, []byte(metaPin), pt)
	})
	if err != nil {
		return fmt.Errorf("recording the configuration installed: %w", err)
	}
	return nil
}

// Pinned is the enrolment pin SetPin recorded, false when there is none
// (a device never enrolled, or enrolled before versions kept it and not
// synced since).
func (v *Vault) Pinned(ctx context.Context) (Pin, bool, error) {
	var p Pin
	var ok bool
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) (err error) {
		p, ok, err = readPin(tx, k)
		return err
	})
	if err != nil {
		return Pin{}, false, fmt.Errorf("reading the enrolment pin: %w", err)
	}
	return p, ok, nil
}

// readPin reads the pin; a damaged one is an error, never none: none
// would let the device stand alone.
func readPin(tx *bbolt.Tx, k *keyring) (Pin, bool, error) {
	pt, err := getRecord(tx, k, bucketMeta, []byte(metaPin))
	if errors.Is(err, ErrNotFound) {
		return Pin{}, false, nil
	}
	if err != nil {
		return Pin{}, false, err
	}
	var p Pin
	if err := json.Unmarshal(pt, &p); err != nil {
		return Pin{}, false, fmt.Errorf("%w: decoding the enrolment pin: %w", ErrCorrupt, err)
	}
	return p, true, nil
}
