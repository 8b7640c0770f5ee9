// Package vault is the encrypted on-device store that lets kiosks and field
// laptops keep capturing for hours offline: sessions, submissions, their
// images, the outbox of submissions waiting to sync (with central's review
// of each once delivered), and an audit log, all in one bbolt file.
//
// # Encryption
//
// Every record is sealed with XChaCha20-Poly1305 under its own random data
// key (DEK). The DEK is wrapped by a key-encryption key (KEK) that comes from
// an operator passphrase (Argon2id, parameters in the vault header) or a
// root-only key file. Both the record and its wrapped DEK carry associated
// data naming their bucket and record key, so a value copied into another
// slot fails authentication. A random master secret, also wrapped by the KEK,
// doubles as the key-verification record (a wrong passphrase gives
// ErrWrongKey) and is the root of two derived keys: one turns business ids
// into opaque record keys (HMAC-SHA256), the other keys the audit hash chain.
// Nothing personal is stored in plaintext, record keys included: bucket names
// are fixed words, record keys are HMACs, random ids or sequence numbers, and
// the header holds only KDF parameters and a salt.
//
// # Retention
//
// Shred deletes a submission's wrapped DEKs with its records (crypto-
// shredding): a ciphertext that survives anywhere is undecryptable. bbolt
// keeps freed pages in the file until reused, so call Compact afterwards to
// rewrite the file without them. Compaction cannot scrub blocks the file
// system or an SSD keeps on its own; full-disk encryption covers that.
//
// # Durability and concurrency
//
// Each write is one bbolt transaction, fsynced on commit: when a method
// returns nil the data survives a crash or power cut. A new vault is made
// whole under another name and linked into place (Open), so a crash while
// it is made leaves no file, and a file that is not a whole vault, an
// empty one included, is ErrCorrupt rather than the start of a new vault;
// a missing file where the caller's evidence (the enrolment) shows a vault
// was is ErrMissing. A submission and its
// outbox entry are written in the same transaction. A Vault is safe for
// concurrent use: bbolt runs one writer at a time (writers queue) alongside
// any number of readers, and Rotate, Compact and Close wait for in-flight
// calls and hold off new ones while they run. Only one process can open a
// vault file at a time.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrWrongKey means the passphrase or key file does not open this vault
	// (the key-verification record did not authenticate), or is the wrong
	// kind of key source for it.
	ErrWrongKey = errors.New("vault: wrong passphrase or key")
	// ErrInsecureKeyFile means a key file is readable or owned by someone
	// other than the current user.
	ErrInsecureKeyFile = errors.New("vault: key file is not private to the current user")
	// ErrAuthentication means a stored value failed authentication: it was
	// modified, truncated, or moved from another slot.
	ErrAuthentication = errors.New("vault: record failed authentication")
	// ErrNotFound means no record exists under the given id.
	ErrNotFound = errors.New("vault: not found")
	// ErrShredded means a record's ciphertext is present but its data key is
	// gone, so it can never be decrypted again.
	ErrShredded = errors.New("vault: record data key has been shredded")
	// ErrExists means a submission with the same id is already stored;
	// captured submissions are never overwritten.
	ErrExists = errors.New("vault: already exists")
	// ErrInvalid means an argument was malformed (empty id, payload that is
	// not JSON, bad parameters).
	ErrInvalid = errors.New("vault: invalid argument")
	// ErrCorrupt means the file's structure is not that of a vault (missing
	// header or bucket, unparseable metadata).
	ErrCorrupt = errors.New("vault: file is damaged or not a vault")
	// ErrClosed means the Vault has been closed.
	ErrClosed = errors.New("vault: closed")
	// ErrReadOnly means a write was attempted on a vault opened read-only.
	ErrReadOnly = errors.New("vault: opened read-only")
	// ErrLocked means another process holds the vault file open.
	ErrLocked = errors.New("vault: in use by another process")
	// ErrMissing means no file is at the vault's path although
	// Options.Evidence shows the device had a vault there: it was deleted
	// or moved, and a new, empty vault in its place would drop what it
	// held, the enrolment's pin and the results not yet synced among it.
	// Open makes one only when told the loss is known
	// (Options.ReplaceMissing).
	ErrMissing = errors.New("vault: the vault file is missing")
)

