package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// countingReader counts the reads of r.
type countingReader struct {
	r     io.Reader
	reads atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.r.Read(p)
}

// createEvent is the event a test's CreateWatchlist appends.
func createEvent(w protocol.Watchlist) (central.AuditEvent, error) {
	after, err := json.Marshal(w)
	return central.AuditEvent{ID: "create-" + w.Name, At: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC), Actor: "admin:token",
		Action: central.AuditWatchlistPublish, Subject: "watchlist:" + w.Name, Count: 1, After: after}, err
}

// testWatchlistCreate: the first version of a name is published with its
// event; once the name is published, CreateWatchlist is ErrWatchlistStale
// without reading its list, publishing or appending anything.
func testWatchlistCreate(t *testing.T, s central.Store) {
	ctx := context.Background()
	const name = "un.list.json.gz"
	v1 := listBytes(1, 1<<20+5) // over one of the stores' chunks
	w, err := s.CreateWatchlist(ctx, name, bytes.NewReader(v1), createEvent)
	if err != nil || w.Version != 1 || w.Size != int64(len(v1)) {
		t.Fatalf("CreateWatchlist of a new name = %+v, %v; want version 1", w, err)
	}
	evs, err := s.Audit(ctx, central.AuditFilter{Subject: "watchlist:" + name})
	if err != nil || len(evs) != 1 || evs[0].Action != central.AuditWatchlistPublish {
		t.Fatalf("events of the create: %+v, %v; want its one", evs, err)
	}
	again := &countingReader{r: bytes.NewReader(listBytes(2, 100))}
	if _, err := s.CreateWatchlist(ctx, name, again, createEvent); !errors.Is(err, central.ErrWatchlistStale) {
		t.Fatalf("CreateWatchlist of a published name = %v, want ErrWatchlistStale", err)
	}
	if n := again.reads.Load(); n != 0 {
		t.Errorf("CreateWatchlist of a published name read its list %d times, want none", n)
	}
	got, data, err := s.Watchlist(ctx, name)
	if err != nil || got.Version != 1 || !bytes.Equal(data, v1) {
		t.Errorf("after a refused create: version %d, %d bytes, %v; want version 1 unchanged", got.Version, len(data), err)
	}
	if evs, _ := s.Audit(ctx, central.AuditFilter{Subject: "watchlist:" + name}); len(evs) != 1 {
		t.Errorf("a refused create left %d events, want the first's only", len(evs))
	}
}

// testWatchlistCreateRace: uploads racing to create one name, let go at
// once, publish one list as version 1; every other is ErrWatchlistStale
// and leaves no event. (Stores differ in where the race is decided, so
// the store's own tests hold a racer at the point its store decides.)
func testWatchlistCreateRace(t *testing.T, s central.Store) {
	ctx := context.Background()
	const name, racers = "pep.list.json.gz", 4
	lists := make([][]byte, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		lists[i] = listBytes(uint64(10+i), 3000+i)
		wg.Go(func() {
			<-start
			_, errs[i] = s.CreateWatchlist(ctx, name, bytes.NewReader(lists[i]), createEvent)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("racers %d and %d both published %s", winner, i, name)
		case !errors.Is(err, central.ErrWatchlistStale):
			t.Fatalf("racer %d: %v, want ErrWatchlistStale", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer published")
	}
	w, data, err := s.Watchlist(ctx, name)
	if err != nil || w.Version != 1 || !bytes.Equal(data, lists[winner]) {
		t.Errorf("published: version %d, %v; want the winner's list as version 1", w.Version, err)
	}
	if evs, _ := s.Audit(ctx, central.AuditFilter{Subject: "watchlist:" + name}); len(evs) != 1 {
		t.Errorf("%d events, want the winner's only", len(evs))
	}
}
