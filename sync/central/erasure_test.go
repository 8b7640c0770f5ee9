package central_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/jobs"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/protocol"
)

const (
	erasureNIK = "3174096112900001"
	otherNIK   = "3174096112900002"
)

// faultyStore fails the EraseSubmission call numbered failAt (1-based)
// before it deletes anything, as a store connection lost mid-erasure would.
type faultyStore struct {
	*seal.Store
	failAt int32
	calls  atomic.Int32
}

var errInjected = errors.New("injected fault")

func (f *faultyStore) EraseSubmission(ctx context.Context, id string, ref central.SubmissionRef) error {
	if f.calls.Add(1) == f.failAt {
		return errInjected
	}
	return f.Store.EraseSubmission(ctx, id, ref)
}

// personSubmission stores a whole submission of the person with nik.
func personSubmission(t *testing.T, s central.Store, id, nik string) central.Submission {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 64)
	sum := sha256.Sum256(img)
	sub := central.Submission{
		DeviceID: "dev-1", Key: protocol.SubmissionKey(id), ID: id, ManifestHash: sum[:], CreatedAt: now, ReceivedAt: now,
		Payload: json.RawMessage(`{"nik":"` + nik + `","decision":"approve"}`),
		Images:  []central.ImageProgress{{ImageMeta: protocol.ImageMeta{Name: "selfie", Size: int64(len(img)), SHA256: sum[:], Key: make([]byte, 32)}}},
	}
	if _, _, err := s.BeginSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendChunk(ctx, central.Chunk{DeviceID: sub.DeviceID, Key: sub.Key, Image: "selfie", Data: img, At: now}); err != nil {
		t.Fatal(err)
	}
	return sub
}

// checkErased checks that erased are gone, kept stays, and the audit trail
// holds exactly one erasure event of count n (and none failed).
func checkErased(t *testing.T, s central.Store, erased []central.Submission, kept central.Submission, id string, n int) {
	t.Helper()
	ctx := context.Background()
	for _, sub := range erased {
		if _, err := s.Upload(ctx, sub.DeviceID, sub.Key); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("submission %s after the erasure: %v", sub.ID, err)
		}
	}
	if _, err := s.Upload(ctx, kept.DeviceID, kept.Key); err != nil {
		t.Errorf("the other person's submission: %v", err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{Action: central.AuditErasure})
	if err != nil || len(evs) != 1 || evs[0].ID != id || evs[0].Count != n {
		t.Errorf("erasure audit = %+v, %v; want one event %s counting %d", evs, err, id, n)
	}
	if evs, _ := s.Audit(ctx, central.AuditFilter{Action: central.AuditErasureFailed}); len(evs) != 0 {
		t.Errorf("failed erasures audited: %+v", evs)
	}
}

// TestErasureJobRetried: on PostgreSQL an erasure is recorded with its job
// and answered 202 queued; the job's first run fails after erasing one of
// the person's three submissions (an injected fault), River runs it again,
// and the retry erases the other two: the record says done, 3 erased in 2
// attempts, and the audit trail has the erasure once with 3. Neither
// River's table (args, errors, any column) nor the erasure record holds
// the NIK or an erased submission.
func TestErasureJobRetried(t *testing.T) {
	dsn, _ := startPostgres(t)
	ctx := context.Background()
	pg, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(t.TempDir(), "central.keys"))
	if err != nil {
		t.Fatal(err)
	}
	store := &faultyStore{Store: seal.New(pg, kr, kr), failAt: 2}
	var subs []central.Submission
	for _, id := range []string{"sub-1", "sub-2", "sub-3"} {
		subs = append(subs, personSubmission(t, store, id, erasureNIK))
	}
	other := personSubmission(t, store, "sub-other", otherNIK)

	c := start(t, central.Config{Store: store, SweepByQueue: true, ErasureByQueue: true})
	workers := river.NewWorkers()
	river.AddWorker(workers, jobs.ErasureWorker(c.Server.RunErasure, 0))
	events := startJobs(t, pg, jobs.Config{Workers: workers, SweepEvery: -1, FetchPoll: 100 * time.Millisecond})

	var res central.Erasure
	resp, _ := c.admin(t, "POST", "/admin/v1/erasures", []byte(`{"nik":"`+erasureNIK+`"}`), &res)
	if resp.StatusCode != http.StatusAccepted || res.ID == "" || res.StatusURL != "/admin/v1/erasures/"+res.ID || resp.Header.Get("Location") != res.StatusURL {
		t.Fatalf("erasure request = %d, %+v", resp.StatusCode, res)
	}
	if res.Status != central.ErasureQueued && res.Status != central.ErasureRunning {
		t.Errorf("the answer's status = %s, want queued (or running already)", res.Status)
	}
	// Wait for the job: one failed attempt, then one completed.
	failed := 0
	timeout := time.After(2 * time.Minute)
