package jobs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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
