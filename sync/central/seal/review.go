package seal

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/openkyc/kyc/sync/central"
)

// The review console's cases carry no payload, only the submission's id,
// which is sealed like the rest: these open it with the data key the case
// carries (Case.Seal), from the cache when it holds it.

// openID returns the plain id of a submission read from the inner store.
func (s *Store) openID(ctx context.Context, ref central.SubmissionRef, id string, seal *central.Seal) (string, error) {
	if seal == nil {
		return id, nil
	}
	a, err := s.open(ctx, ref, seal)
	if err != nil {
		return "", err
	}
	sealed, err := base64.RawStdEncoding.DecodeString(id)
	if err != nil {
		return "", ErrTampered
	}
	plain, err := decrypt(a, sealed, aad(purposeID, ref))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func (s *Store) openCase(ctx context.Context, c *central.Case) error {
	id, err := s.openID(ctx, c.Ref, c.ID, c.Seal)
	if err != nil {
		return fmt.Errorf("opening case: %w", err)
	}
	c.ID, c.Seal = id, nil
	return nil
}

// Queue implements central.Store.
func (s *Store) Queue(ctx context.Context, f central.QueueFilter) ([]central.Case, int, error) {
	cases, total, err := s.Store.Queue(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	for i := range cases {
		if err := s.openCase(ctx, &cases[i]); err != nil {
			return nil, 0, err
		}
	}
	return cases, total, nil
}

// Case implements central.Store.
func (s *Store) Case(ctx context.Context, ref central.SubmissionRef) (central.Case, error) {
	c, err := s.Store.Case(ctx, ref)
	if err != nil {
		return c, err
	}
	if err := s.openCase(ctx, &c); err != nil {
		return central.Case{}, err
	}
	return c, nil
}

// UpdateReview implements central.Store: fn sees the case opened.
func (s *Store) UpdateReview(ctx context.Context, ref central.SubmissionRef, fn func(central.Case) (central.Review, central.AuditEvent, error)) (central.Case, error) {
	c, err := s.Store.UpdateReview(ctx, ref, func(c central.Case) (central.Review, central.AuditEvent, error) {
		if err := s.openCase(ctx, &c); err != nil {
			return central.Review{}, central.AuditEvent{}, err
		}
		return fn(c)
	})
	if err != nil {
		return c, err
	}
	if err := s.openCase(ctx, &c); err != nil {
		return central.Case{}, err
	}
	return c, nil
}

// ReviewChanges implements central.Store.
func (s *Store) ReviewChanges(ctx context.Context, deviceID string, after int64, limit int) ([]central.ReviewChange, error) {
	chs, err := s.Store.ReviewChanges(ctx, deviceID, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range chs {
		ch := &chs[i]
		id, err := s.openID(ctx, ch.Ref, ch.ID, ch.Seal)
		if err != nil {
			return nil, fmt.Errorf("opening review change: %w", err)
		}
		ch.ID, ch.Seal = id, nil
	}
	return chs, nil
}

// Completed implements central.Store: the cases' ids opened, as Queue.
func (s *Store) Completed(ctx context.Context, after int64, limit int) ([]central.Case, error) {
	cases, err := s.Store.Completed(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range cases {
		if err := s.openCase(ctx, &cases[i]); err != nil {
			return nil, err
		}
	}
	return cases, nil
}
