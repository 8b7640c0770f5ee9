package webhook

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// tlsReceiver is a partner's endpoint on loopback TLS that records each
// request; client is an outbound client (httpx.OutboundTransport, so the
// address checks hold) trusting its certificate.
func tlsReceiver(t *testing.T, h http.HandlerFunc) (srv *httptest.Server, client *http.Client) {
	t.Helper()
	srv = httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	tr := httpx.OutboundTransport()
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestSecondRotationKeepsTheOldestInItsOverlap: a partner rotates its
// webhook secret (24 h overlap) and, an hour later, again: a receiver
// still on the first secret had 23 h left, and the events delivered (over
// real TLS, through the partner API's sealing) still verify with it, as
// with the other two; its overlap ends when the first rotation said. More
// rotations keep at most 3, dropping the one
// whose overlap ends first.
func TestSecondRotationKeepsTheOldestInItsOverlap(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := newClock()
	got := make(chan received, 16)
	srv, client := tlsReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
		got <- received{ID: r.Header.Get(HeaderID), Sig: r.Header.Get(HeaderSignature), Body: body, At: time.Unix(ts, 0)}
		w.WriteHeader(http.StatusNoContent)
	})
	key := make([]byte, partnerapi.SecretKeySize)
	rand.Read(key)
	api, err := partnerapi.New(partnerapi.Config{Store: st, SecretKey: key, PublicURL: "https://central.example", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.CreatePartner(ctx, "test", partnerapi.NewPartner{Name: "Acme", WebhookURL: srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	pid := c.Partner.ID
	secrets := []string{c.WebhookSecret}
	rotate := func(overlap time.Duration) {
		t.Helper()
		r, err := api.RotateWebhookSecret(ctx, "test", pid, overlap)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, r.Secret)
	}
	rotate(24 * time.Hour) // the first secret ends in 24 h
	clk.Advance(time.Hour)
	rotate(time.Minute) // the second in a minute
	w := newWorker(t, st, clk, func(cfg *Config) {
		cfg.Client = client
		cfg.Open = func(pid string, sealed []byte) ([]byte, error) {
			s, err := partnerapi.OpenWebhookSecret(key, pid, sealed)
			return []byte(s), err
		}
	})
	n := 0
	deliver := func() received {
		t.Helper()
		n++
		id := fmt.Sprintf("evt_%d", n)
		if err := st.AppendEvents(ctx, []central.WebhookEvent{event(t, pid, "s"+id, id, clk.Now())}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			return g
		default:
			as, _ := st.Attempts(ctx, id)
			t.Fatalf("%s not delivered: %+v", id, as)
			return received{}
		}
	}
	// verifies reports which of the secrets verify g: one of its
	// signatures is the secret's (Verify would also hold the timestamp
	// to the real clock, which the test's has left behind).
	verifies := func(g received) []bool {
		if g.At.Unix() != clk.Now().Unix() {
			t.Fatalf("webhook-timestamp %d, want the clock's %d", g.At.Unix(), clk.Now().Unix())
		}
		var ok []bool
		for _, s := range secrets {
			key, err := DecodeSecret(s)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := Sign([][]byte{key}, g.ID, g.At, g.Body)
			if err != nil {
				t.Fatal(err)
			}
			ok = append(ok, strings.Contains(" "+g.Sig+" ", " "+sig+" "))
		}
		return ok
	}
	if g, want := deliver(), "[true true true]"; fmt.Sprint(verifies(g)) != want || len(strings.Fields(g.Sig)) != 3 {
		t.Fatalf("after two rotations the secrets verifying are %v (signatures %q), want %s: a receiver still on the first fails",
			verifies(g), g.Sig, want)
	}
	clk.Advance(2 * time.Minute) // the second's overlap is over
	if g, want := deliver(), "[true false true]"; fmt.Sprint(verifies(g)) != want {
		t.Errorf("after the second's overlap: %v, want %s", verifies(g), want)
	}
	rotate(12 * time.Hour) // the third ends in 12 h, the first in about 23 h
	rotate(6 * time.Hour)  // past the bound: the fourth, ending in 6 h, goes at once
	if g, want := deliver(), "[true false true false true]"; fmt.Sprint(verifies(g)) != want || len(strings.Fields(g.Sig)) != partnerapi.MaxWebhookSecrets {
		t.Errorf("past the bound: %v (%d signatures), want %s", verifies(g), len(strings.Fields(g.Sig)), want)
	}
	clk.Advance(23 * time.Hour) // the first's and the third's overlaps are over
	if g, want := deliver(), "[false false false false true]"; fmt.Sprint(verifies(g)) != want {
		t.Errorf("after every overlap: %v, want %s", verifies(g), want)
	}
}
