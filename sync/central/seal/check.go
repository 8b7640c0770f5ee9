package seal

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// ErrForeignKeys means a store's data keys are wrapped by key-encryption
// keys the keyring does not hold or that do not open them: the store is
// another central's (a copy restored beside the wrong keyring), or the
// keyring is not the one the store was sealed with. A central serving it
// would start and then fail every read of a submission, and its blind
// index would find no one (an erasure by person reporting nothing to
// erase): it must not serve it.
var ErrForeignKeys = errors.New("seal: the store's data keys are not this keyring's")

// ErrBadKeyCheck means the store's key check record is malformed (a
// damaged store, an edit by hand): central refuses the store until
// RepairKeyCheck (`kyc-central keys check --repair`) rebuilds the record
// from the data.
var ErrBadKeyCheck = errors.New("seal: malformed key check record")

// ErrNewerKeyCheck means the store's key check record is of a format a
// later release wrote: the store was served by that release, whose data
// this one may not read. Neither serving nor RepairKeyCheck overwrites it.
var ErrNewerKeyCheck = errors.New("seal: the key check record is a later release's")

// keyHolder is a KEK provider that can list the KEKs it holds
// (FileKeyring).
type keyHolder interface {
	KeyIDs() (ids []string, current string, err error)
}

// The key check is a small record in the store (central.KeyStore.KeyCheck)
// that shows which keyring the store is sealed under without any
// submission: what else is sealed (partners' user references, webhook
// event bodies and attempt excerpts under the index key's field key, the
// hosted flow's state under the KEK, blind-index tokens) cannot be
// listed cheaply, and a store holding only those would pass a check of
// submissions beside any keyring. It holds a random key wrapped by a KEK
// and a constant sealed with the field key, each with associated data
// naming the key check, and the ids of every KEK that may wrap a data key
// in the store: Store notes each KEK it wraps with before the data it
// wraps is written, Rotate rewraps the record under the new KEK and, once
// nothing is wrapped by the old ones, drops them. So a start reads one
// record instead of counting every submission's key, and still refuses a
// keyring that lacks a KEK some data is wrapped by (an old KEK removed by
// hand, a copy taken mid-rotation put back beside the rotated keyring).

// keyCheckFormat heads every key check record; keyCheckFormatFamily is
// what every version's shares.
const (
	keyCheckFormat       = keyCheckFormatFamily + "1"
	keyCheckFormatFamily = "openkyc-central-key-check-v"
)

// keyCheckPlain is what the record's Field seals.
const keyCheckPlain = "openkyc central key check"

type keyCheck struct {
	Format string `json:"format"`
	// KEKID wraps Wrapped, a random key of no other use.
	KEKID   string `json:"kek_id"`
	Wrapped []byte `json:"wrapped"`
	// Field is keyCheckPlain sealed by the Indexer's field key (empty when
	// the provider that wrote it was no Indexer).
	Field []byte `json:"field,omitempty"`
	// KEKs may wrap data keys in the store, sorted.
	KEKs []string `json:"keks"`
}

func keyCheckAAD(what string) []byte {
	return []byte("openkyc central seal v1\x00key-check\x00" + what)
}

// newKeyCheck makes a record wrapped by kek's current KEK listing keks and
// that KEK.
func newKeyCheck(ctx context.Context, kek KEKProvider, keks []string) (keyCheck, error) {
	c := keyCheck{Format: keyCheckFormat}
	if err := c.wrap(ctx, kek); err != nil {
		return c, err
	}
	if idx, ok := kek.(Indexer); ok {
		f, err := idx.SealField([]byte(keyCheckPlain), keyCheckAAD("field"))
		if err != nil {
			return c, fmt.Errorf("making the key check: %w", err)
		}
		c.Field = f
	}
	c.addKEKs(keks...)
	return c, nil
}

// wrap wraps a new random key under kek's current KEK and lists that KEK.
func (c *keyCheck) wrap(ctx context.Context, kek KEKProvider) error {
	k := random(32)
	defer clear(k)
	id, wrapped, err := kek.Wrap(ctx, k, keyCheckAAD("kek"))
	if err != nil {
		return fmt.Errorf("making the key check: %w", err)
	}
	c.KEKID, c.Wrapped = id, wrapped
	c.addKEKs(id)
	return nil
}

// addKEKs lists ids and reports whether any was not listed.
func (c *keyCheck) addKEKs(ids ...string) bool {
	changed := false
	for _, id := range ids {
		if id != "" && !slices.Contains(c.KEKs, id) {
			c.KEKs = append(c.KEKs, id)
			changed = true
		}
	}
	slices.Sort(c.KEKs)
	return changed
}

