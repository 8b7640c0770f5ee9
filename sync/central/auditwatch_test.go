package central_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
)

// TestAuditVerifiedAtStart checks that central verifies the audit trail
// in a real bbolt file when it starts, before its start checkpoint seals
// what is there: the trail is written (and changed behind the store's
// back) while central is stopped, and the start after reports it in
// kyc_central_audit_chain_ok, the error log and an audit_chain_broken
// event.
func TestAuditVerifiedAtStart(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	now := t0.Add(20 * time.Hour)
	hourly := func(from, n int) func(t *testing.T, s central.Store) {
		return func(t *testing.T, s central.Store) {
			t.Helper()
			for i := from; i < from+n; i++ {
				e := central.AuditEvent{ID: fmt.Sprint("e", i), At: t0.Add(time.Duration(i) * time.Hour), Actor: "user:ana", Action: "decide", Subject: "case:dev/key"}
				if err := s.AppendAudit(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, test := range []struct {
		name  string
		trail func(t *testing.T, s central.Store) // before the first start
		// between is done while central is stopped after its first start;
		// nil: only one start.
		between func(t *testing.T, path string)
		wantOK  bool
	}{
		{"fresh trail", hourly(0, 3), nil, true},
		{"no checkpoint at all", hourly(0, 10), nil, false},
		{"upgraded: events from before checkpoints, sealed at the first start", hourly(0, 10), func(*testing.T, string) {}, true},
		{"sealed, then altered while stopped", hourly(0, 3), bumpCount(2), false},
		// A store writer dropping the checkpoints after the first rebuilds
		// the chain as appends after it.
		{"checkpoints after the first removed", hourly(0, 3), func(t *testing.T, path string) {
			s, err := boltstore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hourly(3, 8)(t, s)
		}, false},
	} {
		t.Run(test.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "central.db")
			key, err := central.GenerateSignKey()
			if err != nil {
				t.Fatal(err)
			}
			run := func(now time.Time) *tc {
				s, err := boltstore.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				c := start(t, central.Config{Store: s, SignKey: key, Now: func() time.Time { return now }})
				waitAuditVerified(t, c)
				return c
			}
			s, err := boltstore.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			test.trail(t, s)
			s.Close()
			c := run(now)
			if test.between != nil {
				waitCheckpointed(t, c)
				c.stop()
				c.Cfg.Store.Close()
				test.between(t, path)
				now = now.Add(time.Hour) // tells this start's reports from the first's
				c = run(now)
			}
			ok := auditGauge(t, c, "kyc_central_audit_chain_ok")
			broken := 0
			evs, err := c.Cfg.Store.Audit(context.Background(), central.AuditFilter{Action: central.AuditChainBroken})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.At.Equal(now) {
					broken++
				}
			}
			logged := len(logLines(t, c.Log, "audit chain does not verify"))
			if test.wantOK && (ok != 1 || broken != 0 || logged != 0) {
				t.Errorf("kyc_central_audit_chain_ok = %v, %d audit_chain_broken events, %d error logs; want 1, none", ok, broken, logged)
			}
			if !test.wantOK && (ok != 0 || broken != 1 || logged != 1) {
				t.Errorf("kyc_central_audit_chain_ok = %v, %d audit_chain_broken events, %d error logs; want 0, one, one", ok, broken, logged)
			}
		})
	}
}

// waitAuditVerified waits for c's first audit verification.
func waitAuditVerified(t *testing.T, c *tc) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); auditGauge(t, c, "kyc_central_audit_chain_verified_timestamp_seconds") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the audit chain was not verified at start")
		}
		time.Sleep(10 * time.Millisecond) // paces the poll of a condition: never a guess at how long it takes
	}
}

// waitCheckpointed waits for c's start checkpoint.
func waitCheckpointed(t *testing.T, c *tc) {
	t.Helper()
	// The sleep paces the poll of a condition, bounded by a hang's deadline.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		evs, err := c.Cfg.Store.Audit(context.Background(), central.AuditFilter{Action: central.AuditCheckpoint})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after the first start")
		}
	}
}

// bumpCount changes the event seq in the closed bbolt file at path, as a
// writer of the file would.
func bumpCount(seq int64) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		bumpCountIn(t, path, seq)
	}
}

