package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// Shred destroys a submission: its images, record and outbox entry, with
// their data keys, whatever its sync state. Copies of the ciphertext left in
// free pages or old backups become undecryptable; call Compact to purge them
// from the file. The shred is recorded in the audit log.
func (v *Vault) Shred(ctx context.Context, submissionID string) error {
	if err := validateID(kindSubmission, submissionID); err != nil {
		return fmt.Errorf("shredding submission: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSubmission, submissionID)
		if tx.Bucket([]byte(bucketSubmissions)).Get(key) == nil {
			return ErrNotFound
		}
		if err := shredSubmission(tx, key); err != nil {
			return err
		}
		return v.appendAudit(tx, k, AuditEvent{Action: "submission.shredded", Subject: submissionID})
	})
	if err != nil {
		return fmt.Errorf("shredding submission: %w", err)
	}
	return nil
}

// ShredSession destroys a capture session and its data key.
func (v *Vault) ShredSession(ctx context.Context, id string) error {
	if err := validateID(kindSession, id); err != nil {
		return fmt.Errorf("shredding session: %w", err)
	}
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		key := k.recordID(kindSession, id)
		if tx.Bucket([]byte(bucketSessions)).Get(key) == nil {
			return ErrNotFound
		}
		return deleteRecord(tx, bucketSessions, key)
	})
	if err != nil {
		return fmt.Errorf("shredding session: %w", err)
	}
	return nil
}

// shredSubmission deletes the records under a submission key. Its images
// share the key as prefix, so nothing needs decrypting and a submission whose
// record is damaged can still be shredded completely.
func shredSubmission(tx *bbolt.Tx, key []byte) error {
	if _, err := deleteBlobs(tx, key); err != nil {
		return err
	}
	for _, bucket := range []string{bucketSubmissions, bucketOutbox} {
		if err := deleteRecord(tx, bucket, key); err != nil {
			return err
		}
	}
	return nil
}

// ShredOlderThan is the retention sweep: it shreds sessions and submissions
// first stored before t (by the vault clock), submissions only once they
// were also delivered or rejected before t, and returns how many it
// shredded. Submissions still waiting to reach the server (outbox queued or
// sending) are kept, because retention must never destroy data that exists
// nowhere else; Shred removes those explicitly. The audit log is not subject
// to retention. The sweep is one transaction and is audited.
func (v *Vault) ShredOlderThan(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := v.update(ctx, func(tx *bbolt.Tx, k *keyring) error {
		n = 0
		type victim struct {
			bucket string
			key    []byte
		}
		var victims []victim
		c := tx.Bucket([]byte(bucketKeys)).Cursor()
		for slot, wrapped := c.First(); slot != nil; slot, wrapped = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			bucket, key, ok := bytes.Cut(slot, []byte{0})
			if !ok || (string(bucket) != bucketSessions && string(bucket) != bucketSubmissions) {
				continue
			}
			_, created, err := unwrapDEK(k.kek, string(bucket), key, wrapped)
			if err != nil {
				continue // a damaged key: its age is unknown, so it stays
			}
			if !created.Before(t) {
				continue
			}
			if string(bucket) == bucketSubmissions {
				e, err := readOutbox(tx, k, key)
				if err != nil && !errors.Is(err, ErrNotFound) {
					continue // damaged: whether central has it is unknown, so it stays
				}
				if err == nil && (e.State == StateQueued || e.State == StateSending) {
					continue
				}
				// Old also since it was delivered or rejected: a record
				// stamped by a clock that was wrong when it was stored (a
				// dead CMOS battery's 2000-01-01) looked decades old the
				// moment the clock was set, and one central refused
				// minutes before, which exists nowhere else, went at once.
				// Reaching central took a clock central's certificate
				// accepts, so that stamp is the sounder one.
				if err == nil && !e.UpdatedAt.Before(t) {
					continue
				}
			}
			victims = append(victims, victim{string(bucket), clone(key)})
		}
		for _, vc := range victims {
			var err error
			if vc.bucket == bucketSubmissions {
				err = shredSubmission(tx, vc.key)
			} else {
				err = deleteRecord(tx, vc.bucket, vc.key)
			}
			if err != nil {
				return err
			}
		}
		n = len(victims)
		return v.appendAudit(tx, k, AuditEvent{
			Action: "retention.sweep",
			Detail: fmt.Sprintf("shredded %d records stored before %s", n, t.UTC().Format(time.RFC3339)),
		})
	})
	if err != nil {
		return 0, fmt.Errorf("retention sweep: %w", err)
	}
	return n, nil
}

// rotateCheckEvery is how many data keys Rotate re-wraps between context
// checks.
const rotateCheckEvery = 256