wait:
	for {
		select {
		case ev := <-events:
			if ev.Job.Kind != (jobs.Erasure{}).Kind() {
				continue
			}
			if ev.Kind == river.EventKindJobFailed {
				failed++
				continue
			}
			break wait
		case <-timeout:
			t.Fatal("the erasure job did not complete within 2 minutes")
		}
	}
	if failed != 1 || store.calls.Load() < 4 {
		t.Errorf("%d failed runs, %d EraseSubmission calls; want the one injected failure and 3 deletions", failed, store.calls.Load())
	}
	var done central.Erasure
	if resp, _ := c.admin(t, "GET", res.StatusURL, nil, &done); resp.StatusCode != 200 ||
		done.Status != central.ErasureDone || done.Erased != 3 || done.Attempts != 2 || done.FinishedAt.IsZero() || done.Error != "" {
		t.Errorf("the erasure after its retry = %d, %+v; want done, 3 erased in 2 attempts", resp.StatusCode, done)
	}
	checkErased(t, store, subs, other, res.ID, 3)

	// Whose submissions were never in River's table, and are no longer in
	// the record.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var args string
	var attempt int
	if err := conn.QueryRow(ctx, `SELECT args::text, attempt FROM river_job WHERE kind = 'erasure'`).Scan(&args, &attempt); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(args, erasureNIK) || !strings.Contains(args, res.ID) || attempt != 2 {
		t.Errorf("the erasure job: args %s, attempt %d", args, attempt)
	}
	// Nor anywhere in what River keeps of any job: the failed run's error
	// (which River keeps with the job) names no erased submission.
	var rows string
	if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(j::text, E'\n'), '') FROM river_job j`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rows, errInjected.Error()) {
		t.Errorf("river_job keeps no error of the failed run: %s", rows)
	}
	for _, sub := range subs {
		for _, v := range []string{erasureNIK, sub.ID, string(sub.Key)} {
			if strings.Contains(rows, v) {
				t.Errorf("river_job names %q of an erased submission: %s", v, rows)
			}
		}
	}
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM erasures WHERE tokens IS NOT NULL OR device_id IS NOT NULL`).Scan(&left); err != nil || left != 0 {
		t.Errorf("finished erasures still naming whose submissions: %d, %v", left, err)
	}
}

