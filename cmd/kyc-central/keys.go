package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
)

// keyringName is the keyring's file in the data directory by default.
const keyringName = "central.keys"

const keysUsage = `usage:
  kyc-central keys status [--data dir] [--store bolt|postgres] [--dsn dsn] [--keys file]
  kyc-central keys rotate [--data dir] [--store bolt|postgres] [--dsn dsn] [--keys file] [--grace 10s]
  kyc-central keys check  [--data dir] [--store bolt|postgres] [--dsn dsn] [--keys file] [--repair]

rotate makes a new key-encryption key current, rewraps every submission's
data key under it, and those of the hosted flow's live captures and short
codes (payloads and images are not re-encrypted; a person capturing on
their phone meanwhile keeps their flow), then retires the old key, never
while a data key is still wrapped by it. A bbolt store is locked by a running central: stop it first.
With PostgreSQL, run it while the instances serve, against the keyring file
they read: they switch to the new key at their next submission.

check tells whether the keyring opens the store, as serve does before it
listens. With --repair, a malformed key check record (serve refuses the
store: "malformed key check record") is rebuilt from the store's data, once
its submissions' keys and sealed user references open under the keyring.`

// keysFlag registers --keys, the keyring file (serve and keys share it).
func keysFlag(fs *flag.FlagSet) *string {
	return fs.String("keys", "", "keyring: the key-encryption keys sealing submissions at rest and the blind-index key (default DATA/"+keyringName+"; created if missing; 0600; shared by every instance of a store)")
}

// sealed wraps store so that it keeps submissions encrypted under the
// keyring at file (DATA/central.keys when empty), created when missing. A
// store whose data keys that keyring cannot open (another central's, a
// copy restored beside the wrong keyring) is refused (seal.CheckKeys)
// rather than served to fail at each read.
func sealed(ctx context.Context, store central.Store, file, data string) (central.Store, error) {
	path := keyringPath(file, data)
	kr, err := seal.LoadOrCreateKeyring(path)
	if err != nil {
		return nil, err
	}
	if ks, ok := store.(central.KeyStore); ok {
		if err := seal.CheckKeys(ctx, ks, kr); err != nil {
			return nil, fmt.Errorf("refusing the store with keyring %s: %w", path, err)
		}
	}
	return seal.New(store, kr, kr), nil
}

func keyringPath(file, data string) string {
	if file == "" {
		return filepath.Join(data, keyringName)
	}
	return file
}

// keys runs `kyc-central keys status|rotate`.
func keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" && args[0] != "rotate" && args[0] != "check" {
		fmt.Fprintln(stderr, keysUsage)
		return errors.New("keys: status, rotate or check?")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("keys "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "kyc-central-data", "data directory (bbolt store, keyring)")
	storeKind := fs.String("store", "bolt", "store: bolt or postgres")
	dsn := fs.String("dsn", os.Getenv(envDSN), "PostgreSQL connection string (--store postgres)")
	keysFile := keysFlag(fs)
	repair := fs.Bool("repair", false, "check: rebuild a malformed key check record from the store's data")
	grace := fs.Duration("grace", -1, "rotate: after rewrapping, how long to wait for requests in flight at running instances before rewrapping again and retiring the old key (default 10s for postgres, 0 for bolt)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	path := keyringPath(*keysFile, *data)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("keys %s: no keyring at %s (kyc-central serve creates it): %w", cmd, path, err)
	}
	kr, err := seal.LoadOrCreateKeyring(path)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, *storeKind, *data, *dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if cmd == "status" {
		ids, current, err := kr.KeyIDs()
		if err != nil {
			return err
		}
		usage, err := store.KeyUsage(ctx)
		if err != nil {
			return err
		}
		hosted, err := seal.HostedKeyUsage(ctx, store)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"keyring": path, "current": current, "keks": ids, "data_keys_by_kek": usage, "hosted_values_by_kek": hosted})
	}
	if cmd == "check" {
		return keysCheck(ctx, store, kr, path, *repair, enc)
	}
	if *grace < 0 {
		*grace = 0
		if *storeKind == "postgres" {
			*grace = 10 * time.Second
		}
	}
	res, err := seal.Rotate(ctx, store, kr, seal.RotateOptions{Grace: *grace})
	if err != nil {
		return fmt.Errorf("rotating keys (new key %s, %d data keys rewrapped so far; the old keys are kept): %w", res.KeyID, res.Rewrapped, err)
	}
	ev := central.AuditEvent{ID: httpx.NewRequestID(), At: time.Now().UTC(), Actor: "kyc-central keys rotate", Action: "key_rotation", Count: res.Rewrapped}
	if err := store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("recording the rotation (it is done): %w", err)
	}
	return enc.Encode(res)
}

// keysCheck runs `kyc-central keys check`: seal.CheckKeys, or with
// repair seal.RepairKeyCheck, recorded in the audit trail when it
// replaced the record.
func keysCheck(ctx context.Context, store central.Store, kr *seal.FileKeyring, path string, repair bool, enc *json.Encoder) error {
	ks, ok := store.(central.KeyStore)
	if !ok {
		return errors.New("keys check: the store keeps no key check")
	}
	repaired := false
	var err error
	if repair {
		repaired, err = seal.RepairKeyCheck(ctx, ks, kr)
	} else {
		err = seal.CheckKeys(ctx, ks, kr)
	}
	if err != nil {
		return fmt.Errorf("keys check with keyring %s: %w", path, err)
	}
	if repaired {
		ev := central.AuditEvent{ID: httpx.NewRequestID(), At: time.Now().UTC(), Actor: "kyc-central keys check", Action: "key_check_repaired"}
		if err := store.AppendAudit(ctx, ev); err != nil {
			return fmt.Errorf("recording the repair (it is done): %w", err)
		}
	}
	return enc.Encode(map[string]any{"keyring": path, "opens": true, "repaired": repaired})
}

// openStore opens the store serve would.
func openStore(ctx context.Context, kind, data, dsn string) (central.Store, error) {
	switch kind {
	case "bolt":
		s, err := boltstore.Open(filepath.Join(data, "central.db"))
		if err != nil {
			return nil, fmt.Errorf("%w (is kyc-central serve running on it? stop it first)", err)
		}
		return s, nil
	case "postgres":
		if dsn == "" {
			return nil, errors.New("--store postgres needs --dsn or $" + envDSN)
		}
		return pgstore.Open(ctx, dsn)
	}
	return nil, fmt.Errorf("unknown store %q (bolt or postgres)", kind)
}
