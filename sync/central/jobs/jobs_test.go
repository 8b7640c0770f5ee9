package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

var server *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &server) }

// TestSweepOncePerCluster: two instances' clients on one database run the
// periodic retention sweep once between them, and a sweep out of time
// goes on in another run.
func TestSweepOncePerCluster(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var runs, started atomic.Int32
	done := make(chan struct{}, 4)
	var stops []func()
	for i := range 2 {
		st, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		workers := river.NewWorkers()
		river.AddWorker(workers, jobs.SweepWorker(func(ctx context.Context) error {
			if started.Add(1) == 1 { // the first run runs out of time
				<-ctx.Done()
				return ctx.Err()
			}
			runs.Add(1)
			done <- struct{}{}
			return nil
		}, 2*time.Second))
		c, err := st.Jobs(jobs.Config{Workers: workers, ID: fmt.Sprint("instance-", i), SweepEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		stops = append(stops, func() {
			if err := c.Stop(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("no sweep ran")
	}
	for _, stop := range stops {
		stop()
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("%d sweeps completed by two instances, want 1", n)
	}
	if n := started.Load(); n != 2 {
		t.Errorf("%d sweep runs, want 2 (one out of time, one finishing it)", n)
	}
}

// TestRecheckOnePerCluster: instances with and without the face engine
// share one database, the leader one without it. The instances that
// recheck queue the recheck of approvals themselves and run it one at a
// time between them: while a run goes on, past a minute boundary, a
// recheck asked for by any instance is not queued, and the next runs once
// it ended. The instance without the engine never claims one.
func TestRecheckOnePerCluster(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var running atomic.Int32
	var overlap atomic.Bool
	started := make(chan struct{}, 8)
	release := make(chan struct{})
	var clients []*river.Client[pgx.Tx]
	for i := range 3 {
		rechecks := i > 0 // instance-0, the leader, has no face engine
		st, err := pgstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		workers := river.NewWorkers()
		river.AddWorker(workers, jobs.SweepWorker(func(context.Context) error { return nil }, time.Minute)) // every instance's
		if rechecks {
			river.AddWorker(workers, jobs.RecheckWorker(func(ctx context.Context) error {
				if running.Add(1) > 1 {
					overlap.Store(true)
				}
				defer running.Add(-1)
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			}, 2*time.Minute))
		}
		c, err := st.Jobs(jobs.Config{Workers: workers, ID: fmt.Sprint("instance-", i), SweepEvery: -1, Rechecks: rechecks,
			JobTimeout: 2 * time.Minute, RescueAfter: 3 * time.Minute, FetchPoll: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Stop(ctx); err != nil {
				t.Error(err)
			}
		}()
		if !rechecks {
			waitLeader(t, conn, "instance-0")
			continue
		}
		asking, cancel := context.WithCancel(ctx)
		asked := make(chan struct{})
		go func() {
			defer close(asked)
			jobs.QueueRechecks(asking, c, 100*time.Millisecond, func(err error) { t.Errorf("instance %d: %v", i, err) })
		}()
		defer func() { cancel(); <-asked }()
		clients = append(clients, c)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-started:
		case <-time.After(2 * time.Minute):
			t.Fatalf("no %s recheck started within two minutes", what)
		}
	}
	wait("first")
	// A run may outlast any period: past the next minute (a uniqueness by
	// period would queue another there), a recheck asked for by either
	// instance is still not queued, and none is waiting.
	<-time.After(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute + 100*time.Millisecond)))
	for i, c := range clients {
		res, err := c.Insert(ctx, jobs.Recheck{}, nil)
		if err != nil || !res.UniqueSkippedAsDuplicate {
			t.Errorf("instance %d asked for a recheck while one runs: %+v, %v; want it skipped", i+1, res, err)
		}
	}
	var queued int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'cancelled', 'discarded')`,
		(jobs.Recheck{}).Kind()).Scan(&queued); err != nil || queued != 1 {
		t.Errorf("rechecks queued or running while one runs: %d, %v; want that one", queued, err)
	}
	release <- struct{}{}
	// The instances' asking queues the next once the first ended.
	wait("second")
	close(release)
	if overlap.Load() {
		t.Error("two rechecks ran at once")
	}
	var by []string
	if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT a), '{}') FROM river_job, unnest(attempted_by) a WHERE kind = $1`,
		(jobs.Recheck{}).Kind()).Scan(&by); err != nil || slices.Contains(by, "instance-0") || len(by) == 0 {
		t.Errorf("rechecks attempted by %v (%v), want only the instances that recheck", by, err)
	}
}

// waitLeader waits until River's leader is the client id.
func waitLeader(t *testing.T, conn *pgx.Conn, id string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var leader string
		err := conn.QueryRow(context.Background(), `SELECT leader_id FROM river_leader`).Scan(&leader)
		if err == nil && leader == id {
			return
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not the leader within two minutes (leader %q)", id, leader)
		}
		time.Sleep(50 * time.Millisecond) // paces the poll of a condition: never a guess at how long it takes
	}
}
