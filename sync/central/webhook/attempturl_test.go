package webhook

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// secretWord is the token the tests' partner URLs carry.
const secretWord = "SECRETtok3n"

// quotingSender posts to its URL and returns a failure with the request's
// error quoted as text (%v), as a library may (oauth2 does for some): the
// url.Error's full URL is then in the text, out of transportError's reach.
type quotingSender struct{ url string }

func (q quotingSender) Send(ctx context.Context, _ central.Partner, _ central.WebhookEvent, _ time.Time) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("getting the token: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, "", nil
}

// TestAttemptErrorsNameNoURL: an attempt that fails before an answer (a
// closed port, a TLS server whose certificate is not trusted, a Sender
// quoting its request's URL) keeps its error with no URL's path, query
// or user info: the partner's token is neither in the stored attempt nor
// in the admin API's answer, on both stores.
func TestAttemptErrorsNameNoURL(t *testing.T) {
	eachStore(t, func(t *testing.T, st central.Store) {
		ctx := context.Background()
		clk := newClock()
		secret, _ := NewSecret()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
		tlsSrv.StartTLS()
		t.Cleanup(tlsSrv.Close)
		path := "/hook/" + secretWord + "?token=" + secretWord + "#" + secretWord
		want := map[string]string{
			"closed": "connection refused",
			"tls":    "certificate",
			"sender": "http://" + closed, // the origin stays: which endpoint failed
		}
		addPartner(t, st, "closed", "http://"+closed+path, nil, secret)
		addPartner(t, st, "tls", tlsSrv.URL+path, nil, secret)
		addPartner(t, st, "sender", "", nil)
		for p := range want {
			ev := event(t, p, "s1", "evt_"+p, clk.Now())
			if p == "sender" {
				ev.Type = "push.submission"
			}
			if err := st.AppendEvents(ctx, []central.WebhookEvent{ev}); err != nil {
				t.Fatal(err)
			}
		}
		w := newWorker(t, st, clk, func(c *Config) {
			c.Senders = map[string]Sender{"push.": quotingSender{"http://user:" + secretWord + "@" + closed + path}}
		})
		if n, err := w.RunOnce(ctx); err != nil || n != len(want) {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		mux := http.NewServeMux()
		x := &httpx.Responder{}
		(&Admin{Store: st}).Mount(func(pattern string, h httpx.HandlerFunc) bool { mux.Handle(pattern, x.Handle(h)); return true })
		admin := httptest.NewServer(mux)
		t.Cleanup(admin.Close)
		for p, w := range want {
			as, err := st.Attempts(ctx, "evt_"+p)
			if err != nil || len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Excerpt, w) {
				t.Errorf("%s: attempts %+v, %v; want an error with %q", p, as, err, w)
			}
			if s := fmt.Sprintf("%+v", as); strings.Contains(s, secretWord) {
				t.Errorf("%s: the stored attempt carries the URL's token: %s", p, s)
			}
			resp, err := http.Get(admin.URL + "/admin/v1/events/evt_" + p + "/attempts")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), w) || strings.Contains(string(body), secretWord) {
				t.Errorf("%s: admin answer %d %s, %v; want the error without %q", p, resp.StatusCode, body, err, secretWord)
			}
		}
	})
}
