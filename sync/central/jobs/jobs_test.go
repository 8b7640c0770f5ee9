package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// newDatabase is a new empty database on the test's server.
func newDatabase(t *testing.T, ctx context.Context) string {
	t.Helper()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// openStore is a store on a new database, closed when the test ends, and
// the database's address.
func openStore(t *testing.T, ctx context.Context) (*pgstore.Store, string) {
	t.Helper()
	dsn := newDatabase(t, ctx)
	st, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dsn
}

// TestSweepOncePerCluster: two instances' clients on one database run the
// periodic retention sweep once between them, and a sweep out of time
// goes on in another run.
func TestSweepOncePerCluster(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t, ctx)
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
	dsn := newDatabase(t, ctx)
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

// leak is a test job whose run panics with personal data.
type leak struct{}

func (leak) Kind() string { return "test_leak" }

func (leak) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

type leakWorker struct {
	river.WorkerDefaults[leak]
	text string
}

func (w *leakWorker) Work(context.Context, *river.Job[leak]) error { panic(w.text) }

// TestStoredErrorsScrubbed: what River keeps in river_job of a failed
// run, an error or a panic, holds no URL's path or query (a token, a user
// id), no e-mail, no NIK, however the worker worded it, and no more than
// ErrorBytes of it (a receiver's long answer); the args are ids only. A
// panic keeps its trace.
func TestStoredErrorsScrubbed(t *testing.T) {
	ctx := context.Background()
	st, dsn := openStore(t, ctx)
	// A name in free text is not recognisable: the bound is what keeps a
	// long answer out (ErrorBytes); workers quote no answer (the webhook
	// worker keeps it in the attempts' excerpts, which erasure empties).
	secrets := []string{"s3cr3tT0ken", "user-4411", "siti.rahma@example.com", "3174096112900001", "END-OF-ANSWER"}
	text := `posting to https://hooks.partner.example/u/user-4411?token=s3cr3tT0ken failed for siti.rahma@example.com (nik 3174096112900001): answered ` +
		strings.Repeat("<p>not found</p>", 100) + "END-OF-ANSWER"
	workers := river.NewWorkers()
	river.AddWorker(workers, jobs.ErasureWorker(func(context.Context, string, bool) error { return errors.New(text) }, 0))
	river.AddWorker(workers, &leakWorker{text: text})
	c, err := st.Jobs(jobs.Config{Workers: workers, ID: "instance", SweepEvery: -1, FetchPoll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Insert(ctx, jobs.Erasure{ID: "req_1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Insert(ctx, leak{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(time.Minute)
	for {
		var failed int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE cardinality(errors) > 0`).Scan(&failed); err != nil {
			t.Fatal(err)
		}
		if failed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 2 jobs failed within a minute", failed)
		}
		time.Sleep(50 * time.Millisecond) // paces the poll of a condition
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT kind, args::text, errors::text[], coalesce(metadata::text, '') FROM river_job`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, args, metadata string
		var errs []string
		if err := rows.Scan(&kind, &args, &errs, &metadata); err != nil {
			t.Fatal(err)
		}
		all := args + metadata + strings.Join(errs, "\n")
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("%s: river_job holds %q: %s", kind, s, all)
			}
		}
		for _, e := range errs {
			var ae struct{ Error, Trace string }
			if err := json.Unmarshal([]byte(e), &ae); err != nil {
				t.Fatal(err)
			}
			if len(ae.Error) > jobs.ErrorBytes || !strings.Contains(ae.Error, "https://hooks.partner.example") {
				t.Errorf("%s: stored error %q, want at most %d bytes naming the receiver's origin", kind, ae.Error, jobs.ErrorBytes)
			}
			if kind == (leak{}).Kind() && !strings.Contains(ae.Trace, "leakWorker") {
				t.Errorf("the panic's trace %q does not lead to the worker", ae.Trace)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestCompletedJobsGoWithinTheHour: River's cleaner, run by the leader,
// deletes a job completed more than CompletedRetention ago (River's
// default keeps it a day) and keeps one discarded as long ago.
func TestCompletedJobsGoWithinTheHour(t *testing.T) {
	ctx := context.Background()
	st, dsn := openStore(t, ctx)
	workers := river.NewWorkers()
	river.AddWorker(workers, jobs.ErasureWorker(func(context.Context, string, bool) error { return nil }, 0))
	c, err := st.Jobs(jobs.Config{Workers: workers, ID: "instance", SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.Insert(ctx, jobs.Erasure{ID: "req_done"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	failed, err := c.Insert(ctx, jobs.Erasure{ID: "req_failed"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ago := time.Now().Add(-jobs.CompletedRetention - 10*time.Minute)
	for id, state := range map[int64]string{done.Job.ID: "completed", failed.Job.ID: "discarded"} {
		if _, err := conn.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state, finalized_at = $3, attempt = 1, attempted_at = $3 WHERE id = $1`, id, state, ago); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	waitLeader(t, conn, "instance")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left []string
		if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(state::text ORDER BY state), '{}') FROM river_job`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(left, []string{"discarded"}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("river_job holds %v two minutes after the leader started, want only the discarded job", left)
		}
		time.Sleep(100 * time.Millisecond) // paces the poll of a condition
	}
}
