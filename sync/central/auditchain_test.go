package central

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// memAudit is an AuditLog held in a slice, to test the chain's checks
// apart from any store (the stores' own chains are tested in storetest).
type memAudit struct {
	anchorSeq  int64
	anchorHash []byte
	events     []AuditEvent
}

func (m *memAudit) AppendAudit(_ context.Context, e AuditEvent) error {
	seq, prev := m.anchorSeq, m.anchorHash
	if n := len(m.events); n > 0 {
		seq, prev = m.events[n-1].Seq, m.events[n-1].Hash
	}
	if err := ChainAudit(&e, seq, prev); err != nil {
		return err
	}
	m.events = append(m.events, e)
	return nil
}

func (m *memAudit) Audit(_ context.Context, f AuditFilter) ([]AuditEvent, error) {
	var out []AuditEvent
	for _, e := range m.events {
		if e.Seq > f.AfterSeq && len(out) < (Filter{Limit: f.Limit}).EffectiveLimit() {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memAudit) DeleteAuditBefore(context.Context, time.Time) (int, error) { return 0, nil }

func (m *memAudit) AuditAnchor(context.Context) (int64, []byte, error) {
	return m.anchorSeq, m.anchorHash, nil
}

func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	fill := func(t *testing.T) *memAudit {
		t.Helper()
		m := &memAudit{}
		for i := range 5 {
			e := AuditEvent{ID: "r" + string(rune('a'+i)), At: at.Add(time.Duration(i) * time.Minute), Actor: "user:ana",
				Action: "decide", Subject: "case:dev/key", Before: json.RawMessage(`{"state":"claimed"}`), After: json.RawMessage(`{"state":"decided"}`)}
			if err := m.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	tests := []struct {
		name    string
		tamper  func(m *memAudit)
		wantSeq int64 // 0: the chain verifies
	}{
		{"untouched", func(*memAudit) {}, 0},
		{"actor changed", func(m *memAudit) { m.events[2].Actor = "user:eve" }, 3},
		{"after state changed", func(m *memAudit) { m.events[3].After = json.RawMessage(`{"state":"open"}`) }, 4},
		{"entry removed", func(m *memAudit) { m.events = append(m.events[:1], m.events[2:]...) }, 2},
		{"entry rehashed alone", func(m *memAudit) {
			m.events[1].Count = 9
			m.events[1].Hash = AuditHash(m.events[1].Prev, m.events[1])
		}, 3},
		{"last entry dropped", func(m *memAudit) { m.events = m.events[:4] }, 0}, // a truncated tail verifies: the count shows it
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := fill(t)
			if m.events[0].At.Nanosecond()%1000 != 0 {
				t.Fatalf("At kept below the microsecond: %v", m.events[0].At)
			}
			tc.tamper(m)
			n, err := VerifyAuditChain(ctx, m)
			var brk *AuditBreak
			switch {
			case tc.wantSeq == 0 && err != nil:
				t.Fatalf("chain does not verify: %v", err)
			case tc.wantSeq == 0 && n != len(m.events):
				t.Fatalf("checked %d of %d", n, len(m.events))
			case tc.wantSeq != 0 && !errors.As(err, &brk):
				t.Fatalf("tampering not found: n=%d err=%v", n, err)
			case tc.wantSeq != 0 && (brk.Seq != tc.wantSeq || !errors.Is(err, ErrAuditChain)):
				t.Fatalf("break at %d (%v), want %d", brk.Seq, err, tc.wantSeq)
			}
		})
	}
}

func TestAuditChainFromAnchor(t *testing.T) {
	m := &memAudit{anchorSeq: 41, anchorHash: []byte("hash of the last entry retention removed")}
	if err := m.AppendAudit(context.Background(), AuditEvent{ID: "x", At: time.Now(), Action: "sweep"}); err != nil {
		t.Fatal(err)
	}
	if m.events[0].Seq != 42 {
		t.Fatalf("seq %d after anchor 41", m.events[0].Seq)
	}
	if n, err := VerifyAuditChain(context.Background(), m); err != nil || n != 1 {
		t.Fatalf("verify from anchor: n=%d err=%v", n, err)
	}
	m.anchorHash = []byte("another")
	if _, err := VerifyAuditChain(context.Background(), m); !errors.Is(err, ErrAuditChain) {
		t.Fatalf("a chain not following its anchor verified: %v", err)
	}
}

func TestChainAuditRefusesBadState(t *testing.T) {
	e := AuditEvent{Before: json.RawMessage(`{"state":`)}
	if err := ChainAudit(&e, 0, nil); err == nil {
		t.Fatal("invalid JSON state accepted")
	}
}

func TestMatchSubject(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"", "case:a/b", true},
		{"case:a/b", "case:a/b", true},
		{"case:", "case:a/b", true},
		{"case:a/", "case:a/b", true},
		{"case:a", "case:a/b", false},
		{"user:", "case:a/b", false},
	} {
		if got := MatchSubject(tc.filter, tc.subject); got != tc.want {
			t.Errorf("MatchSubject(%q, %q) = %v", tc.filter, tc.subject, got)
		}
	}
}
