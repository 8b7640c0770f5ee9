package central

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
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
			c, err := VerifyAuditChain(ctx, m, nil)
			n := c.Events
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
	if c, err := VerifyAuditChain(context.Background(), m, nil); err != nil || c.Events != 1 {
		t.Fatalf("verify from anchor: n=%d err=%v", c.Events, err)
	}
	m.anchorHash = []byte("another")
	if _, err := VerifyAuditChain(context.Background(), m, nil); !errors.Is(err, ErrAuditChain) {
		t.Fatalf("a chain not following its anchor verified: %v", err)
	}
}

// TestAuditCheckpoint: whoever can write the store can rewrite an event and
// recompute every hash after it, and the chain alone still verifies; a
// checkpoint signed with central's key cannot be recomputed, so the
// rewrite breaks the verification at the checkpoint.
func TestAuditCheckpoint(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	key, err := GenerateSignKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	fill := func(t *testing.T) *memAudit {
		t.Helper()
		m := &memAudit{}
		sealer := &auditSealer{key: key}
		if err := m.AppendAudit(ctx, sealer.newCheckpoint("c0", at)); !errors.Is(err, ErrNothingToSeal) {
			t.Fatalf("checkpoint of an empty trail: %v, want ErrNothingToSeal", err)
		}
		for i := range 5 {
			if i == 3 {
				if err := m.AppendAudit(ctx, sealer.newCheckpoint("c1", at.Add(time.Hour))); err != nil {
					t.Fatal(err)
				}
				if err := m.AppendAudit(ctx, sealer.newCheckpoint("c2", at.Add(2*time.Hour))); !errors.Is(err, ErrNothingToSeal) {
					t.Fatalf("a second checkpoint of an unchanged trail: %v, want ErrNothingToSeal", err)
				}
			}
			e := AuditEvent{ID: fmt.Sprint("e", i), At: at.Add(time.Duration(i) * time.Minute), Actor: "user:ana", Action: "decide",
				Subject: "case:dev/key", After: json.RawMessage(`{"outcome":"reject"}`)}
			if err := m.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		return m // e0 e1 e2 checkpoint(4) e3 e4
	}
	rehashFrom := func(m *memAudit, i int) { // what a writer of the store can do
		prev := m.events[i-1].Hash
		for j := i; j < len(m.events); j++ {
			m.events[j].Prev = prev
			m.events[j].Hash = AuditHash(prev, m.events[j])
			prev = m.events[j].Hash
		}
	}
	other, _ := GenerateSignKey()
	for _, tc := range []struct {
		name    string
		tamper  func(m *memAudit)
		wantSeq int64 // 0: verifies
	}{
		{"untouched", func(*memAudit) {}, 0},
		{"a reject made an approve before the checkpoint, every hash recomputed", func(m *memAudit) {
			m.events[1].After = json.RawMessage(`{"outcome":"approve"}`)
			rehashFrom(m, 1)
		}, 4},
		{"the same with the checkpoint's sealed hash rewritten too", func(m *memAudit) {
			m.events[1].After = json.RawMessage(`{"outcome":"approve"}`)
			rehashFrom(m, 1)
			var st checkpointState
			if err := json.Unmarshal(m.events[3].After, &st); err != nil {
				t.Fatal(err)
			}
			st.Hash = m.events[2].Hash
			m.events[3].After, _ = json.Marshal(st)
			rehashFrom(m, 3)
		}, 4},
		{"a checkpoint signed by another key", func(m *memAudit) {
			m.events = m.events[:3]
			if err := m.AppendAudit(ctx, (&auditSealer{key: other}).newCheckpoint("x", at)); err != nil {
				t.Fatal(err)
			}
		}, 4},
		{"after the checkpoint: held by the chain alone", func(m *memAudit) {
			m.events[4].After = json.RawMessage(`{"outcome":"approve"}`)
			rehashFrom(m, 4)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fill(t)
			if _, err := VerifyAuditChain(ctx, m, nil); err != nil {
				t.Fatalf("the chain alone: %v", err)
			}
			tc.tamper(m)
			if _, err := VerifyAuditChain(ctx, m, nil); err != nil {
				t.Fatalf("the chain alone does not verify after the tampering (the test's rehash is wrong): %v", err)
			}
			c, err := VerifyAuditChain(ctx, m, pub)
			var brk *AuditBreak
			switch {
			case tc.wantSeq == 0 && err != nil:
				t.Fatalf("does not verify: %v", err)
			case tc.wantSeq == 0 && (c.Checkpoints != 1 || c.LastCheckpoint != 4 || !c.LastCheckpointAt.Equal(at.Add(time.Hour)) || c.Events != 6):
				t.Fatalf("checked %+v, want 6 events and checkpoint 4 at %v", c, at.Add(time.Hour))
			case tc.wantSeq != 0 && !errors.As(err, &brk):
				t.Fatalf("tampering not found: %+v %v", c, err)
			case tc.wantSeq != 0 && brk.Seq != tc.wantSeq:
				t.Fatalf("break at %d (%v), want %d", brk.Seq, err, tc.wantSeq)
			}
		})
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

// TestAuditMissingCheckpoints checks which trails VerifyAuditChain takes
// for ones stripped of their checkpoints (AuditCheck.MissingCheckpoints).
func TestAuditMissingCheckpoints(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	key, err := GenerateSignKey()
	if err != nil {
		t.Fatal(err)
	}
	// A trail is written as steps: "e<hours>" an event at that hour, "c" a
	// checkpoint after the last one.
	for _, tc := range []struct {
		name        string
		steps       []string
		wantMissing int64 // 0: verifies
	}{
		{"fresh, younger than the gap", []string{"e0", "e2", "e5"}, 0},
		{"no checkpoint, older than the gap", []string{"e0", "e2", "e4", "e7"}, 1},
		{"upgraded: events before the first checkpoint", []string{"e0", "e3", "e6", "e9", "c", "e10", "c", "e11"}, 0},
		{"checkpoints removed after the first", []string{"e0", "c", "e1", "e3", "e5", "e8"}, 3},
		{"the same, sealed again later", []string{"e0", "c", "e1", "e3", "e5", "e8", "c", "e9", "c"}, 3},
		{"stopped for days between two checkpoints", []string{"e0", "c", "e1", "e80", "e81", "c"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &memAudit{}
			sealer := &auditSealer{key: key}
			var last time.Time
			for _, step := range tc.steps {
				e := sealer.newCheckpoint("c", last)
				if step != "c" {
					var h int
					fmt.Sscanf(step, "e%d", &h)
					last = at.Add(time.Duration(h) * time.Hour)
					e = AuditEvent{ID: step, At: last, Actor: "user:ana", Action: "decide"}
				}
				if err := m.AppendAudit(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			c, err := VerifyAuditChain(ctx, m, key.Public().(ed25519.PublicKey))
			var brk *AuditBreak
			switch {
			case tc.wantMissing == 0 && (err != nil || c.MissingCheckpoints):
				t.Fatalf("%+v, %v; want verified", c, err)
			case tc.wantMissing != 0 && (!errors.As(err, &brk) || brk.Seq != tc.wantMissing || !c.MissingCheckpoints):
				t.Fatalf("%+v, %v; want missing checkpoints from %d", c, err, tc.wantMissing)
			}
			if _, err := VerifyAuditChain(ctx, m, nil); err != nil {
				t.Fatalf("without a key (checkpoints not checked): %v", err)
			}
		})
	}
}
