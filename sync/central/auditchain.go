package central

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
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
	e.Seq = seq + 1
	e.Prev = bytes.Clone(prev)
	e.Hash = AuditHash(prev, *e)
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

// VerifyAuditChain walks the whole stored trail from its anchor and checks
// every link. It returns the number of events checked, and an *AuditBreak
// (errors.Is ErrAuditChain) naming the first bad one.
func VerifyAuditChain(ctx context.Context, log AuditLog) (int, error) {
	seq, prev, err := log.AuditAnchor(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the audit anchor: %w", err)
	}
	n := 0
	for {
		page, err := log.Audit(ctx, AuditFilter{AfterSeq: seq, Limit: MaxListLimit})
		if err != nil {
			return n, fmt.Errorf("reading the audit trail: %w", err)
		}
		for _, e := range page {
			switch {
			case e.Seq != seq+1:
				return n, &AuditBreak{Seq: seq + 1, Reason: fmt.Sprintf("entry missing (next stored is %d)", e.Seq)}
			case !bytes.Equal(e.Prev, prev):
				return n, &AuditBreak{Seq: e.Seq, Reason: "does not follow the entry before it"}
			case !bytes.Equal(e.Hash, AuditHash(prev, e)):
				return n, &AuditBreak{Seq: e.Seq, Reason: "its content does not match its hash"}
			}
			seq, prev = e.Seq, e.Hash
			n++
		}
		if len(page) < MaxListLimit {
			return n, nil
		}
	}
}

// MatchSubject reports whether subject passes filter (AuditFilter.Subject).
func MatchSubject(filter, subject string) bool {
	if filter == "" || filter == subject {
		return true
	}
	return (strings.HasSuffix(filter, ":") || strings.HasSuffix(filter, "/")) && strings.HasPrefix(subject, filter)
}