// Rotate re-wraps every data key and the master secret under the KEK of
// newKey (a new passphrase or key file; Options.Argon2 sets the cost of a
// new passphrase) in one transaction. Afterwards the old key no longer opens
// the vault; if anything fails, including cancellation, nothing changes.
// Old wrapped keys linger in free pages until Compact.
func (v *Vault) Rotate(ctx context.Context, newKey KeySource) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Derive before locking: Argon2 takes a while and needs no vault state.
	h, newKEK, err := newKEK(newKey, v.opts.Argon2)
	if err != nil {
		return fmt.Errorf("rotating vault key: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db == nil {
		return ErrClosed
	}
	if v.opts.ReadOnly {
		return ErrReadOnly
	}
	var newKeys *keyring
	err = v.exclusiveUpdate(func(tx *bbolt.Tx) error {
		master, err := v.readMaster(tx)
		if err != nil {
			return err
		}
		if newKeys, err = newKeyring(newKEK, master); err != nil {
			return err
		}
		type rewrap struct{ slot, wrapped []byte }
		var out []rewrap
		keys := tx.Bucket([]byte(bucketKeys))
		c := keys.Cursor()
		for slot, wrapped := c.First(); slot != nil; slot, wrapped = c.Next() {
			if len(out)%rotateCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			bucket, id, ok := bytes.Cut(slot, []byte{0})
			if !ok {
				return fmt.Errorf("%w: malformed key slot", ErrCorrupt)
			}
			dek, created, err := unwrapDEK(v.keys.kek, string(bucket), id, wrapped)
			if err != nil {
				return fmt.Errorf("unwrapping data key: %w", err)
			}
			out = append(out, rewrap{clone(slot), wrapDEK(newKEK, string(bucket), id, dek, created)})
		}
		for _, r := range out {
			if err := keys.Put(r.slot, r.wrapped); err != nil {
				return fmt.Errorf("storing data key: %w", err)
			}
		}
		if err := putKEKRecords(tx, h, newKEK, master); err != nil {
			return err
		}
		if err := v.appendAudit(tx, newKeys, AuditEvent{Action: "vault.key_rotated", Detail: "now protected by " + describeSource(h.Source)}); err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("rotating vault key: %w", err)
	}
	v.keys.wipe()
	v.keys = newKeys
	return nil
}

// exclusiveUpdate runs fn in a write transaction for Rotate, which holds
// mu itself. It is guarded as every read is: a damaged page, or a page a
// file cut short no longer holds, is ErrCorrupt, and bbolt rolls the
// transaction back, so the old key still opens the vault. A file cut
// short since it was opened is refused before anything is written, as
// Open refuses it: the commit would put new pages past a hole of zeros.
func (v *Vault) exclusiveUpdate(fn func(tx *bbolt.Tx) error) error {
	return guarded(func() error {
		if err := checkSize(v.db); err != nil {
			return err
		}
		return v.db.Update(fn)
	})
}

// readMaster unwraps the master secret with the current KEK.
func (v *Vault) readMaster(tx *bbolt.Tx) ([]byte, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	master, err := unseal(v.keys.kek, meta.Get([]byte(metaMaster)), masterAAD(meta.Get([]byte(metaHeader))))
	if err != nil {
		return nil, fmt.Errorf("unwrapping master secret: %w", err)
	}
	return master, nil
}

// compactTxSize bounds each transaction of the copy so compaction of a large
// vault does not hold the whole file in memory.
const compactTxSize = 16 << 20

// Compact rewrites the vault into a fresh file holding only live records,
// then replaces the old file with it (write, fsync, rename, fsync directory),
// so shredded or superseded ciphertext and wrapped keys no longer linger in
// free pages. Other calls wait while it runs. If it fails before the rename,
// the original file is untouched and stays open.
func (v *Vault) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.db == nil {
		return ErrClosed
	}
	if v.opts.ReadOnly {
		return ErrReadOnly
	}
	// A fixed name: the file lock ensures no one else compacts, and a copy
	// left by a crash is simply replaced.
	tmp := v.path + ".compact"
	// Guarded as every read is: the copy walks every page, and a damaged
	// one (or one a file cut short no longer holds) is ErrCorrupt with the
	// original kept as it is; a damaged vault is never replaced by the
	// part of it a walk could read.
	err := guarded(func() error {
		if err := checkSize(v.db); err != nil {
			return err
		}
		return compactInto(ctx, v.db, tmp)
	})
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compacting vault: %w", err)
	}
	if err := v.db.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compacting vault: closing original: %w", err)
	}
	renameErr := os.Rename(tmp, v.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(v.path))
	} else {
		os.Remove(tmp)
	}
	db, err := openDB(v.path, v.opts)
	if err != nil {
		// Without a file the vault cannot go on; the compacted (or, if the
		// rename failed, original) file is intact on disk.
		v.db = nil
		v.keys.wipe()
		return fmt.Errorf("compacting vault: reopening: %w", errors.Join(renameErr, err))
	}
	v.db = db
	if renameErr != nil {
		return fmt.Errorf("compacting vault: replacing file: %w", renameErr)
	}
	return nil
}

// compactInto copies the live contents of src into a new bbolt file at path,
// checks that every bucket holds as many keys as the source, and syncs it.
func compactInto(ctx context.Context, src *bbolt.DB, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale copy: %w", err)
	}
	// NoSync: one explicit fsync at the end instead of one per commit.
	dst, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		return fmt.Errorf("creating copy: %w", err)
	}
	err = bbolt.Compact(dst, src, compactTxSize)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = sameKeyCounts(src, dst)
	}
	if err == nil {
		err = dst.Sync()
	}
	if closeErr := dst.Close(); err == nil {
		err = closeErr
	}
	return err
}

func sameKeyCounts(a, b *bbolt.DB) error {
	count := func(db *bbolt.DB) (map[string]int, error) {
		n := make(map[string]int)
		err := db.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
				n[string(name)] = bk.Stats().KeyN
				return nil
			})
		})
		return n, err
	}
	na, err := count(a)
	if err != nil {
		return err
	}
	nb, err := count(b)
	if err != nil {
		return err
	}
	for name, n := range na {
		if nb[name] != n {
			return fmt.Errorf("copy of bucket %s has %d keys, original %d", name, nb[name], n)
		}
	}
	return nil
}
