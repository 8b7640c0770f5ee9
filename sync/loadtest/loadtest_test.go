package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/internal/synctest"
)

// pg is the package's private PostgreSQL server, started by TestMain.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pg.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// imageSize is the size of the one image each load submission carries.
const imageSize = 300 << 10

// stores opens a fresh store of each kind.
var stores = []struct {
	name string
	open func(tb testing.TB) central.Store
}{
	{"bolt", func(tb testing.TB) central.Store {
		s, err := boltstore.Open(filepath.Join(tb.TempDir(), "central.db"))
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}},
	{"postgres", func(tb testing.TB) central.Store {
		dsn, err := pg.NewDatabase(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		s, err := pgstore.Open(context.Background(), dsn)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}},
}

// setup starts a central on store and enrols n devices with total
// submissions spread over them, each with one 300 KB image.
func setup(tb testing.TB, store central.Store, n, total int) []Device {
	tb.Helper()
	c := synctest.StartCentral(tb, store, synctest.CentralOptions{})
	// A handful of distinct images, shared by many submissions, keeps the
	// set-up's memory bounded; central stores each submission's copy.
	base, err := synctest.NewSubmission(identity.Generate(), 0, imageSize)
	if err != nil {
		tb.Fatal(err)
	}
	devices := make([]Device, n)
	for i := range devices {
		id, enr := c.Enroll(tb)
		u, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
		if err != nil {
			tb.Fatal(err)
		}
		devices[i].ID, devices[i].Uploader = id.DeviceID(), u
		for k := i; k < total; k += n {
			s := synctest.Submission(tb, id, k, 0)
			s.Images = map[string][]byte{"selfie": base.Images[[]string{"selfie", "document"}[k%2]]}
			devices[i].Submissions = append(devices[i].Submissions, s)
		}
	}
	return devices
}

// checkAll asserts central holds every submission once, intact.
func checkAll(tb testing.TB, store central.Store, devices []Device) {
	tb.Helper()
	for _, d := range devices {
		synctest.CheckDelivered(tb, store, d.ID, d.Submissions)
	}
}

// TestLoadSmoke runs a small load against both stores and checks that
// nothing is lost or duplicated under concurrency.
func TestLoadSmoke(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			store := st.open(t)
			defer store.Close()
			devices := setup(t, store, 8, 64)
			res, err := Run(context.Background(), devices)
			if err != nil {
				t.Fatal(err)
			}
			if res.Submissions != 64 || res.Percentile(50) <= 0 || res.Percentile(99) < res.Percentile(50) {
				t.Errorf("result %v", res)
			}
			checkAll(t, store, devices)
		})
	}
}

// BenchmarkIngest measures central ingest with 16 simulated devices
// syncing submissions with one 300 KB image each, over loopback HTTP, for
// each store. Run with a fixed count, e.g.
//
//	go test -run '^$' -bench Ingest -benchtime 2000x ./sync/loadtest
func BenchmarkIngest(b *testing.B) {
	const agents = 16
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			store := st.open(b)
			defer store.Close()
			devices := setup(b, store, agents, b.N)
			runtime.GC()
			b.ResetTimer()
			res, err := Run(context.Background(), devices)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.Rate(), "submissions/s")
			b.ReportMetric(float64(res.Percentile(50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.Percentile(99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op") // per-op time is meaningless for a concurrent run
			b.Logf("%s: %v (%d agents, load average %s)", st.name, res, agents, loadAverage())
		})
	}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return string(b[:len(b)-1])
}
