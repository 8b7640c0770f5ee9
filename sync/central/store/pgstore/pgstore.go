// Package pgstore is central's PostgreSQL store, for several central
// instances behind a load balancer. Every invariant is enforced by the
// database, not by the instance: primary keys with ON CONFLICT DO NOTHING
// dedupe submissions and nonces, row locks serialise the chunks of one
// submission, an advisory lock serialises schema migrations and version
// numbering, and one-row tables locked to the end of a transaction order
// the audit chain (audit_head), review changes (review_counter), completed
// submissions (completed_counter) and webhook events (webhook_counter), so
// each commits in its sequence's order and a follower never skips one.
// The job queue (package jobs, River) lives in the same database: Open
// applies River's migrations, and each webhook event's delivery job is
// inserted in the event's transaction (queue.go). Request nonces and rate
// limits (ratelimit.go) are rows too, so instances share them.
package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/protocol"
)

// Advisory lock keys (arbitrary constants, unique within this schema).
const (
	lockMigrate   = 0x6b7963_01
	lockRisk      = 0x6b7963_02
	lockWatchlist = 0x6b7963_03
	// lockRetentionHeld: HoldRetention, so two instances' sweeps do not
	// both audit one change.
	lockRetentionHeld = 0x6b7963_04
)

// nonceSweepEvery is how many nonces are recorded between sweeps of the
// expired ones.
const nonceSweepEvery = 1024

// Store is a PostgreSQL-backed central.Store.
type Store struct {
	pool   *pgxpool.Pool
	nonces atomic.Int64
	claims atomic.Int64
	idem   atomic.Int64 // Idempotent calls, for sweeping
	// budgets counts SpendBudget calls, for sweeping (ratelimit.go).
	budgets atomic.Int64

	// idemBusy holds the Idempotency-Keys this instance is running fn
	// for, closed when it returns (Idempotent).
	idemMu   sync.Mutex
	idemBusy map[string]chan struct{}
	// idemRuns bounds the Idempotent calls running fn at once (half the
	// pool): each holds its transaction's connection while fn may take
	// another, so with every connection held so, every fn waited for one
	// none would release (a partner's burst of Initiate Flow requests with
	// Idempotency-Keys stalled every store call of the instance).
	idemRuns chan struct{}

	// jobs inserts the job queue's jobs in the store's transactions
	// (queue.go).
	jobs *river.Client[pgx.Tx]
}

// DefaultPoolSize is the number of connections one store opens at most.
const DefaultPoolSize = 16

var _ central.Store = (*Store)(nil)

// Migrate brings the database at dsn to the current schema (the store's
// migrations and the job queue's), as Open does, and disconnects: for a
// database prepared ahead of its use (the tests' template database).
func Migrate(ctx context.Context, dsn string) error {
	s, err := Open(ctx, dsn)
	if err != nil {
		return err
	}
	return s.Close()
}

// Open connects to the database at dsn and applies pending migrations.
// Its connections run without JIT compilation unless dsn sets jit: every
// query of the store reads a few index pages, and JIT, which PostgreSQL
// starts by the plan's estimated cost, compiled one for 400 ms that ran
// in 2 (DueEvents, whose estimate counts each partner's whole backlog).
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening central store: %w", err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	cfg.MaxConns = DefaultPoolSize
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening central store: %w", err)
	}
	s := &Store{pool: pool, idemBusy: make(map[string]chan struct{}), idemRuns: make(chan struct{}, DefaultPoolSize/2)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if s.jobs, err = jobs.NewInserter(pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening central store: %w", err)
	}
	return s, nil
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() int { return len(migrations) }

// migrate applies pending migrations in one transaction under an advisory
// lock, so instances starting together apply each migration once; then
// River's (the job queue's tables, jobs.Migrate).
func (s *Store) migrate(ctx context.Context) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			return err
		}
		if cur > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this build's %d", cur, len(migrations))
		}
		for v := cur + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
				return err
			}
			if v == migrationChain {
				if err := chainLegacyAudit(ctx, tx); err != nil {
					return fmt.Errorf("migration %d: chaining the audit trail: %w", v, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrating central schema: %w", err)
	}
	return jobs.Migrate(ctx, s.pool)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// exec runs one statement.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return s.pool.Exec(ctx, sql, args...)
}

// tx runs fn in a transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// query runs fn on a connection for reads that need one.
func (s *Store) query(ctx context.Context, fn func(*pgx.Conn) error) error {
	return s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(c.Conn()) })
}