// Bucket names: fixed, non-personal words.
const (
	bucketMeta        = "meta"        // header, wrapped master secret, audit head, review cursor
	bucketKeys        = "keys"        // wrapped DEKs, keyed by bucket and record key
	bucketSessions    = "sessions"    // capture sessions
	bucketSubmissions = "submissions" // submission records
	bucketBlobs       = "blobs"       // images, keyed by submission key + random id
	bucketOutbox      = "outbox"      // sync state, keyed like submissions
	bucketAudit       = "audit"       // audit entries, keyed by sequence number
)

var allBuckets = [...]string{bucketMeta, bucketKeys, bucketSessions, bucketSubmissions, bucketBlobs, bucketOutbox, bucketAudit}

// Keys in the meta bucket.
const (
	metaHeader    = "header"
	metaMaster    = "master"
	metaAuditHead = "audit-head"
)

// Options tune a vault. The zero value is usable.
type Options struct {
	// Argon2 is the passphrase KDF cost used when creating a vault or
	// rotating to a passphrase; zero means DefaultArgon2. An existing vault
	// always opens with the parameters in its header.
	Argon2 Argon2Params
	// Now is the clock for record timestamps, retention and outbox
	// scheduling; nil means time.Now.
	Now func() time.Time
	// SendLease is how long a submission marked sending is reserved for its
	// sender; after it lapses (the sender crashed) NextPending offers the
	// submission again. Zero means 5 minutes.
	SendLease time.Duration
	// Backoff gives the delay before retry number attempts+1 after a failed
	// send; nil means DefaultBackoff.
	Backoff func(attempts int) time.Duration
	// LockTimeout bounds the wait for another process to release the file;
	// zero means 5 seconds.
	LockTimeout time.Duration
	// ReadOnly opens an existing vault for reading only.
	ReadOnly bool
	// Evidence names files kept outside the vault whose presence shows a
	// vault was made at the path: the device's enrolment, which is
	// written only once the vault holds its pin. With one of them there
	// and no file at the path, Open is ErrMissing rather than a new,
	// empty vault, so deleting the vault alone does not reset what it
	// held (the enrolment's pin, the rollback check's mark).
	Evidence []string
	// ReplaceMissing is the operator's word that the vault is lost: Open
	// makes a new one in spite of Evidence, and the new vault's audit
	// log starts with a "vault.replaced_missing" entry saying so.
	ReplaceMissing bool
}

// DefaultBackoff doubles the retry delay from 30 seconds up to one hour.
func DefaultBackoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SendLease <= 0 {
		o.SendLease = 5 * time.Minute
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	return o
}

// Vault is an open vault file. See the package documentation for the
// concurrency rules.
type Vault struct {
	path string
	opts Options

	// mu is held shared by every operation and exclusively by Rotate,
	// Compact and Close, which replace db or keys.
	mu   sync.RWMutex
	db   *bbolt.DB
	keys *keyring
}

