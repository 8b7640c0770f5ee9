package central

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// ErrAuditChain means the stored audit trail does not verify: an entry was
// changed, removed or inserted outside AppendAudit.
var ErrAuditChain = errors.New("central: audit chain broken")

// AuditHash is the hash of e in the chain after prev: SHA-256 over prev and
// e's JSON with Prev and Hash left out. Stores call it (through ChainAudit)
// inside the transaction that appends e.
func AuditHash(prev []byte, e AuditEvent) []byte {
	e.Prev, e.Hash = nil, nil
	b, err := json.Marshal(e)
	if err != nil {
		// AuditEvent holds only strings, numbers, times and raw JSON
		// checked by ChainAudit: it always encodes.
		panic(fmt.Sprintf("central: encoding an audit event: %v", err))
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(b)
	return h.Sum(nil)
}

// ChainAudit prepares e as the event after (seq, prev): it sets Seq, Prev
// and Hash, and truncates At to the microsecond every store keeps. Before
// and After must be valid JSON (or empty).
func ChainAudit(e *AuditEvent, seq int64, prev []byte) error {
	for _, raw := range []json.RawMessage{e.Before, e.After} {
		if len(raw) > 0 && !json.Valid(raw) {
			return errors.New("central: audit event state is not JSON")
		}
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.sealer != nil {
		after, err := e.sealer.seal(seq, prev, e.At)
		if err != nil {
			return err
		}
		e.After = after
	}
	e.Seq = seq + 1
	e.Prev = bytes.Clone(prev)
	e.Hash = AuditHash(prev, *e)
	if e.sealer != nil {
		e.sealer.sealed(e.Seq, e.Hash)
	}
	return nil
}

// AuditBreak says where the chain broke.
type AuditBreak struct {
	Seq    int64  // the first event that does not verify
	Reason string // what is wrong with it
}

func (b *AuditBreak) Error() string {
	return fmt.Sprintf("%v at entry %d: %s", ErrAuditChain, b.Seq, b.Reason)
}

func (b *AuditBreak) Unwrap() error { return ErrAuditChain }

// AuditCheck is what VerifyAuditChain found.
type AuditCheck struct {
	Events int // events checked
	// Checkpoints is how many checkpoints were checked; LastCheckpoint and
	// LastCheckpointAt are the Seq and time of the newest (0 and zero when
	// none). Events after it are held by the hash chain alone: whoever can
	// write the store could remove them, or rewrite them and recompute
	// their hashes, without a trace in the store.
	Checkpoints      int
	LastCheckpoint   int64
	LastCheckpointAt time.Time
	// MissingCheckpoints is set when events span more than
	// AuditCheckpointGap without a checkpoint after them: checkpoints were
	// removed (a store writer rebuilt the chain without them) or central
	// stopped writing them. VerifyAuditChain then returns an *AuditBreak
	// at the first such event.
	MissingCheckpoints bool
}

// AuditCheckpointGap is how long a run of events may span with no
// checkpoint after it: central writes one hourly (DefaultSweepEvery) when
// the trail grew, so an honest run spans about an hour. Events before the
// first checkpoint are not judged once one exists (a trail from a release
// before checkpoints); a trail with none at all is judged as one run, so a
// fresh trail younger than the gap is fine and a trail older than it is
// reported until central's first checkpoint (written at start) seals it.
// Spans are measured between events, not to the clock, and a pause
// longer than the gap between two events ends a run's segment, so a
// central stopped for days is not taken for missing checkpoints; a store
// writer stripping checkpoints from a trail that quiet goes unnoticed.
const AuditCheckpointGap = 6 * DefaultSweepEvery

// VerifyAuditChain walks the whole stored trail from its anchor (a later
// one when retention moves it during the walk) and checks every link, and
// every checkpoint's signature under key (nil: checkpoints are not
// checked, nor whether they are missing). It returns what it checked, and
// an *AuditBreak (errors.Is ErrAuditChain) naming the first bad event, or
// the first event left unsealed longer than AuditCheckpointGap
// (AuditCheck.MissingCheckpoints).
func VerifyAuditChain(ctx context.Context, log AuditLog, key ed25519.PublicKey) (AuditCheck, error) {
	var c AuditCheck
	var run unsealedRun
	var missing int64 // first event of a run too long, judged
	seq, prev, err := log.AuditAnchor(ctx)
	if err != nil {
		return c, fmt.Errorf("reading the audit anchor: %w", err)
	}
	for {
		page, err := log.Audit(ctx, AuditFilter{AfterSeq: seq, Limit: MaxListLimit})
		if err != nil {
			return c, fmt.Errorf("reading the audit trail: %w", err)
		}
		if len(page) > 0 && page[0].Seq != seq+1 {
			// Retention (a sweep of this instance, or another's on a
			// shared store) may have deleted the trail's start past where
			// this walk is since it read the anchor: the chain then goes
			// on from the new anchor, as a walk started now would.
			aseq, ahash, err := log.AuditAnchor(ctx)
			if err != nil {
				return c, fmt.Errorf("reading the audit anchor: %w", err)
			}
			if aseq > seq {
				seq, prev = aseq, ahash
				continue
			}
		}
		for _, e := range page {
			switch {
			case e.Seq != seq+1:
				return c, &AuditBreak{Seq: seq + 1, Reason: fmt.Sprintf("entry missing (next stored is %d)", e.Seq)}
			case !bytes.Equal(e.Prev, prev):
				return c, &AuditBreak{Seq: e.Seq, Reason: "does not follow the entry before it"}
			case !bytes.Equal(e.Hash, AuditHash(prev, e)):
				return c, &AuditBreak{Seq: e.Seq, Reason: "its content does not match its hash"}
			}
			if e.Action == AuditCheckpoint && key != nil {
				if reason := checkCheckpoint(key, seq, prev, e); reason != "" {
					return c, &AuditBreak{Seq: e.Seq, Reason: reason}
				}
				if c.Checkpoints > 0 && missing == 0 {
					missing = run.long
				}
				run = unsealedRun{}
				c.Checkpoints++
				c.LastCheckpoint, c.LastCheckpointAt = e.Seq, e.At
			} else {
				run.add(e)
			}
			seq, prev = e.Seq, e.Hash
			c.Events++
		}
		if len(page) < MaxListLimit {
			if key == nil {
				return c, nil
			}
			if missing == 0 {
				missing = run.long
			}
			if missing != 0 {
				c.MissingCheckpoints = true
				return c, &AuditBreak{Seq: missing, Reason: fmt.Sprintf("no checkpoint within %v after it: checkpoints were removed, or none were written", AuditCheckpointGap)}
			}
			return c, nil
		}
	}
}

// unsealedRun is the events after a checkpoint (or the trail's start) up
// to the next one. Events more than AuditCheckpointGap apart start a new
// segment: central was stopped between them (or nothing happened), and
// after a restart events may come before its first checkpoint.
type unsealedRun struct {
	first         int64 // the current segment's first event
	firstAt, last time.Time
	long          int64 // first event of the first segment longer than the gap
}

func (r *unsealedRun) add(e AuditEvent) {
	if r.first != 0 && e.At.Sub(r.last) > AuditCheckpointGap {
		r.first = 0
	}
	if r.first == 0 {
		r.first, r.firstAt = e.Seq, e.At
	}
	r.last = e.At
	if r.long == 0 && r.last.Sub(r.firstAt) > AuditCheckpointGap {
		r.long = r.first
	}
}

// AuditCheckpoint is the action of a checkpoint: an event whose state is
// central's signature over the Seq and Hash of the event before it and its
// own time. The chain alone proves only that its events follow each other:
// whoever can write the store can rewrite one and recompute every hash
// after it. A checkpoint, signed with central's sign key (kept in a file,
// not in the store), cannot be recomputed, so an event changed before it
// breaks the verification. Events after the newest checkpoint are held by
// the chain alone; Serve writes one after each retention sweep (hourly)
// when the trail has grown, and logs it, so a copy of the log witnesses it.
const AuditCheckpoint = "audit_checkpoint"

// checkpointState is a checkpoint's After.
type checkpointState struct {
	Seq  int64  `json:"sealed_seq"`
	Hash []byte `json:"sealed_hash"`
	Key  string `json:"key"` // keyID of the signing key
	Sig  []byte `json:"sig"`
}

// checkpointMessage is what a checkpoint signs.
func checkpointMessage(seq int64, hash []byte, at time.Time) []byte {
	m := []byte("openkyc-audit-checkpoint-v1\n")
	m = binary.BigEndian.AppendUint64(m, uint64(seq))
	m = append(m, hash...)
	return binary.BigEndian.AppendUint64(m, uint64(at.UnixMicro()))
}

// keyID names a public key in a checkpoint.
func keyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// checkCheckpoint tells what is wrong with the checkpoint e that follows
// (seq, prev), "" when nothing is.
func checkCheckpoint(key ed25519.PublicKey, seq int64, prev []byte, e AuditEvent) string {
	var st checkpointState
	switch {
	case json.Unmarshal(e.After, &st) != nil:
		return "checkpoint is not readable"
	case st.Key != keyID(key):
		return "checkpoint signed by another key than central's (" + st.Key + ")"
	case st.Seq != seq || !bytes.Equal(st.Hash, prev):
		return "checkpoint does not name the entry before it"
	case !ed25519.Verify(key, checkpointMessage(st.Seq, st.Hash, e.At), st.Sig):
		return "checkpoint signature does not verify: the trail before it was changed"
	}
	return ""
}

// ErrNothingToSeal means a checkpoint was not written because the trail
// has not grown since this sealer's last one.
var ErrNothingToSeal = errors.New("central: audit trail unchanged since the last checkpoint")

// auditSealer signs checkpoints. It is called by ChainAudit, in the
// store's transaction, where the event before the checkpoint is known.
type auditSealer struct {
	key ed25519.PrivateKey

	mu       sync.Mutex
	lastSeq  int64 // this sealer's last checkpoint, to skip an unchanged trail
	lastHash []byte
}

func (a *auditSealer) seal(seq int64, prev []byte, at time.Time) (json.RawMessage, error) {
	a.mu.Lock()
	unchanged := a.lastSeq == seq && bytes.Equal(a.lastHash, prev)
	a.mu.Unlock()
	if unchanged {
		return nil, ErrNothingToSeal
	}
	pub := a.key.Public().(ed25519.PublicKey)
	st := checkpointState{Seq: seq, Hash: prev, Key: keyID(pub), Sig: ed25519.Sign(a.key, checkpointMessage(seq, prev, at))}
	return json.Marshal(st)
}

// sealed records the checkpoint just chained (a transaction that then
// fails only costs a checkpoint written again next time).
func (a *auditSealer) sealed(seq int64, hash []byte) {
	a.mu.Lock()
	a.lastSeq, a.lastHash = seq, bytes.Clone(hash)
	a.mu.Unlock()
}

// newCheckpoint is a checkpoint event to append at at, signed by a.
func (a *auditSealer) newCheckpoint(id string, at time.Time) AuditEvent {
	return AuditEvent{ID: id, At: at, Actor: "central", Action: AuditCheckpoint, Subject: "audit", sealer: a}
}

// CheckpointAudit appends a checkpoint signed with central's sign key, and
// logs what it seals: the scheduled retention sweep calls it. It returns
// ErrNothingToSeal when the trail has not grown since this instance's last
// checkpoint (an empty trail included). It first waits, as long as ctx
// lets it, for the first verification of Serve to end: a checkpoint
// written before it (the sweep at start, on PostgreSQL River's leader's
// as on bbolt this instance's) would seal a trail stripped of its
// checkpoints before it was looked at.
func (s *Server) CheckpointAudit(ctx context.Context) error {
	select {
	case <-s.auditWatch.checked:
	case <-ctx.Done():
		return fmt.Errorf("writing an audit checkpoint: waiting for the first verification of the trail: %w", ctx.Err())
	}
	e := s.auditSealer.newCheckpoint(httpx.NewRequestID(), s.cfg.Now())
	if err := s.cfg.Store.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("writing an audit checkpoint: %w", err)
	}
	s.auditSealer.mu.Lock()
	seq, hash := s.auditSealer.lastSeq, s.auditSealer.lastHash
	s.auditSealer.mu.Unlock()
	s.log.LogAttrs(ctx, slog.LevelInfo, "audit checkpoint", slog.Int64("seq", seq), slog.String("hash", hex.EncodeToString(hash)))
	return nil
}

// AuditKey is the public key VerifyAuditChain checks this central's
// checkpoints with.
func (s *Server) AuditKey() ed25519.PublicKey { return s.cfg.SignKey.Public().(ed25519.PublicKey) }

// MatchSubject reports whether subject passes filter (AuditFilter.Subject).
func MatchSubject(filter, subject string) bool {
	if filter == "" || filter == subject {
		return true
	}
	return (strings.HasSuffix(filter, ":") || strings.HasSuffix(filter, "/")) && strings.HasPrefix(subject, filter)
}