// CreateEnrollToken implements central.Store.
func (s *Store) CreateEnrollToken(ctx context.Context, t central.EnrollToken) error {
	_, err := s.exec(ctx, `INSERT INTO enroll_tokens (hash, created_at, expires_at, branch) VALUES ($1, $2, $3, $4)`, t.Hash[:], t.CreatedAt, t.ExpiresAt, t.Branch)
	if err != nil {
		return fmt.Errorf("creating enrolment token: %w", err)
	}
	return nil
}

// Enroll implements central.Store.
func (s *Store) Enroll(ctx context.Context, tokenHash [sha256.Size]byte, d central.Device) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The conditional update consumes the token exactly once even when
		// two instances redeem it at the same moment.
		var branch string
		err := tx.QueryRow(ctx, `UPDATE enroll_tokens SET used_at = $2, device_id = $3 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING branch`,
			tokenHash[:], d.EnrolledAt, d.ID).Scan(&branch)
		if errors.Is(err, pgx.ErrNoRows) {
			// The device that redeemed it may ask again (its answer was
			// lost): enrolled already, unless revoked or another key.
			var again bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enroll_tokens t JOIN devices d ON d.id = t.device_id
				WHERE t.hash = $1 AND t.used_at IS NOT NULL AND t.device_id = $2 AND d.public_key = $3 AND d.revoked_at IS NULL)`,
				tokenHash[:], d.ID, d.PublicKey).Scan(&again)
			if err != nil {
				return err
			}
			if again {
				return nil
			}
			return central.ErrTokenInvalid
		}
		if err != nil {
			return err
		}
		if d.Branch == "" {
			d.Branch = branch
		}
		tag, err := tx.Exec(ctx, `INSERT INTO devices (id, public_key, app_version, enrolled_at, branch) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, d.ID, d.PublicKey, d.AppVersion, d.EnrolledAt, d.Branch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return central.ErrDeviceExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("enrolling device: %w", err)
	}
	return nil
}

const deviceCols = `id, public_key, app_version, enrolled_at, revoked_at, last_seen, status, branch, newest_config, newest_config_since`

func scanDevice(row pgx.Row) (central.Device, error) {
	var d central.Device
	var revoked, seen *time.Time
	var status []byte
	var newest *int64
	var since *time.Time
	if err := row.Scan(&d.ID, &d.PublicKey, &d.AppVersion, &d.EnrolledAt, &revoked, &seen, &status, &d.Branch, &newest, &since); err != nil {
		return d, err
	}
	if newest != nil && since != nil {
		d.NewestConfig = &central.ConfigReported{Version: *newest, Since: since.UTC()}
	}
	d.EnrolledAt = d.EnrolledAt.UTC()
	if revoked != nil {
		d.RevokedAt = revoked.UTC()
	}
	if seen != nil {
		d.LastSeen = seen.UTC()
	}
	if status != nil {
		d.Status = new(protocol.DeviceStatus)
		if err := json.Unmarshal(status, d.Status); err != nil {
			return d, fmt.Errorf("decoding device status: %w", err)
		}
	}
	return d, nil
}

// SetDeviceBranch implements central.Store.
func (s *Store) SetDeviceBranch(ctx context.Context, id, branch string) error {
	tag, err := s.exec(ctx, `UPDATE devices SET branch = $2 WHERE id = $1`, id, branch)
	if err != nil {
		return fmt.Errorf("moving device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("moving device: %w", central.ErrNotFound)
	}
	return nil
}

// SetDeviceStatus implements central.Store.
func (s *Store) SetDeviceStatus(ctx context.Context, id string, st protocol.DeviceStatus, at time.Time) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("recording device status: %w", err)
	}
	// SET reads the row as it was: the time changes only with the version.
	tag, err := s.exec(ctx, `UPDATE devices SET status = $2, last_seen = $3,
		newest_config_since = CASE WHEN newest_config IS NULL OR newest_config < $4 THEN $3 ELSE newest_config_since END,
		newest_config = GREATEST(newest_config, $4) WHERE id = $1`, id, data, at, st.ConfigVersion)
	if err != nil {
		return fmt.Errorf("recording device status: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("recording device status: %w", central.ErrNotFound)
	}
	return nil
}