// Open opens the vault at path, creating it (mode 0600) when no file is
// there, with key as its key source. A wrong passphrase or key file gives
// ErrWrongKey.
//
// A new vault is made whole under another name and linked into place
// (createFile), so a crash while it is made leaves no file at path, and
// the next Open makes it again. A file at path is therefore always a whole
// vault, and one that is not, an empty file or a bbolt file without a
// vault's header included, is ErrCorrupt, never a new vault: a vault cut
// to nothing (a bad restore, or someone erasing what it holds, the
// enrolment's pin among it) is refused rather than silently replaced.
// Nor is a missing file replaced when opts.Evidence shows there was a
// vault (ErrMissing), unless opts.ReplaceMissing says the loss is known.
// Opened to write, Open removes the temporary files a crash left while a
// vault was made (removeLeftovers).
func Open(ctx context.Context, path string, key KeySource, opts Options) (*Vault, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fmt.Errorf("opening vault: %w: empty path", ErrInvalid)
	}
	if key == nil {
		return nil, fmt.Errorf("opening vault %s: %w: nil key source", path, ErrInvalid)
	}
	opts = opts.withDefaults()
	db, err := openDB(path, opts)
	if errors.Is(err, fs.ErrNotExist) && !opts.ReadOnly {
		var first *AuditEvent
		if first, err = missingEvidence(opts); err == nil {
			if err = createFile(ctx, path, key, opts, first); err == nil {
				db, err = openDB(path, opts)
			}
		}
	} else if errors.Is(err, fs.ErrNotExist) && !opts.ReplaceMissing {
		// Read-only a missing file is never made; with evidence it is
		// ErrMissing all the same.
		if e, eerr := evidenceOf(opts.Evidence); eerr != nil {
			err = eerr
		} else if e != "" {
			err = missingError(e)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening vault %s: %w", path, err)
	}
	var keys *keyring
	err = guarded(func() (err error) {
		keys, err = unlock(db, key)
		return err
	})
	if err == nil && !opts.ReadOnly {
		// Held open to write, with its key, the vault is ours: what a
		// crash left of making it is removed (a file another opener is
		// making now is locked, and left).
		if err = removeLeftovers(path); err != nil {
			keys.wipe()
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening vault %s: %w", path, err)
	}
	return &Vault{path: path, opts: opts, db: db, keys: keys}, nil
}

// missingEvidence decides whether a vault may be made where no file is:
// not when a file of opts.Evidence shows one was there (ErrMissing),
// unless opts.ReplaceMissing acknowledges the loss, in which case first
// is the audit entry the new vault starts with.
func missingEvidence(opts Options) (first *AuditEvent, err error) {
	e, err := evidenceOf(opts.Evidence)
	if err != nil || e == "" {
		return nil, err
	}
	if opts.ReplaceMissing {
		return &AuditEvent{Action: "vault.replaced_missing",
			Detail: "a new, empty vault made in place of a missing one, " + e + " showing there was one; the operator acknowledged the loss"}, nil
	}
	return nil, missingError(e)
}

// Missing is ErrMissing, as Open gives it, when there is no file at path
// and one of evidence is there; nil otherwise. It is for a reader that
// would not open the vault when it is missing (the device's
// configuration checked against the pin), so that it refuses as Open
// does.
func Missing(path string, evidence ...string) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	e, err := evidenceOf(evidence)
	if err != nil {
		return fmt.Errorf("opening vault %s: %w", path, err)
	}
	if e == "" {
		return nil
	}
	return fmt.Errorf("opening vault %s: %w", path, missingError(e))
}

// evidenceOf is the first file of evidence that is there, "" for none.
func evidenceOf(evidence []string) (string, error) {
	for _, e := range evidence {
		_, err := os.Lstat(e)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("looking for %s, which would show a vault was made: %w", e, err)
		}
		return e, nil
	}
	return "", nil
}

// missingError is ErrMissing, evidence showing there was a vault.
func missingError(evidence string) error {
	return fmt.Errorf("%w: %s shows the device had a vault here (it was deleted or moved); %s", ErrMissing, evidence, missingAdvice)
}

// missingAdvice is what an operator can do about a missing vault.
const missingAdvice = "put it back from a backup; if no backup holds it, acknowledge the loss to start a new, " +
	"empty vault (the results it held that were not yet synced, and its record of the newest configuration installed, are lost)"

// restoreAdvice is what an operator can do about a vault file that is not
// a whole vault: there is no rebuilding one, its records are sealed.
const restoreAdvice = "restore the vault from a backup; if no backup holds it, move the file aside and a new, " +
	"empty vault starts (what this one held is lost)"

// openExisting opens a file that must already exist (bbolt would create a
// missing one, even read-only) and refuses an empty one before bbolt
// would write a new database's first pages into it.
func openExisting(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag&^os.O_CREATE, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checking the file's size: %w", err)
	}
	if fi.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("%w: the file is empty (a vault is never empty: this one was cut short or erased); %s", ErrCorrupt, restoreAdvice)
	}
	return f, nil
}

