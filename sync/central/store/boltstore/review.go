package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// The review queue is a bucket of compact entries, one per complete
// submission, keyed by received time then submission: oldest-first paging
// is a cursor walk, and counting every match (the queue's total) reads
// only these entries, compared in place without decoding JSON or
// allocating. Only the page's cases are read whole. A filter of states
// and decisions alone (the console's queue unfiltered) is not counted
// that way: review-queue-n counts the entries by state and decision,
// kept in the transaction that writes them, so its total costs a few
// reads whatever the queue holds.

// Fields of a queue entry, in order, each a uvarint length and bytes.
const (
	qState = iota
	qDecision
	qDocType
	qCountry
	qAssignee
	qReasons // the reason codes joined by NUL
	qFields
)

func encodeQueue(sum *central.Summary, rv central.Review) []byte {
	var s central.Summary
	if sum != nil {
		s = *sum
	}
	state := string(rv.State)
	if state == "" {
		state = string(central.ReviewOpen)
	}
	fields := [qFields]string{state, s.Decision, s.DocType, s.Country, rv.Assignee, strings.Join(s.Reasons, "\x00")}
	var out []byte
	for _, f := range fields {
		out = binary.AppendUvarint(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

// decodeQueue splits an entry into its fields (sub-slices of v).
func decodeQueue(v []byte, out *[qFields][]byte) bool {
	for i := range qFields {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return false
		}
		out[i] = v[w : w+int(n)]
		v = v[w+int(n):]
	}
	return true
}

// putQueue records (or rewrites) the queue entry of the complete
// submission k.
func putQueue(tx *bbolt.Tx, k []byte, sub *central.Submission, rv central.Review) error {
	q, qk := tx.Bucket(bucketQueue), dueKey(sub.ReceivedAt, k)
	if old := q.Get(qk); old != nil {
		if err := countQueue(tx, old, -1); err != nil {
			return err
		}
	}
	v := encodeQueue(sub.Summary, rv)
	if err := q.Put(qk, v); err != nil {
		return err
	}
	return countQueue(tx, v, 1)
}

// countQueue adds by to the count of queue entry v's state and decision.
func countQueue(tx *bbolt.Tx, v []byte, by int64) error {
	var e [qFields][]byte
	if !decodeQueue(v, &e) {
		return errors.New("a malformed review queue entry")
	}
	b, ck := tx.Bucket(bucketQueueN), queueCountKey(e[qState], e[qDecision])
	var n uint64
	if c := b.Get(ck); len(c) == 8 {
		n = binary.BigEndian.Uint64(c)
	}
	// Never below zero: a count an older build's writes left short must
	// not stop a deletion (an erasure) with an error.
	n = uint64(max(int64(n)+by, 0))
	if n == 0 {
		return b.Delete(ck)
	}
	return b.Put(ck, binary.BigEndian.AppendUint64(nil, n))
}

func queueCountKey(state, decision []byte) []byte {
	return slices.Concat(state, []byte{0}, decision)
}

// countReviewQueue counts the review queue of a file from before
// review-queue-n, once.
func countReviewQueue(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyReviewQN) != nil {
		return nil
	}
	// Whatever is there was counted by an older build's putQueue, which
	// did not: start from nothing.
	if err := tx.DeleteBucket(bucketQueueN); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketQueueN); err != nil {
		return err
	}
	err := tx.Bucket(bucketQueue).ForEach(func(_, v []byte) error { return countQueue(tx, v, 1) })
	if err != nil {
		return err
	}
	return meta.Put(keyReviewQN, []byte("1"))
}

// countedTotal is how many queue entries match f from review-queue-n;
// ok is false if f filters by more than states and decisions.
func countedTotal(tx *bbolt.Tx, f *central.QueueFilter) (total int, ok bool) {
	if f.Reason != "" || len(f.DeviceIDs) > 0 || f.DocType != "" || f.Country != "" || f.Assignee != "" ||
		!f.ReceivedAfter.IsZero() || !f.ReceivedBefore.IsZero() || len(f.Tokens) > 0 {
		return 0, false
	}
	c := tx.Bucket(bucketQueueN).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		state, decision, _ := bytes.Cut(k, []byte{0})
		if (len(f.States) == 0 || containsBytes(f.States, state)) &&
			(len(f.Decisions) == 0 || containsBytes(f.Decisions, decision)) && len(v) == 8 {
			total += int(binary.BigEndian.Uint64(v))
		}
	}
	return total, true
}

