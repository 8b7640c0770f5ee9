package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// CreateUser implements central.Store.
func (s *Store) CreateUser(ctx context.Context, u central.User) error {
	return s.update(ctx, "creating user", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Name)) != nil {
			return central.ErrUserExists
		}
		return put(b, []byte(u.Name), u)
	})
}

// UpdateUser implements central.Store. fn runs inside the write
// transaction, so it must not call the store.
func (s *Store) UpdateUser(ctx context.Context, name string, fn func(*central.User) error) (central.User, error) {
	var u central.User
	var fnErr error
	err := s.update(ctx, "updating user", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		u = central.User{}
		if err := get(b, []byte(name), &u); err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			fnErr = err
			return err
		}
		u.Name = name // the key names the account
		return put(b, []byte(name), u)
	})
	if fnErr != nil {
		return central.User{}, fnErr
	}
	if err != nil {
		return central.User{}, err
	}
	return u, nil
}

// User implements central.Store.
func (s *Store) User(ctx context.Context, name string) (central.User, error) {
	var u central.User
	err := s.view(ctx, "reading user", func(tx *bbolt.Tx) error {
		return get(tx.Bucket(bucketUsers), []byte(name), &u)
	})
	return u, err
}

// Users implements central.Store.
func (s *Store) Users(ctx context.Context) ([]central.User, error) {
	var out []central.User
	err := s.view(ctx, "listing users", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(_, v []byte) error {
			var u central.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// PutSession implements central.Store. Expired sessions of the user are
// dropped on the way, so the bucket does not grow with every sign-in.
func (s *Store) PutSession(ctx context.Context, cs central.ConsoleSession) error {
	return s.update(ctx, "recording session", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var o central.ConsoleSession
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			if o.User == cs.User && !cs.CreatedAt.IsZero() && !o.ExpiresAt.After(cs.CreatedAt) {
				stale = append(stale, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return put(b, cs.Hash, cs)
	})
}

// Session implements central.Store.
func (s *Store) Session(ctx context.Context, hash []byte, now time.Time) (central.ConsoleSession, error) {
	var cs central.ConsoleSession
	err := s.view(ctx, "reading session", func(tx *bbolt.Tx) error {
		if err := get(tx.Bucket(bucketSessions), hash, &cs); err != nil {
			return err
		}
		if !now.Before(cs.ExpiresAt) {
			return central.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return central.ConsoleSession{}, err
	}
	return cs, nil
}

// UserSessions implements central.Store. It reads the whole bucket: it
// holds only the live sessions of the console's few users (PutSession
// drops the expired ones).
func (s *Store) UserSessions(ctx context.Context, user string, now time.Time) ([]central.ConsoleSession, error) {
	var out []central.ConsoleSession
	err := s.view(ctx, "listing sessions", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).ForEach(func(_, v []byte) error {
			var o central.ConsoleSession
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			if o.User == user && now.Before(o.ExpiresAt) {
				out = append(out, o)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b central.ConsoleSession) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), bytes.Compare(a.Hash, b.Hash))
	})
	return out, nil
}

// TouchSession implements central.Store.
func (s *Store) TouchSession(ctx context.Context, hash []byte, seenAt time.Time) error {
	return s.update(ctx, "renewing session", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var cs central.ConsoleSession
		if err := get(b, hash, &cs); err != nil {
			return err
		}
		cs.SeenAt = seenAt
		return put(b, hash, cs)
	})
}

// DeleteSession implements central.Store.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	return s.update(ctx, "ending session", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).Delete(hash)
	})
}

// DeleteSessions implements central.Store.
func (s *Store) DeleteSessions(ctx context.Context, user string) error {
	return s.update(ctx, "ending sessions", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var del [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var o central.ConsoleSession
			if err := json.Unmarshal(v, &o); err != nil {
				return err
			}
			if o.User == user {
				del = append(del, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range del {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