func openDB(path string, opts Options) (*bbolt.DB, error) {
	var db *bbolt.DB
	err := guarded(func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly, OpenFile: openExisting})
		return err
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrVersionMismatch) || errors.Is(err, bolterrors.ErrChecksum) {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err != nil {
		return nil, err
	}
	if err := guarded(func() error {
		if err := checkSize(db); err != nil {
			return err
		}
		return checkTree(db)
	}); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// createFile makes a new vault whole in a file of its own beside path
// (bbolt's first pages, then the buckets, the header and first, the
// audit entry it starts with if any, each fsynced) and links it into
// place, which fails rather than replace a file that appeared meanwhile
// (another process made the vault first: then that one is opened). A
// crash leaves at most the temporary file, never an empty or half-made
// file at path; the next Open that holds the vault removes it
// (removeLeftovers).
//
// The temporary file is locked (bbolt's lock) from the moment it is
// known to be at its name until it is linked into place, so
// removeLeftovers, which removes only a file it can lock, never takes
// one being made.
func createFile(ctx context.Context, path string, key KeySource, opts Options, first *AuditEvent) error {
	db, tmp, err := openTemp(path, opts)
	if err != nil {
		return fmt.Errorf("creating a new vault: %w", err)
	}
	defer os.Remove(tmp)
	keys, err := create(ctx, db, key, opts, first)
	if err == nil {
		keys.wipe()
		// Linked while bbolt holds its lock: an opener of path waits
		// for the lock, then finds the vault whole.
		if lerr := os.Link(tmp, path); lerr != nil && !errors.Is(lerr, fs.ErrExist) {
			err = fmt.Errorf("putting the new vault in place: %w", lerr)
		}
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("creating a new vault: %w", cerr)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// openTemp opens bbolt on a new file beside path named as removeLeftovers
// expects (leftoverInfix and digits), made by this call (O_EXCL), and
// checks, once bbolt holds its lock, that the name is still that file's:
// removeLeftovers could have taken it in the moment between its making
// and its locking, then bbolt would have locked a file no name leads to,
// and another name is tried.
func openTemp(path string, opts Options) (*bbolt.DB, string, error) {
	for range 10 {
		tmp := path + leftoverInfix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		var f *os.File
		db, err := bbolt.Open(tmp, 0o600, &bbolt.Options{Timeout: opts.LockTimeout,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				var err error
				f, err = os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
				return f, err
			}})
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			if f != nil {
				os.Remove(tmp)
			}
			return nil, "", err
		}
		fi, ferr := f.Stat()
		ni, nerr := os.Lstat(tmp)
		if ferr == nil && nerr == nil && os.SameFile(fi, ni) {
			return db, tmp, nil
		}
		db.Close()
		if ferr != nil {
			return nil, "", ferr
		}
	}
	return nil, "", errors.New("no name free for the new vault's file")
}

// leftoverInfix joins the vault's file name and the digits of the
// temporary file a new vault is made in (openTemp).
const leftoverInfix = ".new-"

// isLeftover says whether name is one of the temporary files openTemp
// makes for a vault named base: base, leftoverInfix, digits only.
func isLeftover(base, name string) bool {
	digits, ok := strings.CutPrefix(name, base+leftoverInfix)
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkSize refuses a file shorter than the pages its last commit uses (cut
// short by a copy, a restore or the file system): bbolt would map the
// missing pages and the first read of one would kill the process (SIGBUS).
func checkSize(db *bbolt.DB) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return fmt.Errorf("checking the file's size: %w", err)
	}
	return db.View(func(tx *bbolt.Tx) error {
		if fi.Size() < tx.Size() {
			return fmt.Errorf("%w: the file has %d bytes of the %d its pages need (cut short)", ErrCorrupt, fi.Size(), tx.Size())
		}
		return nil
	})
}

// DamagedError is ErrCorrupt from a damaged page met while reading: a
// panic of bbolt's or a fault on the mapped file, recovered. Cause is Go's
// text of it ("nil pointer dereference", "unexpected fault address"), for
// logs; Error leaves it out, for the operator.
type DamagedError struct{ Cause string }

func (e *DamagedError) Error() string { return ErrCorrupt.Error() + ": a page of it is damaged" }

// Unwrap makes a DamagedError ErrCorrupt.
func (e *DamagedError) Unwrap() error { return ErrCorrupt }

// guarded runs fn, which reads the mapped file, and turns a fault there (a
// page the file no longer holds) or bbolt's panic on a damaged page into
// a DamagedError: a damaged vault is an error the operator is told of,
// not a crash of the app or of `kyc sync`. bbolt rolls its transaction
// back as the panic passes.
func guarded(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Cause: fmt.Sprint(r)}
		}
	}()
	return fn()
}

