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

	"github.com/openkyc/kyc/sync/central/backup"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

const backupUsage = `usage:
  kyc-central backup --out file [--central https://host:port] [--ca file] [--admin-token-file file]
                     (a copy of a running central's bbolt store, through its admin API)
  kyc-central backup --out file --data dir      (central stopped: a copy of the store file itself)
  kyc-central restore --from file [--data dir] [--keys file] [--replace]
                     (central stopped, its keyring in place: a copy it cannot open is refused; --replace keeps the store there aside)
The copy is checked page by page before it is kept; it is read only with the data folder's key files
(central.keys, box.key, sign.key, console.key, partner.key): back them up apart from it.`

// backupCmd runs `kyc-central backup`.
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, backupUsage) }
	out := fs.String("out", "", "file to write the copy to (replaced only by a complete, checked copy)")
	base := fs.String("central", "https://127.0.0.1:8443", "the running central's base URL")
	caFile := fs.String("ca", "", "CA certificate central's certificate chains to (default: the system's roots)")
	tokenFile := fs.String("admin-token-file", "", "file holding the admin API bearer token, private to its owner (mode 0600; default $"+envAdminToken+")")
	data := fs.String("data", "", "data directory of a stopped central: copy its store file instead of asking central")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("backup: --out is required")
	}
	var sum any
	if *data != "" {
		s, err := backup.Copy(ctx, filepath.Join(*data, "central.db"), *out)
		if err != nil {
			return err
		}
		sum = s
	} else {
		tok, err := adminToken(*tokenFile)
		if err != nil {
			return err
		}
		if tok == "" {
			return fmt.Errorf("no admin token: set $%s or --admin-token-file", envAdminToken)
		}
		u, client, err := adminClient(*base, *caFile, 0) // no overall timeout: a large store takes a while
		if err != nil {
			return err
		}
		s, err := backup.Fetch(ctx, client, u.String(), tok, *out)
		if err != nil {
			return err
		}
		sum = s
	}
	return json.NewEncoder(stdout).Encode(struct {
		Out     string `json:"out"`
		Summary any    `json:"store"`
	}{*out, sum})
}

// restoreCmd runs `kyc-central restore`.
func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, backupUsage) }
	from := fs.String("from", "", "the copy to restore (kyc-central backup)")
	data := fs.String("data", "kyc-central-data", "data directory of the stopped central")
	replace := fs.Bool("replace", false, "restore over the store there, keeping it as central.db.replaced-<time>")
	keysFile := keysFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" {
		fs.Usage()
		return errors.New("restore: --from is required")
	}
	// The copy is restored only beside a keyring that opens it: a copy of
	// another central, or a data folder whose key files are not back yet,
	// would serve a store central cannot read.
	keysPath := keyringPath(*keysFile, *data)
	if _, err := os.Stat(keysPath); err != nil {
		return fmt.Errorf("restore: the keyring the copy is read with: %w (put the data folder's key files back first)", err)
	}
	kr, err := seal.LoadOrCreateKeyring(keysPath)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	sum, kept, err := backup.Restore(ctx, *from, filepath.Join(*data, "central.db"), *replace, time.Now(), kr)
	if errors.Is(err, boltstore.ErrNewerFormat) {
		return fmt.Errorf("%w; restore it with the release that wrote it (nothing was replaced)", err)
	}
	if err != nil {
		return err
	}
	if kept != "" {
		fmt.Fprintf(stderr, "the store that was there is kept as %s\n", kept)
	}
	return json.NewEncoder(stdout).Encode(struct {
		Restored string `json:"restored"`
		Kept     string `json:"kept,omitempty"`
		Summary  any    `json:"store"`
	}{filepath.Join(*data, "central.db"), kept, sum})
}

// errBackupsPostgres refuses --backup-dir on PostgreSQL, whose data is
// not in a file central can copy: an operator who asked for copies must
// not believe they are being taken.
var errBackupsPostgres = errors.New("--backup-dir copies the bbolt store: back PostgreSQL up with its own tools (pg_dump, pg_basebackup)")

// startBackups runs s (backup.Schedule) in a goroutine that ends with
// ctx; stop cancels it and waits, so a copy under way is cut short and
// never named (its temporary file is removed).
func startBackups(ctx context.Context, s *backup.Schedule) (stop func(), err error) {
	if s.Source == nil {
		return nil, errBackupsPostgres
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the backup folder: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}
