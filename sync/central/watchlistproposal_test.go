package central_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/centraltest"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// deviceList is the version of watchlist name in d's configuration and
// the bytes d downloads of it.
func (d *dev) deviceList(t *testing.T, name string) (int64, []byte) {
	t.Helper()
	var v int64
	for _, w := range d.config(t).Watchlists {
		if w.Name == name {
			v = w.Version
		}
	}
	resp, _ := d.do(t, http.MethodGet, protocol.WatchlistPath(name), nil, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("downloading %s: %d %v", name, resp.StatusCode, err)
	}
	return v, b
}

// TestWatchlistReplacementIsFourEyes: one admin (here the admin API's
// token, for its owner) cannot replace a published sanctions list alone: the replacement
// is answered 202 with a proposal, devices keep screening against the
// published list, its proposer cannot confirm or decline it, and only
// another admin's confirm publishes it. A declined proposal leaves the
// published list; another proposer's is refused while one is pending.
// A new list name is published at once.
func TestWatchlistReplacementIsFourEyes(t *testing.T) {
	ctx := context.Background()
	store := openBolt(t)
	c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
	d := c.enrol(t)
	full := []byte("SITI NURHALIZA\nJOHN DOE\n")
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/ofac", full, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("publishing a new list: %d %+v", resp.StatusCode, e)
	}
	oneEntry := []byte("NOBODY\n")
	var p central.WatchlistProposal
	resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/ofac?reason=trim", oneEntry, &p)
	if resp.StatusCode != http.StatusAccepted || p.ID == "" || p.Name != "ofac" || p.Base != 1 || p.Size != int64(len(oneEntry)) ||
		p.Reason != "trim" || p.Proposer != "user:"+tokenOwner {
		t.Fatalf("replacing the list: %d %+v %+v", resp.StatusCode, e, p)
	}
	if v, b := d.deviceList(t, "ofac"); v != 1 || !bytes.Equal(b, full) {
		t.Fatalf("a device got version %d (%q) before a second admin confirmed", v, b)
	}
	if _, err := c.Server.ConfirmWatchlist(ctx, p.Proposer, "ofac", p.ID); status(err) != http.StatusForbidden {
		t.Errorf("the proposer's confirm: %v, want 403", err)
	}
	if err := c.Server.DeclineWatchlist(ctx, p.Proposer, "ofac", p.ID, "no"); status(err) != http.StatusForbidden {
		t.Errorf("the proposer's decline: %v, want 403", err)
	}
	if _, _, err := c.Server.PublishWatchlist(ctx, "user:cy", "ofac", "", bytes.NewReader(full)); status(err) != http.StatusConflict {
		t.Errorf("another proposer's replacement while one is pending: %v, want 409", err)
	}
	wl, err := c.Server.ConfirmWatchlist(ctx, "user:bob", "ofac", p.ID)
	if err != nil || wl.Version != 2 {
		t.Fatalf("bob's confirm: %+v, %v", wl, err)
	}
	if v, b := d.deviceList(t, "ofac"); v != 2 || !bytes.Equal(b, oneEntry) {
		t.Errorf("after the confirm a device has version %d (%q), want 2", v, b)
	}

	_, q, err := c.Server.PublishWatchlist(ctx, "user:ada", "ofac", "", bytes.NewReader(full))
	if err != nil || q == nil {
		t.Fatalf("ada's proposal: %+v, %v", q, err)
	}
	if err := c.Server.DeclineWatchlist(ctx, "user:bob", "ofac", q.ID, "keep it"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Server.ConfirmWatchlist(ctx, "user:cy", "ofac", q.ID); status(err) != http.StatusNotFound {
		t.Errorf("confirming a declined proposal: %v, want 404", err)
	}
	if v, b := d.deviceList(t, "ofac"); v != 2 || !bytes.Equal(b, oneEntry) {
		t.Errorf("after the decline a device has version %d (%q), want 2 unchanged", v, b)
	}
	for action, n := range map[string]int{central.AuditWatchlistPublish: 1, central.AuditWatchlistProposed: 2,
		central.AuditWatchlistConfirmed: 1, central.AuditWatchlistDeclined: 1} {
		if evs, err := store.Audit(ctx, central.AuditFilter{Action: action, Subject: "watchlist:ofac"}); err != nil || len(evs) != n {
			t.Errorf("%s: %d events, want %d (%v)", action, len(evs), n, err)
		}
	}
}