// unlock reads the header and unwraps the master secret. A file without a
// header is ErrCorrupt: a new vault gets its header before it is put in
// place (createFile).
func unlock(db *bbolt.DB, key KeySource) (*keyring, error) {
	var rawHeader, wrappedMaster []byte
	err := db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("%w: bbolt file without a vault header", ErrCorrupt)
			}
			return fmt.Errorf("%w: an empty bbolt file, not a vault (a vault is put in place whole: this one was erased); %s", ErrCorrupt, restoreAdvice)
		}
		for _, name := range allBuckets {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("%w: missing %s bucket", ErrCorrupt, name)
			}
		}
		rawHeader = clone(meta.Get([]byte(metaHeader)))
		wrappedMaster = clone(meta.Get([]byte(metaMaster)))
		if rawHeader == nil || wrappedMaster == nil {
			return fmt.Errorf("%w: missing header", ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(rawHeader)
	if err != nil {
		return nil, err
	}
	kek, err := deriveKEK(key, h)
	if err != nil {
		return nil, err
	}
	master, err := unseal(kek, wrappedMaster, masterAAD(rawHeader))
	if err != nil {
		return nil, ErrWrongKey
	}
	if len(master) != keySize {
		return nil, fmt.Errorf("%w: master secret has %d bytes", ErrCorrupt, len(master))
	}
	return newKeyring(kek, master)
}

// create initialises a new bbolt file: buckets, header, wrapped master
// secret, and first, when given, as the first audit entry.
func create(ctx context.Context, db *bbolt.DB, key KeySource, opts Options, first *AuditEvent) (*keyring, error) {
	h, kek, err := newKEK(key, opts.Argon2)
	if err != nil {
		return nil, err
	}
	master := randomBytes(keySize)
	keys, err := newKeyring(kek, master)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		if err := putKEKRecords(tx, h, kek, master); err != nil {
			return err
		}
		if first != nil {
			v := &Vault{opts: opts}
			if err := v.appendAudit(tx, keys, *first); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("initialising vault: %w", err)
	}
	return keys, nil
}

// newKEK builds a fresh header for key and derives its KEK.
func newKEK(key KeySource, p Argon2Params) (header, []byte, error) {
	if key == nil {
		return header{}, nil, fmt.Errorf("%w: nil key source", ErrInvalid)
	}
	h, err := newHeader(key, p)
	if err != nil {
		return header{}, nil, err
	}
	kek, err := deriveKEK(key, h)
	if err != nil {
		return header{}, nil, err
	}
	return h, kek, nil
}

// putKEKRecords writes the header and the master secret wrapped under kek.
// The header is part of the master's AAD, so editing the KDF parameters or
// salt is detected even when it happens to yield a working key.
func putKEKRecords(tx *bbolt.Tx, h header, kek, master []byte) error {
	rawHeader, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding header: %w", err)
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if err := meta.Put([]byte(metaHeader), rawHeader); err != nil {
		return fmt.Errorf("writing header: %w", err)
	}
	if err := meta.Put([]byte(metaMaster), seal(kek, master, masterAAD(rawHeader))); err != nil {
		return fmt.Errorf("writing master secret: %w", err)
	}
	return nil
}

func masterAAD(rawHeader []byte) []byte {
	return aad(purposeMaster, bucketMeta, rawHeader)
}

// Path returns the vault file's path.
func (v *Vault) Path() string { return v.path }

// Close closes the file and wipes the keys from memory. It waits for
// in-flight calls; later calls return ErrClosed. Closing twice is a no-op.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db == nil {
		return nil
	}
	err := v.db.Close()
	v.db = nil
	v.keys.wipe()
	v.keys = nil
	if err != nil {
		return fmt.Errorf("closing vault %s: %w", v.path, err)
	}
	return nil
}