// Device implements central.Store.
func (s *Store) Device(ctx context.Context, id string) (central.Device, error) {
	var d central.Device
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		d, err = scanDevice(c.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
		return err
	})
	if err != nil {
		return d, fmt.Errorf("reading device: %w", notFound(err))
	}
	return d, nil
}

// Devices implements central.Store.
func (s *Store) Devices(ctx context.Context) ([]central.Device, error) {
	var ds []central.Device
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY enrolled_at, id`)
		if err != nil {
			return err
		}
		ds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.Device, error) { return scanDevice(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	return ds, nil
}

// RevokeDevice implements central.Store.
func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	tag, err := s.exec(ctx, `UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, at)
	if err != nil {
		return fmt.Errorf("revoking device: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoking device: %w", central.ErrNotFound)
	}
	return nil
}

// UseNonce implements central.Store.
func (s *Store) UseNonce(ctx context.Context, deviceID, nonce string, now, expires time.Time) error {
	if s.nonces.Add(1)%nonceSweepEvery == 0 {
		if _, err := s.exec(ctx, `DELETE FROM nonces WHERE expires_at < $1`, now); err != nil {
			return fmt.Errorf("sweeping nonces: %w", err)
		}
	}
	tag, err := s.exec(ctx, `INSERT INTO nonces (device_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, deviceID, nonce, expires)
	if err != nil {
		return fmt.Errorf("recording nonce: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return central.ErrReplay
	}
	return nil
}

// checkNotRevoked is central.ErrRevoked if device id is enrolled and
// revoked. It runs first in the transaction that writes the device's
// upload and holds the device's row FOR SHARE until it ends: a revocation
// (RevokeDevice's UPDATE) committed before is seen, one arriving after
// waits for the upload to commit, so no upload commits after the
// revocation. A device with no row is not refused: central authenticated
// the request, and storetest writes without enrolling.
func checkNotRevoked(ctx context.Context, tx pgx.Tx, id string) error {
	var revoked bool
	err := tx.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM devices WHERE id = $1 FOR SHARE`, id).Scan(&revoked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return err
	case revoked:
		return central.ErrRevoked
	}
	return nil
}

