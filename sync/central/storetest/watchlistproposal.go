package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// testWatchlistProposal: a proposal's bytes are stored without being
// published; one pends per name (replaced by its own proposer or once
// expired, refused to anyone else); confirming publishes it as the next
// version only over its base and before it expires; deleting leaves the
// published list. Each change appends its event, a refused one none.
func testWatchlistProposal(t *testing.T, s central.Store) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	const name = "ofac.list.json.gz"
	v1 := listBytes(1, 1000)
	PublishWatchlist(t, s, name, v1)
	events := func() int {
		t.Helper()
		evs, err := s.Audit(ctx, central.AuditFilter{Subject: "watchlist:" + name})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) - 1 // but version 1's publication
	}
	event := func(p central.WatchlistProposal) (central.AuditEvent, error) {
		after, err := json.Marshal(p)
		return central.AuditEvent{ID: fmt.Sprint(p.At.UnixNano(), p.ID), At: p.At, Actor: p.Proposer, Action: central.AuditWatchlistProposed,
			Subject: "watchlist:" + name, Count: 1, After: after}, err
	}
	ev := func(action string) central.AuditEvent {
		return central.AuditEvent{ID: action, At: now, Actor: "user:bob", Action: action, Subject: "watchlist:" + name, Count: 1}
	}
	proposeFrom := func(id, by string, base int64, at time.Time, r io.Reader) (central.WatchlistProposal, error) {
		return s.ProposeWatchlist(ctx, central.WatchlistProposal{Name: name,
			Proposal: central.Proposal{ID: id, Base: base, Proposer: by, At: at, ExpiresAt: at.Add(time.Hour)}}, r, event)
	}
	propose := func(id, by string, base int64, at time.Time, data []byte) (central.WatchlistProposal, error) {
		return proposeFrom(id, by, base, at, bytes.NewReader(data))
	}
	published := func() []byte {
		t.Helper()
		w, data, err := s.Watchlist(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if !bytes.Equal(w.SHA256, sum[:]) {
			t.Fatalf("published version %d's bytes do not match its digest", w.Version)
		}
		return data
	}
	pending := func() []central.WatchlistProposal {
		t.Helper()
		ps, err := s.WatchlistProposals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if ps := pending(); len(ps) != 0 {
		t.Fatalf("WatchlistProposals of a store without = %+v", ps)
	}

	short := listBytes(2, 100) // a one-entry list, say
	a, err := propose("a", "user:ada", 1, now, short)
	sum := sha256.Sum256(short)
	if err != nil || a.Size != int64(len(short)) || !bytes.Equal(a.SHA256, sum[:]) || events() != 1 {
		t.Fatalf("ProposeWatchlist = %+v, %v with %d events; want its size, digest and event", a, err, events())
	}
	if !bytes.Equal(published(), v1) {
		t.Error("a proposal changed the published list")
	}
	if ps := pending(); len(ps) != 1 || ps[0].ID != "a" || ps[0].Name != name || ps[0].Size != a.Size {
		t.Errorf("WatchlistProposals = %+v, want a", ps)
	}
	// Refused, it is refused before its list is read: nothing of it is
	// written.
	refused := &countingReader{r: bytes.NewReader(listBytes(3, 50))}
	if _, err := proposeFrom("b", "user:bob", 1, now, refused); !errors.Is(err, central.ErrProposalPending) || events() != 1 {
		t.Errorf("another proposer's ProposeWatchlist = %v with %d events, want ErrProposalPending and no event", err, events())
	}
	if n := refused.reads.Load(); n != 0 {
		t.Errorf("a refused ProposeWatchlist read its list %d times, want none", n)
	}
	v2 := listBytes(4, 1<<20+77) // over one of the stores' chunks
	if _, err := propose("a2", "user:ada", 1, now, v2); err != nil || events() != 2 {
		t.Fatalf("the proposer's new ProposeWatchlist = %v with %d events, want it replaced", err, events())
	}
	for _, tc := range []struct {
		id  string
		now time.Time
	}{{"a", now}, {"a2", now.Add(time.Hour)}} {
		if _, err := s.ConfirmWatchlistProposal(ctx, name, tc.id, tc.now, ev(central.AuditWatchlistConfirmed)); !errors.Is(err, central.ErrNotFound) {
			t.Errorf("ConfirmWatchlistProposal(%s at %v) = %v, want ErrNotFound (replaced or expired)", tc.id, tc.now, err)
		}
	}
	if !bytes.Equal(published(), v1) || events() != 2 {
		t.Fatal("a refused confirm changed the published list or left an event")
	}
	w, err := s.ConfirmWatchlistProposal(ctx, name, "a2", now, ev(central.AuditWatchlistConfirmed))
	if err != nil || w.Version != 2 || w.Size != int64(len(v2)) || events() != 3 {
		t.Fatalf("ConfirmWatchlistProposal = %+v, %v with %d events; want version 2 and its event", w, err, events())
	}
	if !bytes.Equal(published(), v2) || len(pending()) != 0 {
		t.Fatal("the confirmed proposal is not the published list, or still pending")
	}

	// A proposal over version 1 is stale once 2 is published: kept,
	// not published; declined, its bytes go and the list stays.
	if _, err := propose("c", "user:bob", 1, now, short); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmWatchlistProposal(ctx, name, "c", now, ev(central.AuditWatchlistConfirmed)); !errors.Is(err, central.ErrWatchlistStale) || len(pending()) != 1 {
		t.Errorf("ConfirmWatchlistProposal of a stale proposal = %v, want ErrWatchlistStale and it kept", err)
	}
	if err := s.DeleteWatchlistProposal(ctx, name, "a", ev(central.AuditWatchlistDeclined)); !errors.Is(err, central.ErrNotFound) {
		t.Errorf("DeleteWatchlistProposal of another id = %v, want ErrNotFound", err)
	}
	if err := s.DeleteWatchlistProposal(ctx, name, "c", ev(central.AuditWatchlistDeclined)); err != nil || len(pending()) != 0 || events() != 5 {
		t.Fatalf("DeleteWatchlistProposal = %v with %d events, %d pending", err, events(), len(pending()))
	}
	if !bytes.Equal(published(), v2) {
		t.Error("a declined proposal changed the published list")
	}
	// An expired proposal is replaced by anyone's.
	if _, err := propose("d", "user:ada", 2, now, short); err != nil {
		t.Fatal(err)
	}
	e, err := propose("e", "user:bob", 2, now.Add(2*time.Hour), v1)
	if err != nil {
		t.Fatalf("ProposeWatchlist over an expired proposal = %v", err)
	}
	if w, err := s.ConfirmWatchlistProposal(ctx, name, "e", now.Add(2*time.Hour), ev(central.AuditWatchlistConfirmed)); err != nil || w.Version != 3 || !bytes.Equal(w.SHA256, e.SHA256) {
		t.Fatalf("ConfirmWatchlistProposal(e) = %+v, %v", w, err)
	}
	_, rc, err := s.OpenWatchlist(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, v1) {
		t.Errorf("OpenWatchlist after the last confirm read %d bytes, %v; want e's", len(got), err)
	}
}

// PublishWatchlist publishes data as the next version of name the way
// the console does: CreateWatchlist for the first, a proposal confirmed
// by a second admin for a later one. It returns the published version.
func PublishWatchlist(t testing.TB, s central.Store, name string, data []byte) protocol.Watchlist {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	ev := func(action string, version int64) central.AuditEvent {
		return central.AuditEvent{ID: fmt.Sprintf("%s-%s-%d-%d", action, name, version, now.UnixNano()), At: now,
			Actor: "user:storetest", Action: action, Subject: "watchlist:" + name, Count: 1}
	}
	ws, err := s.Watchlists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var base int64
	for _, w := range ws {
		if w.Name == name {
			base = w.Version
		}
	}
	if base == 0 {
		w, err := s.CreateWatchlist(ctx, name, bytes.NewReader(data), func(protocol.Watchlist) (central.AuditEvent, error) {
			return ev(central.AuditWatchlistPublish, 1), nil
		})
		if err != nil {
			t.Fatalf("CreateWatchlist(%s): %v", name, err)
		}
		return w
	}
	p := central.WatchlistProposal{Name: name, Proposal: central.Proposal{ID: fmt.Sprint("publish-", base+1, "-", now.UnixNano()),
		Base: base, Proposer: "user:storetest", At: now, ExpiresAt: now.Add(time.Hour)}}
	if _, err := s.ProposeWatchlist(ctx, p, bytes.NewReader(data), func(central.WatchlistProposal) (central.AuditEvent, error) {
		return ev(central.AuditWatchlistProposed, base+1), nil
	}); err != nil {
		t.Fatalf("ProposeWatchlist(%s): %v", name, err)
	}
	w, err := s.ConfirmWatchlistProposal(ctx, name, p.ID, now, ev(central.AuditWatchlistConfirmed, base+1))
	if err != nil {
		t.Fatalf("ConfirmWatchlistProposal(%s): %v", name, err)
	}
	return w
}