// view runs fn in a read transaction.
func (v *Vault) view(ctx context.Context, fn func(tx *bbolt.Tx, k *keyring) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return ErrClosed
	}
	return guarded(func() error {
		return v.db.View(func(tx *bbolt.Tx) error { return fn(tx, v.keys) })
	})
}

// update runs fn in a write transaction. The transaction commits only if
// fn succeeds and ctx is still live, so a cancelled call changes nothing.
func (v *Vault) update(ctx context.Context, fn func(tx *bbolt.Tx, k *keyring) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.db == nil {
		return ErrClosed
	}
	if v.opts.ReadOnly {
		return ErrReadOnly
	}
	return guarded(func() error {
		return v.db.Update(func(tx *bbolt.Tx) error {
			if err := fn(tx, v.keys); err != nil {
				return err
			}
			return ctx.Err()
		})
	})
}

// dekSlot is the key of a record's wrapped DEK in the keys bucket. Bucket
// names never contain a zero byte, so the split is unambiguous.
func dekSlot(bucket string, id []byte) []byte {
	s := make([]byte, 0, len(bucket)+1+len(id))
	s = append(s, bucket...)
	s = append(s, 0)
	return append(s, id...)
}

// putRecord seals plaintext into bucket under id. A new record gets a fresh
// DEK stamped with the clock; an overwritten one keeps its DEK and stamp, so
// retention counts from when the record was first stored.
func (v *Vault) putRecord(tx *bbolt.Tx, k *keyring, bucket string, id, plaintext []byte) error {
	keys := tx.Bucket([]byte(bucketKeys))
	slot := dekSlot(bucket, id)
	var dek []byte
	if wrapped := keys.Get(slot); wrapped != nil {
		var err error
		if dek, _, err = unwrapDEK(k.kek, bucket, id, wrapped); err != nil {
			return fmt.Errorf("unwrapping data key: %w", err)
		}
	} else {
		dek = randomBytes(keySize)
		if err := keys.Put(slot, wrapDEK(k.kek, bucket, id, dek, v.opts.Now())); err != nil {
			return fmt.Errorf("storing data key: %w", err)
		}
	}
	if err := tx.Bucket([]byte(bucket)).Put(id, seal(dek, plaintext, aad(purposeRecord, bucket, id))); err != nil {
		return fmt.Errorf("storing record: %w", err)
	}
	return nil
}

// getRecord returns the plaintext of the record under id in bucket.
func getRecord(tx *bbolt.Tx, k *keyring, bucket string, id []byte) ([]byte, error) {
	sealed := tx.Bucket([]byte(bucket)).Get(id)
	if sealed == nil {
		return nil, ErrNotFound
	}
	wrapped := tx.Bucket([]byte(bucketKeys)).Get(dekSlot(bucket, id))
	if wrapped == nil {
		return nil, ErrShredded
	}
	dek, _, err := unwrapDEK(k.kek, bucket, id, wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrapping data key: %w", err)
	}
	return unseal(dek, sealed, aad(purposeRecord, bucket, id))
}

// deleteRecord removes a record and its wrapped DEK.
func deleteRecord(tx *bbolt.Tx, bucket string, id []byte) error {
	if err := tx.Bucket([]byte(bucketKeys)).Delete(dekSlot(bucket, id)); err != nil {
		return fmt.Errorf("deleting data key: %w", err)
	}
	if err := tx.Bucket([]byte(bucket)).Delete(id); err != nil {
		return fmt.Errorf("deleting record: %w", err)
	}
	return nil
}

// replaceMeta seals plaintext as the meta record id under a new data key
// each time: a damaged record is replaced, not reopened, so a writer that
// must go on (the sync loop's contacts, enrolling again) is never stopped
// by one.
func (v *Vault) replaceMeta(ctx context.Context, id string, plaintext []byte) error {
	return v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		if err := deleteRecord(tx, bucketMeta, []byte(id)); err != nil {
			return err
		}
		return v.putRecord(tx, k, bucketMeta, []byte(id), plaintext)
	})
}

// clone copies a bbolt value, which is only valid inside its transaction.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