// open reports ErrForeignKeys unless kek opens the record.
func (c *keyCheck) open(ctx context.Context, kek KEKProvider) error {
	k, err := kek.Unwrap(ctx, c.KEKID, c.Wrapped, keyCheckAAD("kek"))
	if err != nil {
		return fmt.Errorf("%w: the store's key check does not open: %v", ErrForeignKeys, err)
	}
	clear(k)
	if idx, ok := kek.(Indexer); ok && len(c.Field) > 0 {
		plain, err := idx.OpenField(c.Field, keyCheckAAD("field"))
		if err != nil || subtle.ConstantTimeCompare(plain, []byte(keyCheckPlain)) != 1 {
			return fmt.Errorf("%w: the store's key check does not open under the index key", ErrForeignKeys)
		}
	}
	return nil
}

func parseKeyCheck(raw []byte) (keyCheck, error) {
	var c keyCheck
	err := json.Unmarshal(raw, &c)
	switch {
	case err == nil && c.Format != keyCheckFormat && strings.HasPrefix(c.Format, keyCheckFormatFamily):
		return c, fmt.Errorf("%w (%q): run that release", ErrNewerKeyCheck, c.Format)
	case err != nil || c.Format != keyCheckFormat || c.KEKID == "" || len(c.Wrapped) == 0:
		return c, fmt.Errorf("%w: `kyc-central keys check --repair` rebuilds it from the store's data", ErrBadKeyCheck)
	}
	return c, nil
}

// RepairKeyCheck is CheckKeys for a store whose key check record is
// malformed (ErrBadKeyCheck): the record is set aside and the store judged
// by its data as one from before the record is (its submissions' keys, its
// first sealed user references), then a new record replaces the bad one.
// It reports whether it replaced one. A well-formed record, or none, is
// only checked (CheckKeys); a later release's is left alone
// (ErrNewerKeyCheck).
func RepairKeyCheck(ctx context.Context, ks central.KeyStore, kek KEKProvider) (bool, error) {
	raw, err := ks.KeyCheck(ctx)
	if err != nil {
		return false, fmt.Errorf("repairing the key check: %w", err)
	}
	if raw == nil {
		return false, CheckKeys(ctx, ks, kek)
	}
	_, err = parseKeyCheck(raw)
	if err == nil || !errors.Is(err, ErrBadKeyCheck) {
		return false, CheckKeys(ctx, ks, kek)
	}
	if err := checkData(ctx, ks, raw, kek); err != nil {
		return false, err
	}
	return true, nil
}

// CheckKeys reports ErrForeignKeys unless kek opens the store ks's sealed
// data. A store with a key check record (see above) is judged by it: it
// must open under kek (and, when kek is an Indexer, its field key), and
// every KEK it lists must be held (when kek lists what it holds), and
// the first submission's data key must unwrap; a record of this central's naming a KEK not held is judged by the data
// instead (checkRecorded). A store without one (new, or from a release
// before it) is judged by its submissions: every KEK their data keys
// name must be held and the first one's data key must unwrap (a KEK of
// the same id but other bytes fails to authenticate), and by the first
// partners' user references sealed among its open sessions and events
// (checkSealedUsers); then, that passed, a record is written, listing
// those KEKs and the current one. So only the first start counts every
// submission's key; the others read one record.
func CheckKeys(ctx context.Context, ks central.KeyStore, kek KEKProvider) error {
	raw, err := ks.KeyCheck(ctx)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	if raw != nil {
		return checkRecorded(ctx, ks, raw, kek, true)
	}
	return checkData(ctx, ks, nil, kek)
}

// checkData is CheckKeys by the store's data (its submissions and sealed
// user references); that passed, it stores a new key check record in
// place of old (nil: none).
func checkData(ctx context.Context, ks central.KeyStore, old []byte, kek KEKProvider) error {
	keks, err := checkSubmissions(ctx, ks, kek)
	if err != nil {
		return err
	}
	hk, err := hostedKEKs(ctx, ks, kek)
	if err != nil {
		return err
	}
	keks = append(keks, hk...)
	if err := checkSealedUsers(ctx, ks, kek); err != nil {
		return err
	}
	c, err := newKeyCheck(ctx, kek, keks)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	rec, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	swapped, err := ks.SwapKeyCheck(ctx, old, rec)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	if swapped {
		return nil
	}
	// Another instance wrote one meanwhile: this keyring must open it too.
	raw, err := ks.KeyCheck(ctx)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	if raw == nil {
		return fmt.Errorf("checking the store's data keys: the key check record was removed meanwhile")
	}
	return checkRecorded(ctx, ks, raw, kek, false)
}

