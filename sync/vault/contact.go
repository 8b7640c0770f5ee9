package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// metaLastContact is the meta record holding when central last answered
// the device (RecordContact).
const metaLastContact = "last-contact"

// lastContact is the sealed form of the last contact.
type lastContact struct {
	At time.Time `json:"at"`
}

// RecordContact keeps t as when central last answered the device, by the
// device clock. The device check compares the clock with it (a clock
// behind it was turned back, one far ahead has been offline too long);
// kept in the vault, it outlives a restart of the app or a run of the
// command line, which would otherwise start with no contact at all and
// pass a clock turned back while offline. Each call replaces the last: a
// clock put right after a contact made while it was wrong is judged by
// the next contact, not by the wrong one forever.
func (v *Vault) RecordContact(ctx context.Context, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("recording the last contact: %w: zero time", ErrInvalid)
	}
	pt, err := json.Marshal(lastContact{At: t.UTC()})
	if err != nil {
		return fmt.Errorf("recording the last contact: %w", err)
	}
	if err := v.replaceMeta(ctx, metaLastContact, pt); err != nil {
		return fmt.Errorf("recording the last contact: %w", err)
	}
	return nil
}

// LastContact is the time RecordContact last kept; zero when central
// never answered this device.
func (v *Vault) LastContact(ctx context.Context) (time.Time, error) {
	var c lastContact
	err := v.view(ctx, func(tx *bbolt.Tx, k *keyring) error {
		pt, err := getRecord(tx, k, bucketMeta, []byte(metaLastContact))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(pt, &c); err != nil {
			return fmt.Errorf("%w: decoding the last contact: %w", ErrCorrupt, err)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the last contact: %w", err)
	}
	return c.At, nil
}