func loadReview(tx *bbolt.Tx, k []byte) (central.Review, error) {
	var rv central.Review
	if err := get(tx.Bucket(bucketReviews), k, &rv); err != nil && !errors.Is(err, central.ErrNotFound) {
		return rv, err
	}
	return rv, nil
}

// deleteReview removes a submission's queue entry, review and change,
// and what retention held of it.
func deleteReview(tx *bbolt.Tx, k []byte, sub *central.Submission) error {
	q, qk := tx.Bucket(bucketQueue), dueKey(sub.ReceivedAt, k)
	if old := q.Get(qk); old != nil {
		if err := countQueue(tx, old, -1); err != nil {
			return err
		}
		if err := q.Delete(qk); err != nil {
			return err
		}
	}
	rv, err := loadReview(tx, k)
	if err != nil {
		return err
	}
	if rv.Seq != 0 {
		if err := tx.Bucket(bucketReviewSeq).Delete(seqKey(rv.Seq)); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketRetentionHeld).Delete(k); err != nil {
		return err
	}
	return tx.Bucket(bucketReviews).Delete(k)
}

// fillReviewQueue puts the complete submissions of a file from before the
// review queue existed into it, once.
func fillReviewQueue(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyReviewQ) != nil {
		return nil
	}
	err := tx.Bucket(bucketSubs).ForEach(func(k, v []byte) error {
		var sub central.Submission
		if err := json.Unmarshal(v, &sub); err != nil {
			return err
		}
		if sub.CompletedAt.IsZero() {
			return nil
		}
		rv, err := loadReview(tx, k)
		if err != nil {
			return err
		}
		return putQueue(tx, k, &sub, rv)
	})
	if err != nil {
		return err
	}
	return meta.Put(keyReviewQ, []byte("1"))
}

// loadCase reads the case of submission k.
func loadCase(tx *bbolt.Tx, k []byte) (central.Case, error) {
	var sub central.Submission
	if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
		return central.Case{}, err
	}
	rv, err := loadReview(tx, k)
	if err != nil {
		return central.Case{}, err
	}
	seal, err := loadSeal(tx, k)
	if err != nil {
		return central.Case{}, err
	}
	c := makeCase(&sub, rv, seal)
	c.CompletedSeq = completedSeq(tx, k)
	return c, nil
}

func makeCase(sub *central.Submission, rv central.Review, seal *central.Seal) central.Case {
	c := central.Case{
		Ref: central.SubmissionRef{DeviceID: sub.DeviceID, Key: sub.Key}, ID: sub.ID,
		CreatedAt: sub.CreatedAt, ReceivedAt: sub.ReceivedAt, CompletedAt: sub.CompletedAt,
		Verdict: sub.Verdict, Fresh: sub.AttestationFresh, Review: rv,
	}
	if sub.Summary != nil {
		c.Summary = *sub.Summary
	}
	if seal != nil {
		c.Seal = &central.Seal{KeyID: seal.KeyID, Key: seal.Key}
	}
	return c
}

// queueMatcher is a QueueFilter prepared for comparing entries in place.
type queueMatcher struct {
	f       central.QueueFilter
	devices map[string]struct{}
	tokens  map[string]struct{} // submissions carrying the first token
	index   *bbolt.Bucket
}

