package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/storetest"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/protocol"
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

// openFresh opens the store on a new database; the caller closes it.
func openFresh(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	dsn, err := server.NewDatabaseFrom(ctx, "migrated", Migrate)
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

// TestAuditTamper changes a stored event with SQL, plain and sealed.
func TestAuditTamper(t *testing.T) {
	tamper := func(t *testing.T, s central.Store, seq int64) {
		t.Helper()
		if ss, ok := s.(*seal.Store); ok {
			s = ss.Store
		}
		tag, err := s.(*Store).pool.Exec(context.Background(), `UPDATE audit SET count = count + 1 WHERE seq = $1`, seq)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("tampering: %v, %v", tag, err)
		}
	}
	t.Run("plain", func(t *testing.T) { storetest.RunAuditTamper(t, openStore, tamper) })
	t.Run("sealed", func(t *testing.T) { storetest.RunAuditTamper(t, storetest.Sealed(openStore), tamper) })
}

// TestAuditConcurrentInstances appends from several stores on one
// database at once, as instances behind a load balancer do: one chain.
func TestAuditConcurrentInstances(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const instances, each = 4, 25
	var stores []*Store
	for range instances {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for j := range each {
				e := central.AuditEvent{ID: fmt.Sprint(i, "-", j), At: time.Now(), Actor: fmt.Sprint("instance", i), Action: "test"}
				if err := s.AppendAudit(ctx, e); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if c, err := central.VerifyAuditChain(ctx, stores[0], nil); err != nil || c.Events != instances*each {
		t.Errorf("VerifyAuditChain = %d, %v; want %d", c.Events, err, instances*each)
	}
}

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
	dsn, conn := databaseAtSchema(t, 3)
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

// bulk stores complete submissions (no images) with COPY, the
// rows BeginSubmission would insert, and vacuums and analyses the
// table as autovacuum would.
func bulk(tb testing.TB, s central.Store, subs []central.Submission) {
	tb.Helper()
	ctx := context.Background()
	rows := make([][]any, len(subs))
	var tokens [][]any
	for i, sub := range subs {
		sum, err := summaryCols(sub.Summary)
		if err != nil {
			tb.Fatal(err)
		}
		var keyID *string
		var wrapped []byte
		if sub.Seal != nil {
			keyID, wrapped = &sub.Seal.KeyID, sub.Seal.Key
			for _, t := range sub.Seal.Tokens {
				tokens = append(tokens, []any{t, sub.DeviceID, sub.Key})
			}
		}
		rows[i] = []any{sub.DeviceID, sub.Key, sub.ID, sub.ManifestHash, sub.CreatedAt, sub.ReceivedAt, sub.ReceivedAt, sub.Verdict, sub.AttestationFresh,
			[]byte(sub.Payload), sum.doc, sum.decision, sum.docType, sum.country, sum.reasons, keyID, wrapped}
	}
	pool := s.(*Store).pool
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"submissions"}, []string{"device_id", "key", "id", "manifest_hash", "created_at", "received_at", "completed_at",
		"verdict", "attestation_fresh", "payload", "summary", "engine_decision", "doc_type", "country", "reasons", "key_id", "wrapped_key"}, pgx.CopyFromRows(rows))
	if err != nil {
		tb.Fatal(err)
	}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"submission_tokens"}, []string{"token", "device_id", "key"}, pgx.CopyFromRows(tokens))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE submissions, submission_tokens`); err != nil {
		tb.Fatal(err)
	}
}

// bulkAudit appends audit events with COPY, chained as appendAudit
// chains them one by one, and moves the chain's head.
func bulkAudit(tb testing.TB, s central.Store, evs []central.AuditEvent) {
	tb.Helper()
	ctx := context.Background()
	pool := s.(*Store).pool
	var seq int64
	var prev []byte
	if err := pool.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &prev); err != nil {
		tb.Fatal(err)
	}
	rows := make([][]any, len(evs))
	for i := range evs {
		e := &evs[i]
		if err := central.ChainAudit(e, seq, prev); err != nil {
			tb.Fatal(err)
		}
		seq, prev = e.Seq, e.Hash
		rows[i] = []any{e.Seq, e.ID, e.At, e.Actor, e.Action, e.Count, []string{}, e.Subject, e.Prev, e.Hash}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"audit"}, []string{"seq", "id", "at", "actor", "action", "count", "refs", "subject", "prev", "hash"},
		pgx.CopyFromRows(rows)); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, prev); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE audit`); err != nil {
		tb.Fatal(err)
	}
}