func bumpCountIn(t *testing.T, path string, seq int64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit-chain"))
		k := binary.BigEndian.AppendUint64(nil, uint64(seq))
		var r map[string]any
		if err := json.Unmarshal(b.Get(k), &r); err != nil {
			return err
		}
		r["count"] = 7
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// auditGauge reads the unlabelled gauge name from c's registry.
func auditGauge(t *testing.T, c *tc, name string) float64 {
	t.Helper()
	mfs, err := c.Server.Registerer().(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// sweptMidWalk is a store whose audit trail loses its oldest events to
// retention (as to a sweep of another instance on the same PostgreSQL)
// just after a verification read the anchor, before it read the trail.
type sweptMidWalk struct {
	central.Store
	before time.Time
	swept  sync.Once
}

func (s *sweptMidWalk) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	var err error
	s.swept.Do(func() { _, err = s.Store.DeleteAuditBefore(ctx, s.before) })
	if err != nil {
		return nil, err
	}
	return s.Store.Audit(ctx, f)
}

// TestAuditVerifiedDuringRetention: a verification that retention
// overtakes, deleting the trail's start after the walk read the anchor,
// goes on from the new anchor on both stores instead of reporting the
// deleted events as missing; a gap the anchor does not explain is still a
// break.
func TestAuditVerifiedDuringRetention(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			for i := range 10 {
				e := central.AuditEvent{ID: fmt.Sprint("e", i), At: t0.Add(time.Duration(i) * time.Minute), Actor: "user:ana", Action: "decide", Subject: "case:dev/key"}
				if err := s.AppendAudit(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			c, err := central.VerifyAuditChain(ctx, &sweptMidWalk{Store: s, before: t0.Add(4 * time.Minute)}, nil)
			if err != nil || c.Events != 6 {
				t.Errorf("verified while retention deleted 4 events: %d events, %v; want 6, nil", c.Events, err)
			}
			// The anchor stays; events after it are gone: a break.
			_, err = central.VerifyAuditChain(ctx, &skipping{Store: s, from: 7}, nil)
			if brk, ok := errors.AsType[*central.AuditBreak](err); !ok || brk.Seq != 5 {
				t.Errorf("a gap after the anchor: %v, want a break at 5", err)
			}
		})
	}
}

// skipping is a store whose trail reads as if the events after the anchor
// and before from were deleted behind central's back, the anchor left as
// it was.
type skipping struct {
	central.Store
	from int64
}

func (s *skipping) Audit(ctx context.Context, f central.AuditFilter) ([]central.AuditEvent, error) {
	f.AfterSeq = max(f.AfterSeq, s.from-1)
	return s.Store.Audit(ctx, f)
}

// TestCheckpointAfterFirstCheck: a checkpoint asked for before central's
// first verification of the trail (on PostgreSQL the sweep River's leader
// runs at start, whether or not this instance verified yet) waits for it,
// so a trail stripped of every checkpoint while central was stopped is
// reported, not sealed unseen; on both stores.
func TestCheckpointAfterFirstCheck(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			for i := range 10 { // hourly, none sealed: longer than AuditCheckpointGap
				e := central.AuditEvent{ID: fmt.Sprint("e", i), At: t0.Add(time.Duration(i) * time.Hour), Actor: "user:ana", Action: "decide", Subject: "case:dev/key"}
				if err := s.AppendAudit(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			box, err := central.GenerateBoxKey()
			if err != nil {
				t.Fatal(err)
			}
			sign, err := central.GenerateSignKey()
			if err != nil {
				t.Fatal(err)
			}
			srv, err := central.New(central.Config{Store: s, BoxKey: box, SignKey: sign, InsecureHTTP: true, SweepByQueue: true,
				Now: func() time.Time { return t0.Add(20 * time.Hour) }, Logger: jsonLogger(&centraltest.LogBuffer{})})
			if err != nil {
				t.Fatal(err)
			}
			checkpointed := make(chan error, 1)
			go func() { checkpointed <- srv.CheckpointAudit(ctx) }()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithCancel(ctx)
			served := make(chan error, 1)
			go func() { served <- srv.ServeListener(sctx, ln, nil) }()
			defer func() {
				cancel()
				if err := <-served; err != nil {
					t.Errorf("ServeListener: %v", err)
				}
			}()
			if err := <-checkpointed; err != nil {
				t.Fatal(err)
			}
			c := &tc{Server: srv}
			if at, ok := auditGauge(t, c, "kyc_central_audit_chain_verified_timestamp_seconds"), auditGauge(t, c, "kyc_central_audit_chain_ok"); at == 0 || ok != 0 {
				t.Errorf("once checkpointed, the chain verified at %v, ok %v; want verified before, not ok", at, ok)
			}
			evs, err := s.Audit(ctx, central.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var order []string
			for _, e := range evs {
				if e.Action == central.AuditChainBroken || e.Action == central.AuditCheckpoint {
					order = append(order, e.Action)
				}
			}
			if want := []string{central.AuditChainBroken, central.AuditCheckpoint}; !slices.Equal(order, want) {
				t.Errorf("events %v, want %v", order, want)
			}
		})
	}
}
