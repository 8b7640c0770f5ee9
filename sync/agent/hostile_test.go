package agent_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// TestBrokenAnswersKeepTheQueue plays a broken central (or whatever sits
// in front of it with its certificate) against the uploads: every answer
// below is something other than central saying it holds the submission.
// The device must keep each submission queued with its images, say what
// happened, and deliver everything once central answers properly again.
func TestBrokenAnswersKeepTheQueue(t *testing.T) {
	huge := bytes.Repeat([]byte(`{"complete":false,"received":{}}`), (20<<20)/32)
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
	}{
		{"200 with an error body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"code":"internal","message":"database is down"}`))
		}},
		{"200 with a proxy's HTML page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<html><body>Maintenance</body></html>`))
		}},
		{"200 with truncated JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"complete":tr`))
		}},
		{"200 with a body cut short of its length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte(`{"complete":true`))
		}},
		{"200 with a huge body", func(w http.ResponseWriter, r *http.Request) {
			w.Write(huge)
		}},
		{"204 without a body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}},
		{"redirect to plain http", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}},
		{"redirect to another host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://central.example"+r.URL.RequestURI(), http.StatusPermanentRedirect)
		}},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
		}},
		{"complete while images are missing", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"complete":true,"received":{"document":1,"selfie":0}}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			wrap := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if broken.Load() && isUpload(r) {
						tt.answer(w, r)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			r := newRig(t, synctest.CentralOptions{Wrap: wrap})
			clock := synctest.NewClock(time.Now())
			v := r.openVault(t, vault.Options{Now: clock.Now})
			subs := capture(t, v, r.id, 0, 2, 10<<10)
			a := agent.New(r.uploader(t, agent.Config{RetryMax: 1}), v, agent.Options{Now: clock.Now})
			ctx := context.Background()
			p, err := a.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p.Synced != 0 || p.Rejected != 0 || p.QueueDepth != len(subs) || p.LastError == "" {
				t.Fatalf("pass against a broken central: %+v; want everything queued and a reason", p)
			}
			for _, s := range subs {
				got, err := v.GetSubmission(ctx, s.ID)
				if err != nil {
					t.Fatalf("submission %s after a broken answer: %v", s.ID, err)
				}
				if len(got.Images) != len(s.Images) {
					t.Errorf("submission %s lost its images after a broken answer", s.ID)
				}
			}
			broken.Store(false)
			clock.Advance(2 * time.Hour)
			drain(t, a, clock, 5)
			synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
		})
	}
}

// TestDrippingAnswerIsSaid: central answers an upload and then sends its
// body a byte at a time for ever. The attempt ends at its deadline, the
// submissions stay queued with their images, and the device says that
// the answer was too slow, not a bare "context canceled".
func TestDrippingAnswerIsSaid(t *testing.T) {
	var dripping atomic.Bool
	wrap := answerUploadsWhile(&dripping, func(_ http.Handler, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"complete":`))
		drip(w, r, " ")
	})
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 2, 10<<10)
	a := agent.New(r.uploader(t, agent.Config{RetryMax: 1, Timeout: 300 * time.Millisecond}), v, agent.Options{Now: clock.Now})
	dripping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := a.RunOnce(ctx)
	if err != nil || ctx.Err() != nil {
		t.Fatalf("a pass against a dripping answer: %v (%v)", err, ctx.Err())
	}
	if p.Synced != 0 || p.QueueDepth != len(subs) || !strings.Contains(p.LastError, "did not arrive whole within") {
		t.Fatalf("pass against a dripping answer: %+v; want everything queued and the answer said too slow", p)
	}
	for _, s := range subs {
		if got, err := v.GetSubmission(ctx, s.ID); err != nil || len(got.Images) != len(s.Images) {
			t.Errorf("submission %s after a dripping answer: %v, %d images", s.ID, err, len(got.Images))
		}
	}
}

// TestHostileAnswersBesideUploads plays a hostile central at the device's
// other exchanges (configuration, reviews, status): a redirect to
// another path (the device's signature must not follow it), a body
// dripped for ever, a body of deep nesting or of megabytes, an answer in
// another content type. Each pass ends by the attempt's deadline, not
// the drip's; nothing is fetched elsewhere; the configuration in use and
// the review cursor stay as they were; and the uploads still go through.
func TestHostileAnswersBesideUploads(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	paths := []string{protocol.PathConfig, protocol.PathReviews, protocol.PathStatus}
	answers := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
	}{
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}},
		{"drip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"reviews":[`))
			drip(w, r, " ")
		}},
		{"deep nesting", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(deep)) }},
		{"megabytes", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"reviews":[`))
			w.Write(bytes.Repeat([]byte(`{"submission_id":"x","state":"decided","seq":1},`), (20<<20)/48))
		}},
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<html>login</html>`))
		}},
	}
	for _, path := range paths {
		for _, tt := range answers {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				var elsewhere atomic.Int64
				wrap := func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						switch {
						case r.URL.Path == "/elsewhere":
							elsewhere.Add(1)
							w.Write([]byte(`{}`))
						case r.URL.Path == path:
							tt.answer(w, r)
						default:
							next.ServeHTTP(w, r)
						}
					})
				}
				r := newRig(t, synctest.CentralOptions{Wrap: wrap})
				v := r.openVault(t, vault.Options{})
				subs := capture(t, v, r.id, 0, 2, 2000)
				a := agent.New(r.uploader(t, agent.Config{RetryMax: 1, Timeout: 300 * time.Millisecond}), v, agent.Options{ConfigDir: t.TempDir()})
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				start := time.Now()
				p, err := a.RunOnce(ctx)
				if err != nil || ctx.Err() != nil {
					t.Fatalf("pass: %v (%v)", err, ctx.Err())
				}
				if took := time.Since(start); took > 15*time.Second {
					t.Errorf("the pass took %v", took)
				}
				if p.Synced != len(subs) {
					t.Errorf("pass %+v; want the uploads through", p)
				}
				if path != protocol.PathStatus && p.Err == nil {
					t.Errorf("pass %+v; want the broken answer said", p)
				}
				if n := elsewhere.Load(); n != 0 {
					t.Errorf("%d requests followed the redirect", n)
				}
				if c, err := v.ReviewCursor(ctx); err != nil || c != 0 {
					t.Errorf("review cursor %d, %v; want it where it was", c, err)
				}
			})
		}
	}
}