// checkRecorded is CheckKeys by the key check record raw. A record that
// names a KEK the keyring does not hold but whose field opens under its
// index key (this central's keyring) and a KEK made before the current
// one (retired since) is stale when the data itself opens, and is then
// judged by the data and replaced (when recheck): an older release's
// `keys rotate` retired the KEK wrapping it without rewrapping it, or a
// copy taken after a rotation rewrapped the submissions but before it
// pruned the record is restored beside the rotated keyring. Refusing
// those would lock central out of a store every submission of which
// opens, for good: a retired KEK is nowhere. A missing KEK made after the
// current one is an older copy of the keyring, refused whatever the data.
func checkRecorded(ctx context.Context, ks central.KeyStore, raw []byte, kek KEKProvider, recheck bool) error {
	c, err := parseKeyCheck(raw)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	var held []string
	var current string
	h, holder := kek.(keyHolder)
	if holder {
		if held, current, err = h.KeyIDs(); err != nil {
			return fmt.Errorf("checking the store's data keys: %w", err)
		}
	}
	var missing []string
	if holder && !slices.Contains(held, c.KEKID) {
		missing = append(missing, c.KEKID)
	} else if err := c.open(ctx, kek); err != nil {
		return err
	}
	for _, id := range c.KEKs {
		if holder && !slices.Contains(held, id) && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		// The record can be right about the keyring and wrong about the
		// data: an older release, which leaves the record alone, rotated
		// the submissions onto a KEK the record never heard of, and a copy
		// of the keyring from before that rotation was put back. The
		// first data key tells, for one row.
		return firstKeyOpens(ctx, ks, kek)
	}
	err = fmt.Errorf("%w: data keys may be wrapped by %s, which the keyring does not hold (put the keyring holding it back; `kyc-central keys status` counts them)", ErrForeignKeys, missing[0])
	if !recheck || !c.sameIndexKey(kek) {
		return err
	}
	// Only KEKs made before the current one can have been retired: one
	// made after it is missing from an older copy of the keyring, which
	// is refused, whatever the data.
	for _, id := range missing {
		if !madeBefore(id, current) {
			return err
		}
	}
	if derr := checkData(ctx, ks, raw, kek); derr != nil {
		if errors.Is(derr, ErrForeignKeys) {
			return err
		}
		return derr
	}
	return nil
}

// madeBefore reports whether KEK id was made before KEK current, by the
// times their ids carry (keyringFile.add), to the second.
func madeBefore(id, current string) bool {
	t, ok := kekMade(id)
	c, cok := kekMade(current)
	return ok && cok && t.Before(c)
}

// kekMade is the time a FileKeyring KEK's id carries.
func kekMade(id string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(id, "kek-")
	stamp, _, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 {
		return time.Time{}, false
	}
	t, err := time.Parse(kekIDTime, stamp)
	return t, err == nil
}

// sameIndexKey reports whether the record's field opens under kek's
// field key: the keyring is this store's central's, whatever its KEKs.
func (c *keyCheck) sameIndexKey(kek KEKProvider) bool {
	idx, ok := kek.(Indexer)
	if !ok || len(c.Field) == 0 {
		return false
	}
	plain, err := idx.OpenField(c.Field, keyCheckAAD("field"))
	return err == nil && subtle.ConstantTimeCompare(plain, []byte(keyCheckPlain)) == 1
}

// checkSubmissions is CheckKeys by the submissions' data keys (one pass
// over their key ids, as a rotation's count makes, and one unwrap); it
// returns the KEKs they name.
func checkSubmissions(ctx context.Context, ks central.KeyStore, kek KEKProvider) ([]string, error) {
	usage, err := ks.KeyUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("checking the store's data keys: %w", err)
	}
	var keks []string
	for id, n := range usage {
		if id != "" && n > 0 {
			keks = append(keks, id)
		}
	}
	if h, ok := kek.(keyHolder); ok {
		held, _, err := h.KeyIDs()
		if err != nil {
			return nil, fmt.Errorf("checking the store's data keys: %w", err)
		}
		for _, id := range keks {
			if !slices.Contains(held, id) {
				return nil, fmt.Errorf("%w: %d submissions' data keys are wrapped by %s, which the keyring does not hold", ErrForeignKeys, usage[id], id)
			}
		}
	}
	if err := firstKeyOpens(ctx, ks, kek); err != nil {
		return nil, err
	}
	return keks, nil
}

