package agent_test

import (
	"context"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// TestDamagedOutboxEntryDoesNotStopSync: two outbox entries in the vault
// no longer open (a flipped bit on disk), one of them with its submission.
// The pass makes the first anew and sends it with the intact one, and says
// one entry is damaged. Before, the pass failed on them as a vault
// failure: Run stopped at its first pass, at every start, and nothing was
// sent again.
func TestDamagedOutboxEntryDoesNotStopSync(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	v, err := vault.Open(ctx, r.vaultPath(), vault.KeyFile(r.keyFile()), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	capture(t, v, r.id, 0, 3, 1000)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(r.vaultPath(), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		flip := func(bucket string, key []byte) error {
			b := tx.Bucket([]byte(bucket))
			val := append([]byte(nil), b.Get(key)...)
			val[len(val)-1] ^= 1
			return b.Put(key, val)
		}
		c := tx.Bucket([]byte("outbox")).Cursor()
		first, _ := c.First()
		second, _ := c.Next()
		first, second = append([]byte(nil), first...), append([]byte(nil), second...)
		for _, err := range []error{flip("outbox", first), flip("outbox", second), flip("submissions", second)} {
			if err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	v = r.openVault(t, vault.Options{})
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{})
	p, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatalf("pass with a damaged outbox entry: %v; want the others sent", err)
	}
	if p.Synced != 2 || p.Damaged != 1 || !strings.Contains(p.LastError, "damaged") {
		t.Fatalf("pass %+v; want 2 sent and the damaged entry reported", p)
	}
}
