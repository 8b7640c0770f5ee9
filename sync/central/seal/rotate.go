package seal

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// rewrapAll rewraps the submissions' data keys, then the hosted flow's,
// counting them in res.
func rewrapAll(ctx context.Context, ks central.KeyStore, kek KEKProvider, res *RotateResult) error {
	n, err := Rewrap(ctx, ks, kek)
	res.Rewrapped += n
	if err != nil {
		return err
	}
	n, err = RewrapHosted(ctx, ks, kek)
	res.RewrappedHosted += n
	return err
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
	KeyID     string `json:"key_id"` // the new current KEK
	Rewrapped int    `json:"rewrapped"`
	// RewrappedHosted counts the hosted flow's values (captures, short
	// codes) whose data key was rewrapped.
	RewrappedHosted int      `json:"rewrapped_hosted"`
	Retired         []string `json:"retired"`
}

// ErrStillWrapped means data keys are still wrapped by an old KEK after
// rewrapping: a central instance is not reading this keyring file (it keeps
// wrapping under the old KEK), so retiring it would lose their data.
var ErrStillWrapped = errors.New("seal: data keys still wrapped by an old key-encryption key")

// Rotate makes a new KEK current in the keyring, rewraps every data key
// under it (the submissions' and the hosted flow's live values'), and
// then retires the old KEKs. Central instances reading the
// same file switch to the new KEK on their next use of it. Old KEKs stay
// until every data key is rewrapped: if any is not (a hosted value's
// included), Rotate keeps them and returns ErrStillWrapped.
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
	if err := rewrapAll(ctx, ks, kr, &res); err != nil {
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
	if err := rewrapAll(ctx, ks, kr, &res); err != nil {
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
	// The hosted flow's values too: one wrapped by a KEK the keyring
	// holds would not open once it is retired (a person capturing on
	// their phone would lose their flow). One wrapped by a KEK already
	// gone opens for no one: it only waits for its expiry.
	hosted, err := HostedKeyUsage(ctx, ks)
	if err != nil {
		return res, err
	}
	held, _, err := kr.KeyIDs()
	if err != nil {
		return res, err
	}
	for id, count := range hosted {
		if id != res.KeyID && count > 0 && slices.Contains(held, id) {
			return res, fmt.Errorf("%w: %d hosted flow values under %s", ErrStillWrapped, count, id)
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

// hostedHeadLen is how many bytes of each hosted value a rotation reads:
// the head (KEK id and wrapped data key) fits with room to spare.
const hostedHeadLen = 4096

// errNoHostedKeys means a store keeps hosted state but cannot have it
// rewrapped: a rotation must not retire the KEK wrapping it.
var errNoHostedKeys = errors.New("seal: the store keeps hosted flow state but cannot rewrap it (central.HostedKeyStore)")

// hostedKeyStore returns ks's hosted state for a rotation; nil when ks
// keeps none.
func hostedKeyStore(ks central.KeyStore) (central.HostedKeyStore, error) {
	if hs, ok := ks.(central.HostedKeyStore); ok {
		return hs, nil
	}
	if _, ok := ks.(central.HostedStates); ok {
		return nil, errNoHostedKeys
	}
	return nil, nil
}

// eachHostedHead calls fn with every hosted value's key and head (its KEK
// id and wrapped data key), rewrapBatch values a store call; fn's swaps
// are applied after each batch. A head that does not parse (no sealed
// value: it opens for no one) is passed over.
func eachHostedHead(ctx context.Context, hs central.HostedKeyStore, fn func(key, keyID string, wrapped, head []byte) (*central.HostedHeadSwap, error)) (int, error) {
	n := 0
	after := ""
	for {
		heads, err := hs.HostedStateHeads(ctx, after, hostedHeadLen, rewrapBatch)
		if err != nil {
			return n, err
		}
		var swaps []central.HostedHeadSwap
		for _, h := range heads {
			keyID, wrapped, l, ok := parseHostedHead(h.Head)
			if !ok {
				continue
			}
			sw, err := fn(h.Key, keyID, wrapped, h.Head[:l])
			if err != nil {
				return n, err
			}
			if sw != nil {
				swaps = append(swaps, *sw)
			}
		}
		if len(swaps) > 0 {
			// Those not applied were replaced or deleted meanwhile: a value
			// written since is wrapped anew, one deleted stays deleted.
			done, err := hs.SwapHostedStateHeads(ctx, swaps)
			n += done
			if err != nil {
				return n, err
			}
		}
		if len(heads) < rewrapBatch {
			return n, nil
		}
		after = heads[len(heads)-1].Key
	}
}

// RewrapHosted rewraps the data key of every hosted flow value (a
// capture, a short code; seal.Store.PutHostedState) not wrapped by the
// provider's current KEK under it, in place: the sealed value behind it
// and its associated data (its key) stay. A value wrapped by a KEK the
// provider no longer holds opens for no one and is left to expire. It
// returns how many it rewrapped; ks keeping no hosted state, none.
func RewrapHosted(ctx context.Context, ks central.KeyStore, kek KEKProvider) (int, error) {
	hs, err := hostedKeyStore(ks)
	if err != nil || hs == nil {
		return 0, err
	}
	current, err := kek.CurrentKeyID(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrapping hosted state: %w", err)
	}
	n, err := eachHostedHead(ctx, hs, func(key, keyID string, wrapped, head []byte) (*central.HostedHeadSwap, error) {
		if keyID == current {
			return nil, nil
		}
		a := hostedAAD(purposeDEK, key)
		dek, err := kek.Unwrap(ctx, keyID, wrapped, a)
		if errors.Is(err, ErrUnknownKey) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the data key of hosted value %s: %w", key, err)
		}
		id, rewrapped, err := kek.Wrap(ctx, dek, a)
		clear(dek)
		if err != nil {
			return nil, err
		}
		nh, err := hostedHead(id, rewrapped)
		if err != nil {
			return nil, err
		}
		return &central.HostedHeadSwap{Key: key, Old: head, New: nh}, nil
	})
	if err != nil {
		return n, fmt.Errorf("rewrapping hosted state: %w", err)
	}
	return n, nil
}

// HostedKeyUsage counts the hosted flow's values by the KEK wrapping their
// data key (`kyc-central keys status`, and Rotate before it retires a
// KEK); ks keeping no hosted state, none.
func HostedKeyUsage(ctx context.Context, ks central.KeyStore) (map[string]int, error) {
	out := map[string]int{}
	hs, err := hostedKeyStore(ks)
	if err != nil || hs == nil {
		return out, err
	}
	_, err = eachHostedHead(ctx, hs, func(_, keyID string, _, _ []byte) (*central.HostedHeadSwap, error) {
		out[keyID]++
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting hosted state's data keys: %w", err)
	}
	return out, nil
}