// TestNoJIT: the store's connections run without JIT compilation (whose
// start-up cost dwarfs its queries, DueEvents' 400 ms against 2), unless
// the DSN asks for it.
func TestNoJIT(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabaseFrom(ctx, "migrated", Migrate)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dsn, want string }{{dsn, "off"}, {dsn + "&jit=on", "on"}} {
		s, err := Open(ctx, c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		var jit string
		if err := s.pool.QueryRow(ctx, `SHOW jit`).Scan(&jit); err != nil || jit != c.want {
			t.Errorf("jit = %q, %v; want %s", jit, err, c.want)
		}
		s.Close()
	}
}

// TestAuditByAction: the audit view filtered by a rare action reads the
// pages of its events, not the chain up to them. Pages read are counted
// by PostgreSQL (EXPLAIN's buffers), not timed.
func TestAuditByAction(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]central.AuditEvent, 20_000)
	for i := range evs {
		evs[i] = central.AuditEvent{ID: fmt.Sprint("a", i), At: t0.Add(time.Duration(i) * time.Minute), Actor: "user", Action: "claim", Count: 1}
		if i%1000 == 999 {
			evs[i].Action = "export"
		}
	}
	bulkAudit(t, s, evs)
	f := central.AuditFilter{Action: "export", Limit: 100}
	got, err := s.Audit(ctx, f)
	if err != nil || len(got) != 20 || got[0].ID != "a999" || got[19].ID != "a19999" {
		t.Fatalf("Audit(export) = %d events, %v; want the 20 exports", len(got), err)
	}
	sql, args := auditQuery(f)
	rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	var hit int
	if _, err := fmt.Sscanf(plan[strings.Index(plan, "shared hit="):], "shared hit=%d", &hit); err != nil {
		t.Fatalf("no buffer count in the plan: %v\n%s", err, plan)
	}
	if hit > 100 {
		t.Errorf("Audit(export) read %d pages for 20 events:\n%s", hit, plan)
	}
}

// BenchmarkScale: storetest.BenchmarkScale on PostgreSQL, vacuumed and
// analysed after the seeding as autovacuum would.
func BenchmarkScale(b *testing.B) {
	storetest.BenchmarkScale(b, func(b *testing.B) central.Store { return openFresh(b) }, storetest.Seeder{Subs: bulk, Audit: bulkAudit,
		Settle: func(tb testing.TB, s central.Store) {
			if _, err := s.(*Store).pool.Exec(context.Background(), `VACUUM ANALYZE`); err != nil {
				tb.Fatal(err)
			}
		}})
}

func BenchmarkQueue(b *testing.B) {
	s := openFresh(b)
	defer s.Close()
	storetest.BenchmarkQueue(b, s, bulk)
}