// hostedKEKs returns the KEKs the hosted flow's values are wrapped by
// that kek holds (when it lists them), for the key check record to list:
// a rotation must rewrap those values before it retires one. A value
// wrapped by a KEK not held opens for no one and only waits for its expiry
// (an older release's rotation retired its KEK): it does not refuse the
// store.
func hostedKEKs(ctx context.Context, ks central.KeyStore, kek KEKProvider) ([]string, error) {
	usage, err := HostedKeyUsage(ctx, ks)
	if errors.Is(err, errNoHostedKeys) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checking the store's data keys: %w", err)
	}
	var held []string
	h, holder := kek.(keyHolder)
	if holder {
		if held, _, err = h.KeyIDs(); err != nil {
			return nil, fmt.Errorf("checking the store's data keys: %w", err)
		}
	}
	var out []string
	for id, n := range usage {
		if id != "" && n > 0 && (!holder || slices.Contains(held, id)) {
			out = append(out, id)
		}
	}
	return out, nil
}

// firstKeyOpens reports ErrForeignKeys unless kek unwraps the first
// submission's data key (none: nil): one row and one unwrap.
func firstKeyOpens(ctx context.Context, ks central.KeyStore, kek KEKProvider) error {
	first, err := ks.StaleKeys(ctx, "", central.SubmissionRef{}, 1)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	for _, w := range first {
		dek, err := kek.Unwrap(ctx, w.KeyID, w.Wrapped, aad(purposeDEK, w.SubmissionRef))
		if err != nil {
			return fmt.Errorf("%w: the data key of %s/%s does not open: %v", ErrForeignKeys, w.DeviceID, w.Key, err)
		}
		clear(dek)
	}
	return nil
}

// sealedUserSample is how many open sessions and events checkSealedUsers
// reads, at most.
const sealedUserSample = 20

// checkSealedUsers reports ErrForeignKeys unless the partners' user
// references a store without a key check holds (a release before the
// record sealed them, maybe with no submission yet) open under kek's field
// key: the first sealed one among the oldest open sessions and the first
// events, when ks is a whole store and kek an Indexer.
func checkSealedUsers(ctx context.Context, ks central.KeyStore, kek KEKProvider) error {
	st, ok := ks.(central.Store)
	idx, isIdx := kek.(Indexer)
	if !ok || !isIdx {
		return nil
	}
	s := New(st, kek, idx)
	flows, err := st.ExpiredFlows(ctx, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), sealedUserSample)
	if err != nil {
		return fmt.Errorf("checking the store's sealed user references: %w", err)
	}
	for _, f := range flows {
		if strings.HasPrefix(f.UserID, userSealPrefix) {
			if err := s.openFlow(&f); err != nil {
				return fmt.Errorf("%w: session %s/%s: %v", ErrForeignKeys, f.PartnerID, f.ID, err)
			}
			break
		}
	}
	evs, err := st.Events(ctx, "", 0, sealedUserSample)
	if err != nil {
		return fmt.Errorf("checking the store's sealed user references: %w", err)
	}
	for _, ev := range evs {
		if bytes.Contains(ev.Payload, []byte(userSealPrefix)) {
			if err := s.openEvent(&ev); err != nil {
				return fmt.Errorf("%w: event %s: %v", ErrForeignKeys, ev.ID, err)
			}
			break
		}
	}
	return nil
}

// keyCheckTries bounds updateKeyCheck's swaps lost to other writers.
const keyCheckTries = 50

// updateKeyCheck applies fn to the store's key check record and stores
// the result when fn reports a change, again if another writer changed it
// meanwhile. A store without one is left as it is (CheckKeys writes it,
// counting the submissions' keys, at the next start).
func updateKeyCheck(ctx context.Context, ks central.KeyStore, fn func(*keyCheck) (bool, error)) error {
	for range keyCheckTries {
		raw, err := ks.KeyCheck(ctx)
		if err != nil || raw == nil {
			return err
		}
		c, err := parseKeyCheck(raw)
		if err != nil {
			return err
		}
		changed, err := fn(&c)
		if err != nil || !changed {
			return err
		}
		rec, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if ok, err := ks.SwapKeyCheck(ctx, raw, rec); err != nil || ok {
			return err
		}
	}
	return errors.New("seal: the key check kept changing under its update")
}

// noteKEK lists keyID in the store's key check record, once per Store and
// KEK: called before data wrapped by keyID is written.
func (s *Store) noteKEK(ctx context.Context, keyID string) error {
	if _, ok := s.noted.Load(keyID); ok {
		return nil
	}
	err := updateKeyCheck(ctx, s.Store, func(c *keyCheck) (bool, error) { return c.addKEKs(keyID), nil })
	if err != nil {
		return fmt.Errorf("noting key %s in the key check: %w", keyID, err)
	}
	s.noted.Store(keyID, struct{}{})
	return nil
}
