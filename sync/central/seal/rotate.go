package seal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// rewrapBatch is how many data keys one store call lists.
const rewrapBatch = 500

// Rewrap rewraps every data key that is not wrapped by the provider's
// current KEK under it. Only the wrapped keys change: payloads and images
// stay as they are, sealed under their data keys. It returns how many keys
// it rewrapped.
func Rewrap(ctx context.Context, ks central.KeyStore, kek KEKProvider) (int, error) {
	current, err := kek.CurrentKeyID(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrapping data keys: %w", err)
	}
	n := 0
	var after central.SubmissionRef
	for {
		stale, err := ks.StaleKeys(ctx, current, after, rewrapBatch)
		if err != nil {
			return n, fmt.Errorf("rewrapping data keys: %w", err)
		}
		rs := make([]central.Rewrapping, 0, len(stale))
		for _, w := range stale {
			a := aad(purposeDEK, w.SubmissionRef)
			dek, err := kek.Unwrap(ctx, w.KeyID, w.Wrapped, a)
			if err != nil {
				return n, fmt.Errorf("rewrapping the data key of %s/%s: %w", w.DeviceID, w.Key, err)
			}
			id, wrapped, err := kek.Wrap(ctx, dek, a)
			clear(dek)
			if err != nil {
				return n, fmt.Errorf("rewrapping data keys: %w", err)
			}
			rs = append(rs, central.Rewrapping{Old: w, KeyID: id, Wrapped: wrapped})
		}
		// Those not applied were erased (or rewrapped) meanwhile: nothing
		// left to do for them.
		done, err := ks.Rewrap(ctx, rs)
		n += done
		if err != nil {
			return n, fmt.Errorf("rewrapping data keys: %w", err)
		}
		if len(stale) < rewrapBatch {
			return n, nil
		}
		after = stale[len(stale)-1].SubmissionRef
	}
}

// RotateOptions tune Rotate.
type RotateOptions struct {
	// Grace is how long Rotate waits after the first rewrapping pass for
	// requests that wrapped a data key under the old KEK just before the
	// running centrals noticed the new one; then it rewraps again.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RotateResult says what Rotate did.
type RotateResult struct {
	KeyID     string   `json:"key_id"` // the new current KEK
	Rewrapped int      `json:"rewrapped"`
	Retired   []string `json:"retired"`
}

// ErrStillWrapped means data keys are still wrapped by an old KEK after
// rewrapping: a central instance is not reading this keyring file (it keeps
// wrapping under the old KEK), so retiring it would lose their data.
var ErrStillWrapped = errors.New("seal: data keys still wrapped by an old key-encryption key")

// Rotate makes a new KEK current in the keyring, rewraps every data key
// under it, and then retires the old KEKs. Central instances reading the
// same file switch to the new KEK on their next use of it. Old KEKs stay
// until every data key is rewrapped: if any is not, Rotate keeps them and
// returns ErrStillWrapped.
func Rotate(ctx context.Context, ks central.KeyStore, kr *FileKeyring, o RotateOptions) (RotateResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	var res RotateResult
	// A store whose key check the keyring does not open gets no new key;
	// a stale one (an older release's rotation) is replaced first.
	raw, err := ks.KeyCheck(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the key check: %w", err)
	}
	if raw != nil {
		if err := checkRecorded(ctx, ks, raw, kr, true); err != nil {
			return res, err
		}
	}
	if res.KeyID, err = kr.AddKey(o.Now()); err != nil {
		return res, err
	}
	// The key check moves to the new KEK, the old ones still listed: a
	// copy of the store taken from now on needs them until it is done.
	err = updateKeyCheck(ctx, ks, func(c *keyCheck) (bool, error) {
		if err := c.open(ctx, kr); err != nil {
			return false, err
		}
		return true, c.wrap(ctx, kr)
	})
	if err != nil {
		return res, fmt.Errorf("rewrapping the key check: %w", err)
	}
	n, err := Rewrap(ctx, ks, kr)
	res.Rewrapped += n
	if err != nil {
		return res, err
	}
	if o.Grace > 0 {
		t := time.NewTimer(o.Grace)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
	}
	n, err = Rewrap(ctx, ks, kr)
	res.Rewrapped += n
	if err != nil {
		return res, err
	}
	usage, err := ks.KeyUsage(ctx)
	if err != nil {
		return res, err
	}
	for id, count := range usage {
		if id != "" && id != res.KeyID && count > 0 {
			return res, fmt.Errorf("%w: %d under %s", ErrStillWrapped, count, id)
		}
	}
	// Nothing is wrapped by the old KEKs now: the key check stops
	// listing them before they go (the other order would leave, for a
	// moment, a record naming keys the keyring no longer holds).
	err = updateKeyCheck(ctx, ks, func(c *keyCheck) (bool, error) {
		if len(c.KEKs) == 1 && c.KEKs[0] == res.KeyID {
			return false, nil
		}
		c.KEKs = []string{res.KeyID}
		return true, nil
	})
	if err != nil {
		return res, fmt.Errorf("updating the key check (the old keys are kept): %w", err)
	}
	res.Retired, err = kr.Retire()
	return res, err
}