func (m *queueMatcher) match(k, v []byte) bool {
	sk := k[8:]
	if len(m.f.Tokens) > 0 {
		if _, ok := m.tokens[string(sk)]; !ok {
			return false
		}
		for _, t := range m.f.Tokens[1:] {
			if m.index.Get(indexKey(t, sk)) == nil {
				return false
			}
		}
	}
	if m.devices != nil {
		dev, _, _ := bytes.Cut(sk, []byte{0})
		if _, ok := m.devices[string(dev)]; !ok {
			return false
		}
	}
	var e [qFields][]byte
	if !decodeQueue(v, &e) {
		return false
	}
	f := &m.f
	if len(f.States) > 0 && !containsBytes(f.States, e[qState]) ||
		len(f.Decisions) > 0 && !containsBytes(f.Decisions, e[qDecision]) ||
		f.DocType != "" && string(e[qDocType]) != f.DocType ||
		f.Country != "" && string(e[qCountry]) != f.Country ||
		f.Assignee != "" && string(e[qAssignee]) != f.Assignee {
		return false
	}
	if f.Reason != "" {
		found := false
		for r := e[qReasons]; len(r) > 0 && !found; {
			var code []byte
			code, r, _ = bytes.Cut(r, []byte{0})
			found = string(code) == f.Reason
		}
		if !found {
			return false
		}
	}
	return true
}

func containsBytes[S ~string](list []S, b []byte) bool {
	for _, s := range list {
		if string(b) == string(s) {
			return true
		}
	}
	return false
}

// queueLimit is f.Limit clamped to 1..MaxListLimit.
func queueLimit(limit int) int {
	return central.Filter{Limit: limit}.EffectiveLimit()
}

