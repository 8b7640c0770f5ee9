package agent_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/vault"
)

// TestClockOutsideCertificate: a device whose clock reads a date outside
// central's certificate (a dead CMOS battery's 2000-01-01, a clock set
// years ahead) gets real TLS refused. The pass says so in words, with the
// certificate's validity, not that someone is in between; nothing is
// lost, and once the clock is right everything is delivered.
func TestClockOutsideCertificate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock time.Time
	}{
		{"dead CMOS battery", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"years ahead", time.Now().AddDate(5, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, synctest.CentralOptions{})
			pem, err := os.ReadFile(filepath.Join(r.central.TLSDir, pki.ServerCertFile))
			if err != nil {
				t.Fatal(err)
			}
			certs, err := pki.ParseCertificates(pem)
			if err != nil {
				t.Fatal(err)
			}
			notBefore := certs[0].NotBefore.UTC().Format("2006-01-02 15:04")
			clock := synctest.NewClock(tc.clock)
			v := r.openVault(t, vault.Options{Now: clock.Now})
			subs := capture(t, v, r.id, 0, 3, 1000)
			a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{Now: clock.Now})

			p, err := a.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var cte *identity.CertificateTimeError
			if !errors.Is(p.Err, agent.ErrClockWrong) || errors.Is(p.Err, agent.ErrUntrusted) || !errors.As(p.Err, &cte) {
				t.Fatalf("pass error %v, want ErrClockWrong with the certificate's dates", p.Err)
			}
			for _, words := range []string{"clock reads " + tc.clock.Format("2006-01-02"), notBefore, "set the device's date and time", "stay queued"} {
				if !strings.Contains(p.LastError, words) {
					t.Errorf("the operator reads %q, which does not say %q", p.LastError, words)
				}
			}
			if p.Synced != 0 || p.QueueDepth != len(subs) || p.RejectedTotal != 0 {
				t.Errorf("pass %+v, want all %d still queued", p.Summary, len(subs))
			}

			clock.Set(time.Now()) // the clock is put right
			drain(t, a, clock, 5)
			synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
		})
	}
}

// TestClockDaysAhead: a device clock three days fast, within central's
// certificate but beyond the day the agent corrects: every request is
// refused stale, and the pass says how far off the clock is and that a
// person must set it; nothing is lost, and once the clock is right
// everything is delivered.
func TestClockDaysAhead(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now().Add(72 * time.Hour))
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 2, 1000)
	a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{Now: clock.Now})
	p, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(p.Err, agent.ErrClockSkew) {
		t.Fatalf("pass error %v, want ErrClockSkew", p.Err)
	}
	for _, words := range []string{"72h0m", "ahead of central's clock", "set the device's date and time", "stay queued"} {
		if !strings.Contains(p.LastError, words) {
			t.Errorf("the operator reads %q, which does not say %q", p.LastError, words)
		}
	}
	if p.QueueDepth != len(subs) || p.RejectedTotal != 0 {
		t.Errorf("pass %+v, want all %d still queued", p.Summary, len(subs))
	}
	clock.Set(time.Now())
	drain(t, a, clock, 5)
	synctest.CheckDelivered(t, r.store, r.id.DeviceID(), subs)
}

// TestRetentionWithWrongClock: records are dated by the device's clock.
// A clock that jumps forty days ahead after they were written (central's
// answers say how far) does not shred delivered records a minute old by
// central's clock, online or offline after; a clock five years ahead,
// outside central's certificate (wrong by an amount no answer tells),
// postpones the sweep. The records stay either way.
func TestRetentionWithWrongClock(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 2, 1000)
	a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{Now: clock.Now, Retention: 30 * 24 * time.Hour, RetentionEvery: time.Hour})
	if p, err := a.RunOnce(ctx); err != nil || p.Synced != len(subs) || p.Swept != 0 {
		t.Fatalf("first pass %+v, %v; want both delivered, none swept", p, err)
	}
	kept := func(when string) {
		t.Helper()
		for _, s := range subs {
			if _, err := v.GetSubmission(ctx, s.ID); err != nil {
				t.Errorf("%s: %s: %v, want kept", when, s.ID, err)
			}
		}
	}
	offline := false
	for _, step := range []struct {
		name      string
		ahead     time.Duration
		offline   bool
		postponed bool
	}{
		{name: "forty days ahead", ahead: 40 * 24 * time.Hour},
		{name: "two hours on, offline", ahead: 2 * time.Hour, offline: true},
		{name: "five years ahead, outside the certificate", ahead: 5 * 365 * 24 * time.Hour, postponed: true},
	} {
		switch {
		case step.offline && !offline:
			r.central.Stop()
		case !step.offline && offline:
			r.restartCentral(t, synctest.CentralOptions{})
		}
		offline = step.offline
		clock.Advance(step.ahead)
		p, err := a.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.Swept != 0 || p.SweepPostponed != step.postponed {
			t.Errorf("%s: swept %d, postponed %v (%v); want none swept, postponed %v", step.name, p.Swept, p.SweepPostponed, p.Err, step.postponed)
		}
		kept(step.name)
	}
}