// BeginSubmission implements central.Store.
func (s *Store) BeginSubmission(ctx context.Context, sub central.Submission) (protocol.UploadState, bool, error) {
	var st protocol.UploadState
	var created bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := checkNotRevoked(ctx, tx, sub.DeviceID); err != nil {
			return err
		}
		var completed *time.Time
		if len(sub.Images) == 0 {
			completed = &sub.ReceivedAt
		}
		// A concurrent insert of the same key waits for the first
		// transaction and then does nothing.
		var keyID *string
		var wrapped []byte
		if sub.Seal != nil {
			keyID, wrapped = &sub.Seal.KeyID, sub.Seal.Key
		}
		sum, err := summaryCols(sub.Summary)
		if err != nil {
			return err
		}
		var attested *time.Time
		if !sub.AttestedAt.IsZero() {
			attested = &sub.AttestedAt
		}
		tag, err := tx.Exec(ctx, `INSERT INTO submissions (device_id, key, id, manifest_hash, created_at, received_at, completed_at, verdict, attestation_fresh, payload, decision, key_id, wrapped_key,
				summary, engine_decision, doc_type, country, reasons, attested_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT DO NOTHING`,
			sub.DeviceID, sub.Key, sub.ID, sub.ManifestHash, sub.CreatedAt, sub.ReceivedAt, completed, sub.Verdict, sub.AttestationFresh,
			[]byte(sub.Payload), []byte(sub.Decision), keyID, wrapped, sum.doc, sum.decision, sum.docType, sum.country, sum.reasons, attested)
		if err != nil {
			return err
		}
		// Checked after the insert, by a statement of its own: an erasure
		// committed while the insert waited on the row is seen, and its
		// tombstone refuses the row just inserted (rolled back).
		var gone bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM erased_submissions WHERE device_id = $1 AND key = $2)`, sub.DeviceID, sub.Key).Scan(&gone); err != nil {
			return err
		}
		if gone {
			return central.ErrErased
		}
		created = tag.RowsAffected() == 1
		if created {
			b := &pgx.Batch{}
			for i, im := range sub.Images {
				b.Queue(`INSERT INTO images (device_id, key, name, ord, size, sha256, content_key) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
					sub.DeviceID, sub.Key, im.Name, i, im.Size, im.SHA256, im.Key)
			}
			if sub.Seal != nil {
				for _, t := range sub.Seal.Tokens {
					b.Queue(`INSERT INTO submission_tokens (token, device_id, key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, t, sub.DeviceID, sub.Key)
				}
			}
			if completed != nil {
				b.Queue(logCompletedSQL, sub.DeviceID, sub.Key)
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			rec := central.Submission{Images: slices.Clone(sub.Images)}
			for i := range rec.Images {
				rec.Images[i].Received = 0
			}
			if completed != nil {
				rec.CompletedAt = *completed
			}
			st = rec.State()
			return nil
		}
		cur, err := loadSubmission(ctx, tx, sub.DeviceID, sub.Key, false)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur.ManifestHash, sub.ManifestHash) {
			return central.ErrConflict
		}
		st = cur.State()
		return nil
	})
	if err != nil {
		return st, false, fmt.Errorf("recording submission: %w", err)
	}
	return st, created, nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// submissionCols are the columns scanSubmission reads: the record, the
// wrapped data key and the index tokens (in the same round trip).
const submissionCols = `device_id, key, id, manifest_hash, created_at, received_at, completed_at, verdict, attestation_fresh,
	fields_erased_at, images_erased_at, key_id, wrapped_key, summary, attested_at,
	(SELECT array_agg(t.token) FROM submission_tokens t WHERE t.device_id = submissions.device_id AND t.key = submissions.key)`

func scanSubmission(row pgx.Row, payload, decision *[]byte) (central.Submission, error) {
	var s central.Submission
	var completed, fieldsErased, imagesErased, attested *time.Time
	var keyID *string
	var wrapped []byte
	var tokens [][]byte
	var summary []byte
	dst := []any{&s.DeviceID, &s.Key, &s.ID, &s.ManifestHash, &s.CreatedAt, &s.ReceivedAt, &completed, &s.Verdict, &s.AttestationFresh,
		&fieldsErased, &imagesErased, &keyID, &wrapped, &summary, &attested, &tokens}
	if payload != nil {
		dst = append(dst, payload, decision)
	}
	if err := row.Scan(dst...); err != nil {
		return s, err
	}
	s.CreatedAt, s.ReceivedAt = s.CreatedAt.UTC(), s.ReceivedAt.UTC()
	for _, t := range []struct {
		src *time.Time
		dst *time.Time
	}{{completed, &s.CompletedAt}, {fieldsErased, &s.FieldsErasedAt}, {imagesErased, &s.ImagesErasedAt}, {attested, &s.AttestedAt}} {
		if t.src != nil {
			*t.dst = t.src.UTC()
		}
	}
	if keyID != nil {
		s.Seal = &central.Seal{KeyID: *keyID, Key: wrapped, Tokens: tokens}
	}
	if summary != nil {
		s.Summary = new(central.Summary)
		if err := json.Unmarshal(summary, s.Summary); err != nil {
			return s, fmt.Errorf("decoding submission summary: %w", err)
		}
	}
	return s, nil
}

func loadSubmission(ctx context.Context, q querier, deviceID, key string, withPayload bool) (central.Submission, error) {
	var payload, decision []byte
	cols := submissionCols
	pp, dp := (*[]byte)(nil), (*[]byte)(nil)
	if withPayload {
		cols += ", payload, decision"
		pp, dp = &payload, &decision
	}
	sub, err := scanSubmission(q.QueryRow(ctx, `SELECT `+cols+` FROM submissions WHERE device_id = $1 AND key = $2`, deviceID, key), pp, dp)
	if err != nil {
		return sub, notFound(err)
	}
	sub.Payload, sub.Decision = payload, decision
	if sub.Images, err = loadImages(ctx, q, deviceID, key, false); err != nil {
		return sub, err
	}
	return sub, nil
}

func loadImages(ctx context.Context, q querier, deviceID, key string, forUpdate bool) ([]central.ImageProgress, error) {
	sql := `SELECT name, size, sha256, content_key, received FROM images WHERE device_id = $1 AND key = $2 ORDER BY ord`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, deviceID, key)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.ImageProgress, error) {
		var im central.ImageProgress
		err := r.Scan(&im.Name, &im.Size, &im.SHA256, &im.Key, &im.Received)
		return im, err
	})
}

// pageImages reads the images of a page of submissions in one query (one
// loadImages per row was a round trip per row), each submission's in
// order; a submission without images gets an empty list, as from
// loadImages.
func pageImages(ctx context.Context, q querier, subs []central.Submission) error {
	if len(subs) == 0 {
		return nil
	}
	devs, keys := make([]string, len(subs)), make([]string, len(subs))
	at := make(map[central.SubmissionRef]int, len(subs))
	for i := range subs {
		devs[i], keys[i] = subs[i].DeviceID, subs[i].Key
		at[central.SubmissionRef{DeviceID: devs[i], Key: keys[i]}] = i
		subs[i].Images = []central.ImageProgress{}
	}
	// In ord order: grouped by submission below, each keeps its order.
	rows, err := q.Query(ctx, `SELECT i.device_id, i.key, i.name, i.size, i.sha256, i.content_key, i.received
		FROM images i JOIN unnest($1::text[], $2::text[]) AS p(device_id, key) USING (device_id, key) ORDER BY i.ord`, devs, keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ref central.SubmissionRef
		var im central.ImageProgress
		if err := rows.Scan(&ref.DeviceID, &ref.Key, &im.Name, &im.Size, &im.SHA256, &im.Key, &im.Received); err != nil {
			return err
		}
		if i, ok := at[ref]; ok {
			subs[i].Images = append(subs[i].Images, im)
		}
	}
	return rows.Err()
}

// Upload implements central.Store.
func (s *Store) Upload(ctx context.Context, deviceID, key string) (central.Submission, error) {
	var sub central.Submission
	err := s.query(ctx, func(c *pgx.Conn) (err error) {
		sub, err = loadSubmission(ctx, c, deviceID, key, true)
		return err
	})
	if err != nil {
		return sub, fmt.Errorf("reading submission: %w", err)
	}
	return sub, nil
}

// OpenUploads implements central.Store, from the index of open uploads by
// device.
func (s *Store) OpenUploads(ctx context.Context, deviceID string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM submissions WHERE device_id = $1 AND completed_at IS NULL AND received_at >= $2`,
		deviceID, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting open uploads: %w", err)
	}
	return n, nil
}

// AppendChunk implements central.Store. Locking every image row of the
// submission serialises its chunks, so exactly one transaction sees the
// last image complete and stamps the submission complete.
func (s *Store) AppendChunk(ctx context.Context, c central.Chunk) (protocol.UploadState, error) {
	var st protocol.UploadState
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := checkNotRevoked(ctx, tx, c.DeviceID); err != nil {
			return err
		}
		ims, err := loadImages(ctx, tx, c.DeviceID, c.Key, true)
		if err != nil {
			return err
		}
		var completed *time.Time
		if err := tx.QueryRow(ctx, `SELECT completed_at FROM submissions WHERE device_id = $1 AND key = $2`, c.DeviceID, c.Key).Scan(&completed); err != nil {
			return notFound(err)
		}
		sub := central.Submission{Images: ims}
		if completed != nil {
			sub.CompletedAt = completed.UTC()
		}
		i := -1
		for j, im := range ims {
			if im.Name == c.Image {
				i = j
			}
		}
		if i < 0 {
			return central.ErrNotFound
		}
		im := &ims[i]
		if c.Offset != im.Received || c.Size() > im.Size-im.Received || len(c.Data) == 0 {
			st = sub.State()
			return central.ErrOffset
		}
		im.Received += c.Size()
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO image_chunks (device_id, key, name, off, data) VALUES ($1, $2, $3, $4, $5)`, c.DeviceID, c.Key, c.Image, c.Offset, c.Data)
		b.Queue(`UPDATE images SET received = $4 WHERE device_id = $1 AND key = $2 AND name = $3`, c.DeviceID, c.Key, c.Image, im.Received)
		done := true
		for _, im := range ims {
			done = done && im.Received == im.Size
		}
		if done && sub.CompletedAt.IsZero() {
			sub.CompletedAt = c.At
			b.Queue(`UPDATE submissions SET completed_at = $3 WHERE device_id = $1 AND key = $2`, c.DeviceID, c.Key, c.At)
			b.Queue(logCompletedSQL, c.DeviceID, c.Key)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		st = sub.State()
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("appending image chunk: %w", err)
	}
	return st, nil
}

// ImageData implements central.Store.
func (s *Store) ImageData(ctx context.Context, deviceID, key, image string) ([]byte, error) {
	var out []byte
	err := s.query(ctx, func(c *pgx.Conn) error {
		return eachChunk(ctx, c, deviceID, key, image, func(received int64) { out = make([]byte, 0, received) }, func(chunk []byte) error {
			out = append(out, chunk...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	return out, nil
}

// ImageChunks implements central.Store. Each chunk is a query of its own
// on a connection taken from the pool for it: yield writes to a client,
// who may read slowly, and a connection held through a download would let
// a few slow readers take the whole pool.
func (s *Store) ImageChunks(ctx context.Context, deviceID, key, image string, yield func([]byte) error) error {
	if err := eachChunk(ctx, s.pool, deviceID, key, image, func(int64) {}, yield); err != nil {
		return fmt.Errorf("reading image: %w", err)
	}
	return nil
}

// rowQuerier runs a query for one row: a connection, or the pool, which
// takes a connection for the query alone.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// eachChunk calls yield with each stored chunk of an image in order, once
// sized has been told how many bytes were received.
func eachChunk(ctx context.Context, c rowQuerier, deviceID, key, image string, sized func(received int64), yield func([]byte) error) error {
	var received int64
	err := c.QueryRow(ctx, `SELECT received FROM images WHERE device_id = $1 AND key = $2 AND name = $3`, deviceID, key, image).Scan(&received)
	if err != nil {
		return notFound(err)
	}
	sized(received)
	// One chunk a query, by its primary key: a reader that stops early
	// (the push reads an image's first bytes for its type) stops the
	// transfer too, where closing one query's rows reads them all off the
	// connection first.
	var chunk []byte
	for off := int64(-1); ; {
		err := c.QueryRow(ctx, `SELECT off, data FROM image_chunks WHERE device_id = $1 AND key = $2 AND name = $3 AND off > $4 ORDER BY off LIMIT 1`,
			deviceID, key, image, off).Scan(&off, &chunk)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := yield(chunk); err != nil {
			return err
		}
	}
}

// Submissions implements central.Store.
func (s *Store) Submissions(ctx context.Context, f central.Filter) ([]central.Submission, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.DeviceID != "" {
		add("device_id = $%d", f.DeviceID)
	}
	if !f.ReceivedAfter.IsZero() {
		add("received_at >= $%d", f.ReceivedAfter)
	}
	if !f.ReceivedBefore.IsZero() {
		add("received_at < $%d", f.ReceivedBefore)
	}
	if f.Verdict != "" {
		add("verdict = $%d", f.Verdict)
	}
	for _, t := range f.Tokens {
		add("EXISTS (SELECT 1 FROM submission_tokens t WHERE t.token = $%d AND t.device_id = submissions.device_id AND t.key = submissions.key)", t)
	}
	if f.Complete != nil {
		if *f.Complete {
			where = append(where, "completed_at IS NOT NULL")
		} else {
			where = append(where, "completed_at IS NULL")
		}
	}
	sql := `SELECT ` + submissionCols + ` FROM submissions`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, f.EffectiveLimit())
	sql += fmt.Sprintf(` ORDER BY received_at, device_id, key LIMIT $%d`, len(args))
	var subs []central.Submission
	err := s.query(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		subs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (central.Submission, error) { return scanSubmission(r, nil, nil) })
		if err != nil {
			return err
		}
		return pageImages(ctx, c, subs)
	})
	if err != nil {
		return nil, fmt.Errorf("listing submissions: %w", err)
	}
	return subs, nil
}

// PutRisk implements central.Store.
func (s *Store) PutRisk(ctx context.Context, doc json.RawMessage) (int64, error) {
	var v int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockRisk); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO risk_config (version, doc) SELECT coalesce(max(version), 0) + 1, $1 FROM risk_config RETURNING version`, []byte(doc)).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("publishing risk configuration: %w", err)
	}
	return v, nil
}

// Risk implements central.Store.
func (s *Store) Risk(ctx context.Context) (json.RawMessage, int64, error) {
	var doc []byte
	var v int64
	err := s.query(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT doc, version FROM risk_config ORDER BY version DESC LIMIT 1`).Scan(&doc, &v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading risk configuration: %w", err)
	}
	return doc, v, nil
}

// notFound maps "no rows" to central.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return central.ErrNotFound
	}
	return err
}
