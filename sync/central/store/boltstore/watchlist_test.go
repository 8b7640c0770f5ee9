package boltstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// heldReader gives head, tells in when it has, then gives the rest once
// release is closed.
type heldReader struct {
	head, rest []byte
	in         chan struct{}
	release    chan struct{}
}

func (h *heldReader) Read(p []byte) (int, error) {
	if len(h.head) > 0 {
		n := copy(p, h.head)
		if h.head = h.head[n:]; len(h.head) == 0 {
			close(h.in)
		}
		return n, nil
	}
	<-h.release
	if len(h.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, h.rest)
	h.rest = h.rest[n:]
	return n, nil
}

// TestCreateWatchlistRace holds one upload creating a name after its
// check, while another creates the name whole: the held one, let go,
// publishes nothing and leaves none of its chunks. Before, the first
// version of a name was published unconditionally, and the held upload
// became version 2 without a second admin.
func TestCreateWatchlistRace(t *testing.T) {
	ctx := context.Background()
	s := open(t).(*Store)
	t.Cleanup(func() { s.Close() })
	event := func(w protocol.Watchlist) (central.AuditEvent, error) {
		return central.AuditEvent{ID: "create", Actor: "admin:token", Action: central.AuditWatchlistPublish, Subject: "watchlist:" + w.Name, Count: 1}, nil
	}
	held := &heldReader{head: []byte("FIRST\n"), rest: []byte("HELD\n"), in: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateWatchlist(ctx, "ofac", held, event)
		done <- err
	}()
	<-held.in // past its check, its list being read
	other := []byte("OTHER\n")
	if w, err := s.CreateWatchlist(ctx, "ofac", bytes.NewReader(other), event); err != nil || w.Version != 1 {
		t.Fatalf("the other create: %+v, %v; want version 1", w, err)
	}
	close(held.release)
	if err := <-done; !errors.Is(err, central.ErrWatchlistStale) {
		t.Fatalf("the held create: %v, want ErrWatchlistStale", err)
	}
	if w, data, err := s.Watchlist(ctx, "ofac"); err != nil || w.Version != 1 || !bytes.Equal(data, other) {
		t.Errorf("published: version %d %q, %v; want the other's version 1", w.Version, data, err)
	}
	var chunks int
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketWLChunks).ForEach(func(_, _ []byte) error { chunks++; return nil })
	})
	if err != nil || chunks != 1 {
		t.Errorf("%d chunks stored, %v; want the published list's one", chunks, err)
	}
}
