package boltstore

import (
	"context"
	"errors"
	"io"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// bucketWLProposals holds the pending watchlist proposals
// (central.WatchlistProposals) by list name; their bytes are an upload's
// chunks in bucketWLChunks, as a published version's are.
var bucketWLProposals = []byte("watchlist-proposals")

// wlProposalRecord is a pending proposal and the upload of its bytes.
type wlProposalRecord struct {
	central.WatchlistProposal
	Upload string `json:"upload"`
}

// ProposeWatchlist implements central.Store: another proposer's pending
// proposal refuses it before r is read, so a refused proposal writes
// nothing; otherwise the chunks are written as a publish writes them, and
// the proposal recorded in a last transaction, which checks again and
// deletes the upload of the one it replaces.
func (s *Store) ProposeWatchlist(ctx context.Context, p central.WatchlistProposal, r io.Reader, event func(central.WatchlistProposal) (central.AuditEvent, error)) (central.WatchlistProposal, error) {
	err := s.view(ctx, "reading the watchlist proposal", func(tx *bbolt.Tx) error {
		_, err := replaced(tx, p)
		return err
	})
	if err != nil {
		return central.WatchlistProposal{}, err
	}
	upload, size, sum, err := s.writeUpload(ctx, r)
	if err != nil {
		return central.WatchlistProposal{}, err
	}
	p.Size, p.SHA256 = size, sum
	ev, err := event(p)
	if err == nil {
		err = s.update(ctx, "recording the watchlist proposal", func(tx *bbolt.Tx) error {
			old, err := replaced(tx, p)
			if err != nil {
				return err
			}
			if err := deleteUpload(tx, old.Upload); err != nil {
				return err
			}
			if err := put(tx.Bucket(bucketWLProposals), []byte(p.Name), wlProposalRecord{WatchlistProposal: p, Upload: upload}); err != nil {
				return err
			}
			return appendAudit(tx, ev)
		})
	}
	if err != nil {
		_ = s.db.Update(func(tx *bbolt.Tx) error { return deleteUpload(tx, upload) })
		return central.WatchlistProposal{}, err
	}
	return p, nil
}

// replaced is the pending proposal of p.Name that p replaces (zero when
// none is pending): ErrProposalPending when it is another proposer's and
// unexpired at p.At.
func replaced(tx *bbolt.Tx, p central.WatchlistProposal) (wlProposalRecord, error) {
	var old wlProposalRecord
	switch err := get(tx.Bucket(bucketWLProposals), []byte(p.Name), &old); {
	case errors.Is(err, central.ErrNotFound):
		return wlProposalRecord{}, nil
	case err != nil:
		return wlProposalRecord{}, err
	case old.Proposer != p.Proposer && !old.Expired(p.At):
		return wlProposalRecord{}, central.ErrProposalPending
	}
	return old, nil
}

// WatchlistProposals implements central.Store.
func (s *Store) WatchlistProposals(ctx context.Context) ([]central.WatchlistProposal, error) {
	ps := []central.WatchlistProposal{}
	err := s.view(ctx, "reading the watchlist proposals", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketWLProposals).ForEach(func(k, _ []byte) error {
			var r wlProposalRecord
			if err := get(tx.Bucket(bucketWLProposals), k, &r); err != nil {
				return err
			}
			ps = append(ps, r.WatchlistProposal)
			return nil
		})
	})
	return ps, err
}

// pendingWLProposal reads proposal id of name; ErrNotFound when another
// or none is pending.
func pendingWLProposal(tx *bbolt.Tx, name, id string) (wlProposalRecord, error) {
	var r wlProposalRecord
	if err := get(tx.Bucket(bucketWLProposals), []byte(name), &r); err != nil {
		return r, err
	}
	if r.ID != id {
		return r, central.ErrNotFound
	}
	return r, nil
}

// ConfirmWatchlistProposal implements central.Store: the proposal's upload
// becomes the published version's.
func (s *Store) ConfirmWatchlistProposal(ctx context.Context, name, id string, now time.Time, ev central.AuditEvent) (protocol.Watchlist, error) {
	var w protocol.Watchlist
	err := s.update(ctx, "publishing the watchlist proposal", func(tx *bbolt.Tx) error {
		r, err := pendingWLProposal(tx, name, id)
		if err != nil {
			return err
		}
		if r.Expired(now) {
			return central.ErrNotFound
		}
		var cur wlRecord
		if err := get(tx.Bucket(bucketWatchlists), []byte(name), &cur); err != nil && !errors.Is(err, central.ErrNotFound) {
			return err
		}
		if cur.Version != r.Base {
			return central.ErrWatchlistStale
		}
		if w, err = publishUpload(tx, name, r.Upload, r.Size, r.SHA256); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWLProposals).Delete([]byte(name)); err != nil {
			return err
		}
		return appendAudit(tx, ev)
	})
	return w, err
}

// DeleteWatchlistProposal implements central.Store.
func (s *Store) DeleteWatchlistProposal(ctx context.Context, name, id string, ev central.AuditEvent) error {
	return s.update(ctx, "deleting the watchlist proposal", func(tx *bbolt.Tx) error {
		r, err := pendingWLProposal(tx, name, id)
		if err != nil {
			return err
		}
		if err := deleteUpload(tx, r.Upload); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWLProposals).Delete([]byte(name)); err != nil {
			return err
		}
		return appendAudit(tx, ev)
	})
}