// TestWatchlistProposalExpires: a watchlist proposal not confirmed within
// the proposal TTL cannot be confirmed, and anyone may propose in its
// place.
func TestWatchlistProposalExpires(t *testing.T) {
	ctx := context.Background()
	clk := &centraltest.Clock{}
	store := openBolt(t)
	srv := start(t, central.Config{Store: store, Now: clk.Now, RiskProposalTTL: time.Hour}).Server
	if _, _, err := srv.PublishWatchlist(ctx, "user:ada", "un", "", strings.NewReader("A\nB\n")); err != nil {
		t.Fatal(err)
	}
	_, p, err := srv.PublishWatchlist(ctx, "user:ada", "un", "", strings.NewReader("A\n"))
	if err != nil || p == nil {
		t.Fatalf("proposal: %+v, %v", p, err)
	}
	clk.Advance(time.Hour)
	if _, err := srv.ConfirmWatchlist(ctx, "user:bob", "un", p.ID); status(err) != http.StatusNotFound {
		t.Errorf("confirming an expired proposal: %v, want 404", err)
	}
	if w, _, err := store.Watchlist(ctx, "un"); err != nil || w.Version != 1 {
		t.Errorf("after the expired confirm: %+v, %v; want version 1", w, err)
	}
	if _, q, err := srv.PublishWatchlist(ctx, "user:cy", "un", "", strings.NewReader("C\n")); err != nil || q == nil {
		t.Errorf("a proposal in place of an expired one: %+v, %v", q, err)
	}
}

// listingStore tells on listed each time Watchlists has answered.
type listingStore struct {
	central.Store
	listed chan struct{}
}

func (s *listingStore) Watchlists(ctx context.Context) ([]protocol.Watchlist, error) {
	ws, err := s.Store.Watchlists(ctx)
	s.listed <- struct{}{}
	return ws, err
}

// heldReader gives head, closes in, then gives nothing more until
// release is closed.
type heldReader struct {
	head        []byte
	in, release chan struct{}
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
	return 0, io.EOF
}

// TestNewWatchlistRace: two uploads of a name nobody published, both
// past the check that finds it new, publish one version 1; the other is
// 409 watchlist_stale, published neither over it nor as a proposal.
// Before, the first version was published whatever was published
// meanwhile, so the slower upload replaced the list without a second
// admin.
func TestNewWatchlistRace(t *testing.T) {
	ctx := context.Background()
	store := &listingStore{Store: openBolt(t), listed: make(chan struct{}, 4)}
	srv := start(t, central.Config{Store: store}).Server
	held := &heldReader{head: []byte("HELD\n"), in: make(chan struct{}), release: make(chan struct{})}
	heldErr := make(chan error, 1)
	go func() {
		_, _, err := srv.PublishWatchlist(ctx, "user:ada", "ofac", "", held)
		heldErr <- err
	}()
	<-store.listed // ofac is new to it
	<-held.in      // and its list is being stored
	other := []byte("OTHER\n")
	otherDone := make(chan error, 1)
	go func() {
		wl, p, err := srv.PublishWatchlist(ctx, "user:bob", "ofac", "", bytes.NewReader(other))
		if err == nil && (p != nil || wl.Version != 1) {
			t.Errorf("the other upload: %+v, proposal %+v; want version 1 published", wl, p)
		}
		otherDone <- err
	}()
	<-store.listed // ofac is new to the other too
	if err := <-otherDone; err != nil {
		t.Fatalf("the other upload: %v", err)
	}
	close(held.release)
	var he *httpx.Error
	if err := <-heldErr; !errors.As(err, &he) || he.Status != http.StatusConflict || he.Code != "watchlist_stale" {
		t.Fatalf("the held upload: %v, want 409 watchlist_stale", err)
	}
	if w, data, err := store.Watchlist(ctx, "ofac"); err != nil || w.Version != 1 || !bytes.Equal(data, other) {
		t.Errorf("published: version %d %q, %v; want the other's version 1", w.Version, data, err)
	}
	if ps, _ := srv.PendingWatchlists(ctx); len(ps) != 0 {
		t.Errorf("the held upload became a proposal: %+v", ps)
	}
	if evs, _ := store.Audit(ctx, central.AuditFilter{Subject: "watchlist:ofac"}); len(evs) != 1 || evs[0].Actor != "user:bob" {
		t.Errorf("events: %+v, want the other's publish only", evs)
	}
}