// TestErasureSyncFault: without a job queue (bbolt) a request carries the
// erasure out before answering; a fault mid-way ends it failed, audited
// with what it erased, and asking again erases the rest.
func TestErasureSyncFault(t *testing.T) {
	store := &faultyStore{Store: sealedBolt(t), failAt: 2}
	var subs []central.Submission
	for _, id := range []string{"sub-1", "sub-2", "sub-3"} {
		subs = append(subs, personSubmission(t, store, id, erasureNIK))
	}
	other := personSubmission(t, store, "sub-other", otherNIK)
	c := start(t, central.Config{Store: store})
	body := []byte(`{"nik":"` + erasureNIK + `"}`)
	if resp, _ := c.admin(t, "POST", "/admin/v1/erasures", body, nil); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("erasure with a fault = %d, want 500", resp.StatusCode)
	}
	ctx := context.Background()
	es, err := store.Erasures(ctx, false, 10)
	if err != nil || len(es) != 1 || es[0].Status != central.ErasureFailed || es[0].Erased != 1 || !strings.Contains(es[0].Error, "injected fault") {
		t.Fatalf("the failed erasure's record = %+v, %v", es, err)
	}
	if evs, err := store.Audit(ctx, central.AuditFilter{Action: central.AuditErasureFailed}); err != nil || len(evs) != 1 || evs[0].Count != 1 {
		t.Errorf("failed erasure audit = %+v, %v", evs, err)
	}
	var res central.Erasure
	if resp, _ := c.admin(t, "POST", "/admin/v1/erasures", body, &res); resp.StatusCode != http.StatusAccepted || res.Status != central.ErasureDone || res.Erased != 2 {
		t.Fatalf("asking again = %d, %+v; want done, the 2 left", resp.StatusCode, res)
	}
	for _, sub := range subs {
		if _, err := store.Upload(ctx, sub.DeviceID, sub.Key); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("submission %s after the erasures: %v", sub.ID, err)
		}
	}
	if evs, err := store.Audit(ctx, central.AuditFilter{Action: central.AuditErasure}); err != nil || len(evs) != 1 || evs[0].Count != 2 || evs[0].ID != res.ID {
		t.Errorf("erasure audit = %+v, %v", evs, err)
	}
	if _, err := store.Upload(ctx, other.DeviceID, other.Key); err != nil {
		t.Errorf("the other person's submission: %v", err)
	}
}

// TestErasureResumed: a bbolt central that stopped mid-erasure (recorded,
// one of three submissions erased, status running) finishes it when it
// serves again: done, 3 erased, audited once.
func TestErasureResumed(t *testing.T) {
	store := sealedBolt(t)
	ctx := context.Background()
	var subs []central.Submission
	for _, id := range []string{"sub-1", "sub-2", "sub-3"} {
		subs = append(subs, personSubmission(t, store, id, erasureNIK))
	}
	other := personSubmission(t, store, "sub-other", otherNIK)
	tok, ok := store.Token(central.IdentNIK, erasureNIK)
	if !ok {
		t.Fatal("no token for the NIK")
	}
	e := central.Erasure{ID: "er-crashed", Status: central.ErasureQueued, Actor: "admin:ops", RequestedAt: time.Now().UTC(), Tokens: [][]byte{tok}}
	if err := store.AddErasure(ctx, e, false); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StartErasure(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if err := store.EraseSubmission(ctx, e.ID, central.SubmissionRef{DeviceID: subs[0].DeviceID, Key: subs[0].Key}); err != nil {
		t.Fatal(err)
	}

	c := start(t, central.Config{Store: store})
	var got central.Erasure
	waitFor(t, time.Minute, func() bool {
		resp, _ := c.admin(t, "GET", "/admin/v1/erasures/"+e.ID, nil, &got)
		return resp.StatusCode == 200 && got.Status.Finished()
	})
	if got.Status != central.ErasureDone || got.Erased != 3 || got.Attempts != 2 {
		t.Errorf("the resumed erasure = %+v; want done, 3 erased in 2 attempts", got)
	}
	checkErased(t, store, subs, other, e.ID, 3)
}

// waitFor polls cond every 20 ms until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("condition not met within %v", timeout)
		}
	}
}

// startJobs starts a River client on pg's pool for the test and returns
// its completed and failed jobs; it is stopped when the test ends.
func startJobs(t *testing.T, pg *pgstore.Store, cfg jobs.Config) <-chan *river.Event {
	t.Helper()
	jc, err := pg.Jobs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events, cancelEvents := jc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	t.Cleanup(cancelEvents)
	if err := jc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		jc.Stop(stopCtx)
	})
	return events
}
