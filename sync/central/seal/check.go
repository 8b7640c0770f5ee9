package seal

import (
	"context"
	"errors"
	"fmt"
	"slices"

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

// keyHolder is a KEK provider that can list the KEKs it holds
// (FileKeyring).
type keyHolder interface {
	KeyIDs() (ids []string, current string, err error)
}

// CheckKeys reports ErrForeignKeys unless kek can open the data keys of
// the store ks: every KEK the store's data keys name must be held (when
// kek lists what it holds), and the first sealed submission's data key
// must unwrap (a KEK of the same id but other bytes fails to
// authenticate). It reads the store's key counts (one pass over the
// submissions' key ids, as a rotation's count makes) and one wrapped key.
// An empty store passes.
func CheckKeys(ctx context.Context, ks central.KeyStore, kek KEKProvider) error {
	usage, err := ks.KeyUsage(ctx)
	if err != nil {
		return fmt.Errorf("checking the store's data keys: %w", err)
	}
	if h, ok := kek.(keyHolder); ok {
		held, _, err := h.KeyIDs()
		if err != nil {
			return fmt.Errorf("checking the store's data keys: %w", err)
		}
		for id, n := range usage {
			if id != "" && n > 0 && !slices.Contains(held, id) {
				return fmt.Errorf("%w: %d submissions' data keys are wrapped by %s, which the keyring does not hold", ErrForeignKeys, n, id)
			}
		}
	}
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
