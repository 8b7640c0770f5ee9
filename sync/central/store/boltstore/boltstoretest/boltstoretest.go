// Package boltstoretest writes into a closed store file what another
// release would have, for the tests of what opens, restores or serves
// such a file (boltstore's own, backup's, kyc-central's). It names the
// file's meta bucket and format key as boltstore does, and imports
// nothing of it, so boltstore's internal tests can use it too.
package boltstoretest

import (
	"encoding/binary"
	"testing"

	"go.etcd.io/bbolt"
)

// SetFormat writes format version v into the closed store file at path,
// as a newer release would have (v above boltstore.FormatVersion); v 0
// removes the key, as a release from before it.
func SetFormat(t testing.TB, path string, v uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if v == 0 {
			return meta.Delete([]byte("format-version"))
		}
		return meta.Put([]byte("format-version"), binary.BigEndian.AppendUint64(nil, v))
	})
	if err != nil {
		t.Fatalf("setting the format version of %s: %v", path, err)
	}
}