// Queue implements central.Store.
func (s *Store) Queue(ctx context.Context, f central.QueueFilter) ([]central.Case, int, error) {
	var out []central.Case
	total := 0
	limit, offset := queueLimit(f.Limit), max(f.Offset, 0)
	if f.After != nil {
		offset = 0
	}
	err := s.view(ctx, "listing the review queue", func(tx *bbolt.Tx) error {
		out, total = nil, 0
		// Counted from review-queue-n, the walk stops at the page.
		counted := false
		if !f.Uncounted && f.After == nil {
			total, counted = countedTotal(tx, &f)
		}
		seen := 0
		m := &queueMatcher{f: f, index: tx.Bucket(bucketIndex)}
		if len(f.DeviceIDs) > 0 {
			m.devices = make(map[string]struct{}, len(f.DeviceIDs))
			for _, d := range f.DeviceIDs {
				m.devices[d] = struct{}{}
			}
		}
		if len(f.Tokens) > 0 {
			m.tokens = map[string]struct{}{}
			c := m.index.Cursor()
			for k, _ := c.Seek(f.Tokens[0]); k != nil && bytes.HasPrefix(k, f.Tokens[0]); k, _ = c.Next() {
				m.tokens[string(k[len(f.Tokens[0]):])] = struct{}{}
			}
			if len(m.tokens) == 0 {
				return nil
			}
		}
		var lo, hi []byte
		if !f.ReceivedAfter.IsZero() {
			lo = binary.BigEndian.AppendUint64(nil, uint64(f.ReceivedAfter.UnixNano()))
		}
		if !f.ReceivedBefore.IsZero() {
			hi = binary.BigEndian.AppendUint64(nil, uint64(f.ReceivedBefore.UnixNano()))
		}
		// A page after f.After starts from its entry rather than a bound
		// (entries sort as the listing does: received time, device, key).
		from, to := lo, hi
		var after []byte
		if f.After != nil {
			after = dueKey(f.After.ReceivedAt, subKey(f.After.Ref.DeviceID, f.After.Ref.Key))
			if f.Newest && (to == nil || bytes.Compare(after, to) < 0) {
				to = after
			} else if !f.Newest && (from == nil || bytes.Compare(after, from) >= 0) {
				from = after
			}
		}
		c := tx.Bucket(bucketQueue).Cursor()
		var k, v []byte
		next := c.Next
		switch {
		case m.tokens != nil:
			// A search by person walks the person's few cases, not the
			// queue; the loop below bounds them.
			var err error
			if k, v, next, err = tokenCases(tx, m.tokens, f.Newest); err != nil {
				return err
			}
		case !f.Newest && from != nil:
			if k, v = c.Seek(from); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		case !f.Newest:
			k, v = c.First()
		default:
			next = c.Prev
			if to != nil {
				if k, _ = c.Seek(to); k != nil {
					k, v = c.Prev()
				} else {
					k, v = c.Last()
				}
			} else {
				k, v = c.Last()
			}
		}
		var page [][]byte
		for ; k != nil && (after == nil || len(page) < limit); k, v = next() {
			if hi != nil && bytes.Compare(k[:8], hi) >= 0 {
				if f.Newest {
					continue
				}
				break
			}
			if lo != nil && bytes.Compare(k[:8], lo) < 0 {
				if f.Newest {
					break
				}
				continue
			}
			if after != nil && m.tokens != nil { // tokenCases starts at the first case
				if c := bytes.Compare(k, after); c == 0 || (c < 0) != f.Newest {
					continue
				}
			}
			if !m.match(k, v) {
				continue
			}
			if seen >= offset && len(page) < limit {
				page = append(page, k[8:])
			}
			seen++
			if (f.Uncounted || counted) && len(page) == limit {
				break
			}
		}
		if !counted {
			total = seen
		}
		for _, sk := range page {
			cs, err := loadCase(tx, sk)
			if err != nil {
				return fmt.Errorf("case %q: %w", sk, err)
			}
			out = append(out, cs)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if f.Uncounted || f.After != nil {
		total = -1 // not counted past the page
	}
	return out, total, nil
}

// tokenCases returns the first queue entry of the complete submissions in
// tokens (subKeys), in queue order (reversed for newest), and a function
// giving the next ones, as a cursor over the queue would.
func tokenCases(tx *bbolt.Tx, tokens map[string]struct{}, newest bool) (k, v []byte, next func() ([]byte, []byte), err error) {
	queue, subs := tx.Bucket(bucketQueue), tx.Bucket(bucketSubs)
	var keys [][]byte
	for sk := range tokens {
		var sub central.Submission
		if err := get(subs, []byte(sk), &sub); errors.Is(err, central.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, nil, nil, err
		}
		if qk := dueKey(sub.ReceivedAt, []byte(sk)); !sub.CompletedAt.IsZero() && queue.Get(qk) != nil {
			keys = append(keys, qk)
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	if newest {
		slices.Reverse(keys)
	}
	next = func() ([]byte, []byte) {
		if len(keys) == 0 {
			return nil, nil
		}
		k := keys[0]
		keys = keys[1:]
		return k, queue.Get(k)
	}
	k, v = next()
	return k, v, next, nil
}

// Case implements central.Store.
func (s *Store) Case(ctx context.Context, ref central.SubmissionRef) (central.Case, error) {
	var c central.Case
	err := s.view(ctx, "reading case", func(tx *bbolt.Tx) (err error) {
		c, err = loadCase(tx, subKey(ref.DeviceID, ref.Key))
		return err
	})
	return c, err
}

// UpdateReview implements central.Store. fn runs inside the write
// transaction, so it must not call the store.
func (s *Store) UpdateReview(ctx context.Context, ref central.SubmissionRef, fn func(central.Case) (central.Review, central.AuditEvent, error)) (central.Case, error) {
	var out central.Case
	var fnErr error
	err := s.update(ctx, "updating review", func(tx *bbolt.Tx) error {
		k := subKey(ref.DeviceID, ref.Key)
		var sub central.Submission
		if err := get(tx.Bucket(bucketSubs), k, &sub); err != nil {
			return err
		}
		old, err := loadReview(tx, k)
		if err != nil {
			return err
		}
		seal, err := loadSeal(tx, k)
		if err != nil {
			return err
		}
		c := makeCase(&sub, old, seal)
		c.CompletedSeq = completedSeq(tx, k)
		rv, ev, err := fn(c)
		if err != nil {
			fnErr = err
			return err
		}
		seq, err := tx.Bucket(bucketReviewSeq).NextSequence()
		if err != nil {
			return err
		}
		rv.Version, rv.Seq = old.Version+1, int64(seq)
		if old.Seq != 0 {
			if err := tx.Bucket(bucketReviewSeq).Delete(seqKey(old.Seq)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketReviewSeq).Put(seqKey(rv.Seq), k); err != nil {
			return err
		}
		if err := put(tx.Bucket(bucketReviews), k, rv); err != nil {
			return err
		}
		if !sub.CompletedAt.IsZero() {
			if err := putQueue(tx, k, &sub, rv); err != nil {
				return err
			}
		}
		if err := appendAudit(tx, ev); err != nil {
			return err
		}
		c.Review = rv
		out = c
		return nil
	})
	if fnErr != nil {
		return central.Case{}, fnErr
	}
	if err != nil {
		return central.Case{}, err
	}
	return out, nil
}

// ReviewChanges implements central.Store: the changes bucket holds each
// review's last change by its seq.
func (s *Store) ReviewChanges(ctx context.Context, deviceID string, after int64, limit int) ([]central.ReviewChange, error) {
	var out []central.ReviewChange
	limit = queueLimit(limit)
	prefix := []byte(deviceID + "\x00")
	err := s.view(ctx, "listing review changes", func(tx *bbolt.Tx) error {
		out = nil
		c := tx.Bucket(bucketReviewSeq).Cursor()
		for k, v := c.Seek(seqKey(max(after, 0) + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if deviceID != "" && !bytes.HasPrefix(v, prefix) {
				continue
			}
			cs, err := loadCase(tx, v)
			if err != nil {
				return err
			}
			out = append(out, central.ReviewChange{Ref: cs.Ref, ID: cs.ID, Review: cs.Review, Seal: cs.Seal})
		}
		return nil
	})
	return out, err
}

// The log of completions: each submission gets the next completed seq in
// the transaction that completes it (BeginSubmission without images, the
// AppendChunk of its last byte, retention closing its upload), so a
// follower of Completed never misses one (bbolt has one writer at a time:
// seqs commit in order).

// logCompleted gives the complete submission k the next completed seq.
func logCompleted(tx *bbolt.Tx, k []byte) error {
	if tx.Bucket(bucketCompletedSeq).Get(k) != nil {
		return nil
	}
	seq, err := tx.Bucket(bucketCompleted).NextSequence()
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketCompleted).Put(seqKey(int64(seq)), k); err != nil {
		return err
	}
	return tx.Bucket(bucketCompletedSeq).Put(k, seqKey(int64(seq)))
}

// unlogCompleted removes submission k from the log (it is deleted).
func unlogCompleted(tx *bbolt.Tx, k []byte) error {
	v := tx.Bucket(bucketCompletedSeq).Get(k)
	if v == nil {
		return nil
	}
	if err := tx.Bucket(bucketCompleted).Delete(bytes.Clone(v)); err != nil {
		return err
	}
	return tx.Bucket(bucketCompletedSeq).Delete(k)
}

// completedSeq is submission k's completed seq, 0 if it has none.
func completedSeq(tx *bbolt.Tx, k []byte) int64 {
	v := tx.Bucket(bucketCompletedSeq).Get(k)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// fillCompletedLog numbers the complete submissions of a file from before
// the log existed, in received order (the review queue's order: it holds
// exactly the complete submissions), once.
func fillCompletedLog(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyCompleted) != nil {
		return nil
	}
	err := tx.Bucket(bucketQueue).ForEach(func(k, _ []byte) error {
		return logCompleted(tx, bytes.Clone(k[8:]))
	})
	if err != nil {
		return err
	}
	return meta.Put(keyCompleted, []byte("1"))
}

// Completed implements central.Store.
func (s *Store) Completed(ctx context.Context, after int64, limit int) ([]central.Case, error) {
	var out []central.Case
	limit = queueLimit(limit)
	err := s.view(ctx, "listing completed submissions", func(tx *bbolt.Tx) error {
		out = nil
		c := tx.Bucket(bucketCompleted).Cursor()
		for k, v := c.Seek(seqKey(max(after, 0) + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			cs, err := loadCase(tx, v)
			if err != nil {
				return fmt.Errorf("case %q: %w", v, err)
			}
			out = append(out, cs)
		}
		return nil
	})
	return out, err
}