// TestMigrationChainsAudit: a database of schema 4 (audit rows numbered
// by a sequence with gaps, no chain; submissions without summaries) is
// migrated: the rows are renumbered in time order and chained, and the
// submissions are cases with no summary.
func TestMigrationChainsAudit(t *testing.T) {
	ctx := context.Background()
	dsn, conn := databaseAtSchema(t, 4)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		seq  int
		id   string
		at   time.Time
		refs []string
	}{{7, "b", t0.Add(time.Hour), []string{}}, {3, "a", t0, []string{"req-1"}}, {12, "c", t0.Add(2 * time.Hour), []string{}}} {
		if _, err := conn.Exec(ctx, `INSERT INTO audit (seq, id, at, actor, action, count, refs) VALUES ($1, $2, $3, 'admin', 'erasure', 1, $4)`, r.seq, r.id, r.at, r.refs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO submissions (device_id, key, id, manifest_hash, created_at, received_at, completed_at, verdict, payload)
		VALUES ('d1', 'k1', 'old', '\x00', $1, $1, $1, 'allow', '{}')`, t0); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := central.VerifyAuditChain(ctx, s, nil); err != nil || c.Events != 3 {
		t.Errorf("VerifyAuditChain = %d, %v; want 3", c.Events, err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{})
	if err != nil || len(evs) != 3 || evs[0].ID != "a" || evs[0].Seq != 1 || evs[2].ID != "c" || evs[2].Seq != 3 || evs[0].Refs[0] != "req-1" {
		t.Errorf("migrated events = %+v, %v", evs, err)
	}
	if err := s.AppendAudit(ctx, central.AuditEvent{ID: "d", At: t0, Action: "new"}); err != nil {
		t.Fatal(err)
	}
	if c, err := central.VerifyAuditChain(ctx, s, nil); err != nil || c.Events != 4 {
		t.Errorf("VerifyAuditChain after an append = %d, %v; want 4", c.Events, err)
	}
	cs, total, err := s.Queue(ctx, central.QueueFilter{})
	if err != nil || total != 1 || cs[0].ID != "old" || cs[0].Summary.Decision != "" || cs[0].Review.Version != 0 {
		t.Errorf("Queue = %+v total %d, %v", cs, total, err)
	}
	if sub, err := s.Upload(ctx, "d1", "k1"); err != nil || sub.Summary != nil {
		t.Errorf("Upload of an old submission: Summary %+v, %v; want nil", sub.Summary, err)
	}
}

// databaseAtSchema creates a database migrated only up to schema version,
// as an older build left it, and returns its DSN and a connection to it
// (closed at the end of the test).
func databaseAtSchema(t *testing.T, version int) (string, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	dsn, err := server.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= version; v++ {
		if _, err := conn.Exec(ctx, migrations[v-1]); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, conn
}

// queryCounter is a pgx tracer counting the statements sent.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestSubmissionsQueries: the admin list of a page of submissions with
// images is a bounded number of statements, not one per submission.
func TestSubmissionsQueries(t *testing.T) {
	ctx := context.Background()
	dsn, err := server.NewDatabaseFrom(ctx, "migrated", Migrate)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{pool: pool, idemBusy: map[string]chan struct{}{}}
	defer s.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 30 {
		sub := central.Submission{DeviceID: "d1", Key: fmt.Sprint("k", i), ID: fmt.Sprint("s", i), ManifestHash: []byte{1},
			CreatedAt: t0, ReceivedAt: t0.Add(time.Duration(i) * time.Second), Verdict: "ok", Payload: []byte(`{}`)}
		for _, name := range []string{"selfie", "front"} {
			sub.Images = append(sub.Images, central.ImageProgress{ImageMeta: protocol.ImageMeta{Name: name, Size: 10, SHA256: make([]byte, 32), Key: make([]byte, 32)}})
		}
		if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	before := counter.n.Load()
	subs, err := s.Submissions(ctx, central.Filter{Limit: 100})
	if err != nil || len(subs) != 30 || len(subs[29].Images) != 2 || subs[29].Images[0].Name != "selfie" {
		t.Fatalf("Submissions = %d, %v", len(subs), err)
	}
	if n := counter.n.Load() - before; n > 2 {
		t.Errorf("listing 30 submissions sent %d statements, want at most 2", n)
	}
}

// TestSealedUserAtRest: no row of any table holds a partner's user
// reference in clear.
func TestSealedUserAtRest(t *testing.T) {
	storetest.RunSealedUserAtRest(t, openStore, dumpRows)
}

// TestErasedCapturesAtRest: after erasure no row holds any of the erased
// session's sealed captures.
func TestErasedCapturesAtRest(t *testing.T) {
	storetest.RunErasedCapturesAtRest(t, openStore, dumpRows)
}

// TestSealStoredUsers: the user references a release before sealing
// stored clear are sealed, in no row after.
func TestSealStoredUsers(t *testing.T) {
	storetest.RunSealStoredUsers(t, openStore, dumpRows)
}

// dumpRows is every row of every table of raw's schema, as text.
func dumpRows(t *testing.T, raw central.Store) []byte {
	t.Helper()
	ctx := context.Background()
	pool := raw.(*Store).pool
	rows, err := pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, table := range tables {
		var text string
		if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM `+pgx.Identifier{table}.Sanitize()+` t`).Scan(&text); err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		all = append(all, text...)
	}
	return all
}

// TestImageChunksHoldNoConnection: while an image's reader is inside a
// yield (a client reading slowly), every connection of the pool can be
// taken: the reader holds none between its chunks' queries, so slow
// downloads cannot take the pool.
func TestImageChunksHoldNoConnection(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 1<<12)
	sum := sha256.Sum256(img)
	sub := central.Submission{
		DeviceID: "d1", Key: protocol.SubmissionKey("s1"), ID: "s1", ManifestHash: []byte("m"), ReceivedAt: time.Now().UTC(),
		Payload: []byte(`{}`),
		Images:  []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "selfie", Size: int64(len(img)), SHA256: sum[:], Key: make([]byte, 32)}}},
	}
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: "d1", Key: sub.Key, Image: "selfie", Data: img, At: sub.ReceivedAt}); err != nil {
		t.Fatal(err)
	}
	yields := 0
	err := s.ImageChunks(ctx, "d1", sub.Key, "selfie", func([]byte) error {
		yields++
		// A bound on a hang: with a connection held by the reader, the
		// last Acquire waits for this yield to return.
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var held []*pgxpool.Conn
		defer func() {
			for _, c := range held {
				c.Release()
			}
		}()
		for range s.pool.Stat().MaxConns() {
			c, err := s.pool.Acquire(actx)
			if err != nil {
				return fmt.Errorf("taking the pool's connection %d of %d while the image is read: %w", len(held)+1, s.pool.Stat().MaxConns(), err)
			}
			held = append(held, c)
		}
		return nil
	})
	if err != nil || yields != 1 {
		t.Fatalf("ImageChunks = %v after %d yields", err, yields)
	}
}
