package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
)

// The job queue (package jobs) on this store: appendEvents queues a
// delivery job with each event, ReplayEvent another; the workers take a
// lane's head with LeaseLane, so one instance at a time sends a session's
// next event, whichever job brought it there.

var _ central.WebhookLanes = (*Store)(nil)

// Jobs returns a River client working cfg.Workers on the store's pool, for
// one central instance to Start (and Stop before Close).
func (s *Store) Jobs(cfg jobs.Config) (*river.Client[pgx.Tx], error) {
	return jobs.NewClient(s.pool, cfg)
}

// PullInDeliveries makes the delivery jobs River holds for later than
// any wait of the webhook schedule after now (central.EventMaxWait and
// its minute: scheduled by a clock since put back) available at now
// (jobs.PullInDeliveries); the leader's sweep runs it.
func (s *Store) PullInDeliveries(ctx context.Context, now time.Time) (int64, error) {
	return jobs.PullInDeliveries(ctx, s.pool, now, now.Add(central.EventMaxWait+central.EventClockSlack))
}

// LeaseLane implements central.WebhookLanes. The head's row is locked for
// the transaction, so two instances asking at once do not both hold it.
func (s *Store) LeaseLane(ctx context.Context, l central.Lane, now time.Time, hold time.Duration) (central.LaneLease, error) {
	var out central.LaneLease
	err := s.tx(ctx, func(tx pgx.Tx) error {
		upTo := l.UpTo
		if upTo <= 0 {
			upTo = 1<<63 - 1
		}
		var lease *time.Time
		row := tx.QueryRow(ctx, `SELECT `+eventCols+`, lease_until FROM webhook_events
			WHERE partner_id = $1 AND session_id = $2 AND seq <= $3 AND delivered_at IS NULL AND dead_at IS NULL
			ORDER BY seq LIMIT 1 FOR UPDATE`, l.PartnerID, l.SessionID, upTo)
		e, err := scanEvent(row, &lease)
		if errors.Is(err, pgx.ErrNoRows) {
			out.Empty = true
			return nil
		}
		if err != nil {
			return err
		}
		out.Event = e
		switch {
		case !central.EventDue(e.NextAt, now):
			out.Wait = e.NextAt
			return nil
		case lease != nil && central.LeaseRunning(*lease, now):
			out.Wait = lease.UTC()
			return nil
		}
		// Until is kept at the column's microseconds so the caller's copy
		// compares equal with what others read (Wait).
		out.Held, out.Until, out.Owner = true, now.Add(hold).UTC().Truncate(time.Microsecond), rand.Text()
		_, err = tx.Exec(ctx, `UPDATE webhook_events SET lease_until = $2, lease_owner = $3 WHERE seq = $1`, e.Seq, out.Until, out.Owner)
		return err
	})
	if err != nil {
		return central.LaneLease{}, fmt.Errorf("leasing webhook lane: %w", err)
	}
	return out, nil
}

// RenewLane implements central.WebhookLanes. The lease is ours while the
// event is pending and its lease_owner is still l's (a lease that ran out
// and was taken again has another); it is never shortened.
func (s *Store) RenewLane(ctx context.Context, l central.LaneLease, now time.Time, hold time.Duration) (time.Time, error) {
	var until time.Time
	err := s.pool.QueryRow(ctx, `UPDATE webhook_events SET lease_until = GREATEST(lease_until, $3)
		WHERE seq = $1 AND lease_owner = $2 AND delivered_at IS NULL AND dead_at IS NULL
		RETURNING lease_until`, l.Event.Seq, l.Owner, now.Add(hold).UTC().Truncate(time.Microsecond)).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, central.ErrLeaseLost
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("renewing webhook lane lease: %w", err)
	}
	return until.UTC(), nil
}

// ReleaseLane implements central.WebhookLanes: the event keeps its state
// (no attempt), and is due to the next LeaseLane at once.
func (s *Store) ReleaseLane(ctx context.Context, l central.LaneLease) error {
	tag, err := s.exec(ctx, `UPDATE webhook_events SET lease_until = NULL, lease_owner = NULL
		WHERE seq = $1 AND lease_owner = $2 AND delivered_at IS NULL AND dead_at IS NULL`, l.Event.Seq, l.Owner)
	if err != nil {
		return fmt.Errorf("releasing webhook lane lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return central.ErrLeaseLost
	}
	return nil
}