// TestAbsurdCentralDateKeepsRecords: central's Date says the year 1 (or
// 9999). The retention sweep ages records by central's clock as well as
// the device's, and must keep them: before, the offset from the year 1
// (the smallest Duration) less the retention wrapped round to centuries
// ahead, and the sweep shredded every delivered (and rejected) record at
// once.
func TestAbsurdCentralDateKeepsRecords(t *testing.T) {
	for _, date := range []string{"Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(date, func(t *testing.T) {
			ctx := context.Background()
			var absurd atomic.Bool
			wrap := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if absurd.Load() {
						w = &dateWriter{ResponseWriter: w, date: date}
					}
					next.ServeHTTP(w, r)
				})
			}
			r := newRig(t, synctest.CentralOptions{Wrap: wrap})
			clock := synctest.NewClock(time.Now())
			v := r.openVault(t, vault.Options{Now: clock.Now})
			subs := capture(t, v, r.id, 0, 2, 1000)
			a := agent.New(r.uploader(t, agent.Config{Now: clock.Now}), v, agent.Options{Now: clock.Now, Retention: 30 * 24 * time.Hour, RetentionEvery: time.Hour})
			if p, err := a.RunOnce(ctx); err != nil || p.Synced != len(subs) {
				t.Fatalf("first pass %+v, %v; want both delivered", p, err)
			}
			absurd.Store(true)
			clock.Advance(2 * time.Hour)
			p, err := a.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p.Swept != 0 {
				t.Errorf("central dated %s: %d records swept two hours after delivery", date, p.Swept)
			}
			for _, s := range subs {
				if _, err := v.GetSubmission(ctx, s.ID); err != nil {
					t.Errorf("%s: %v, want kept", s.ID, err)
				}
			}
		})
	}
}

// dateWriter sets the Date header as the answer's header is written, over
// central's own.
type dateWriter struct {
	http.ResponseWriter
	date    string
	written bool
}

func (d *dateWriter) WriteHeader(code int) {
	if !d.written {
		d.written = true
		d.Header().Set("Date", d.date)
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *dateWriter) Write(b []byte) (int, error) {
	if !d.written {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(b)
}

// TestAbsurdCentralDateConfirmsNothingRecent: central's Date says the
// year 1 (or 9999) while its bundle is signed now. The offset is then the
// smallest (largest) Duration, and the lists' confirmation, moved onto the
// device's clock by it, must read as centuries old, the screening stale,
// never as fresh: for the year 1, -offset wraps round to the smallest
// Duration again, which moves the confirmation back, not ahead, and
// confirmedAsOf never dates it after the device's clock either way.
func TestAbsurdCentralDateConfirmsNothingRecent(t *testing.T) {
	for _, date := range []string{"Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(date, func(t *testing.T) {
			wrap := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					next.ServeHTTP(&dateWriter{ResponseWriter: w, date: date}, r)
				})
			}
			r := newRig(t, synctest.CentralOptions{Wrap: wrap})
			publish(t, r.central, "a", []byte("list a v1"))
			device := synctest.NewClock(time.Now())
			dir := filepath.Join(t.TempDir(), "config")
			if _, err := agent.SyncConfig(context.Background(), r.uploader(t, agent.Config{Now: device.Now}), dir); err != nil {
				t.Fatal(err)
			}
			got, err := agent.WatchlistsConfirmed(dir)
			if err != nil || got["a"].IsZero() {
				t.Fatalf("confirmed %v, %v; want a", got, err)
			}
			if age := device.Now().Sub(got["a"]); age < 100*365*24*time.Hour {
				t.Errorf("central dated %s: a confirmed %s, %s before the device's clock; want centuries (stale)", date, got["a"], age)
			}
		})
	}
}
