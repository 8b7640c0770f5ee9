package pgstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/storetest"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// server is the package's private PostgreSQL, started by TestMain.
var server *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	server, err = pgtest.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := server.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func openFresh(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t *testing.T) central.Store { return openFresh(t) }

func TestConformance(t *testing.T) { storetest.Run(t, openStore) }

func TestStorage(t *testing.T) { storetest.RunStorage(t, openStore) }

// TestConformanceSealed runs the whole suite through seal.Store.
func TestConformanceSealed(t *testing.T) { storetest.Run(t, storetest.Sealed(openStore)) }

func TestSealed(t *testing.T) { storetest.RunSealed(t, openStore) }

// TestMigrationsConcurrentAndIdempotent opens one database from several
// "instances" at once and again later: every migration is applied once.
func TestMigrationsConcurrentAndIdempotent(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, maxV int
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
		t.Fatal(err)
	}
	if n != SchemaVersion() || maxV != SchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to %d, want %d", n, maxV, SchemaVersion())
	}
	// A database from a newer build is refused rather than misread.
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(ctx, dsn); err == nil {
		s2.Close()
		t.Error("Open accepted a schema newer than the build")
	}
}

// TestMigrationKeepsWatchlists: a database from before watchlists were
// chunked (schema 3, each list whole in its row) keeps every version.
func TestMigrationKeepsWatchlists(t *testing.T) {
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
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 3; v++ {
		if _, err := conn.Exec(ctx, migrations[v-1]); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			t.Fatal(err)
		}
	}
	for v, data := range []string{"old list", "newer list"} {
		sum := sha256.Sum256([]byte(data))
		if _, err := conn.Exec(ctx, `INSERT INTO watchlists (name, version, size, sha256, data) VALUES ('un', $1, $2, $3, $4)`, v+1, len(data), sum[:], []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, data, err := s.Watchlist(ctx, "un")
	if err != nil || w.Version != 2 || string(data) != "newer list" {
		t.Errorf("after migrating: version %d %q, %v", w.Version, data, err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM watchlist_chunks WHERE name = 'un'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d chunk rows, %v; want both versions kept", n, err)
	}
}
