package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/central/store/pgstore"
	"github.com/openkyc/kyc/sync/internal/pgtest"
	"github.com/openkyc/kyc/sync/internal/synctest"
)

// fakeClock is a clock tests move by hand.
type fakeClock = synctest.Clock

func newClock() *fakeClock { return synctest.NewClock(time.Now().UTC().Truncate(time.Second)) }

func openStore(t testing.TB) central.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pg is one PostgreSQL server the package's tests share, started by the
// first test that needs it.
var pg pgtest.Lazy

func TestMain(m *testing.M) { pg.Main(m) }

// openPG opens a store on a new database of the shared server.
func openPG(t testing.TB) central.Store {
	t.Helper()
	dsn, err := pg.Server(t).NewDatabaseFrom(context.Background(), "migrated", pgstore.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs a test on each backend.
func eachStore(t *testing.T, f func(t *testing.T, st central.Store)) {
	for _, b := range []struct {
		name string
		open func(testing.TB) central.Store
	}{{"bolt", openStore}, {"postgres", openPG}} {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

// openPlain is the tests' Config.Open: secrets are "sealed" as themselves
// (the partner API's sealing has its own tests; the end-to-end test uses
// it).
func openPlain(_ string, sealed []byte) ([]byte, error) { return sealed, nil }

// addPartner records a partner with a webhook endpoint and secrets.
func addPartner(t testing.TB, st central.Store, id, url string, branches []string, secrets ...string) central.Partner {
	t.Helper()
	p := central.Partner{ID: id, Name: id, ClientID: "cli_" + id, Branches: branches, Webhook: central.WebhookEndpoint{URL: url},
		CreatedAt: time.Now().UTC()}
	for _, s := range secrets {
		p.Webhook.Secrets = append(p.Webhook.Secrets, central.WebhookSecret{Sealed: []byte(s), CreatedAt: p.CreatedAt})
	}
	if err := st.CreatePartner(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// setDisabled disables partner id, or enables it again, at at, as the
// partner API does (central.Partner.SetDisabled).
func setDisabled(t testing.TB, st central.Store, id string, disabled bool, at time.Time) {
	t.Helper()
	if _, err := st.UpdatePartner(context.Background(), id, func(p *central.Partner) error { p.SetDisabled(disabled, at); return nil }); err != nil {
		t.Fatal(err)
	}
}

// partnerReceiver records partner p1 with a new secret and a receiver of
// that secret answering what answer says (nil: 200) as its endpoint.
func partnerReceiver(t testing.TB, st central.Store, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, secret, answer)
	addPartner(t, st, "p1", rc.URL, nil, secret)
	return rc
}

// received is one request a receiver got.
type received struct {
	ID, Sig string
	Body    []byte
	Err     error // Verify's verdict with the receiver's secret
	At      time.Time
}

// receiver is a partner's webhook endpoint on loopback: it verifies each
// request with its secret and answers what answer says.
type receiver struct {
	URL    string
	secret string
	mu     sync.Mutex
	got    []received
	answer func(n int, r *http.Request) int // n counts requests from 0
	notify chan received
}

// newHangingReceiver is a receiver that holds every request until its
// client gives up or free is called (free runs at the test's cleanup too,
// and may be called more than once).
func newHangingReceiver(t testing.TB, secret string) (rc *receiver, free func()) {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	free = func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	return newReceiver(t, secret, func(_ int, r *http.Request) int {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return http.StatusOK
	}), free
}

func newReceiver(t testing.TB, secret string, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{secret: secret, answer: answer, notify: make(chan received, 1024)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g := received{ID: r.Header.Get(HeaderID), Sig: r.Header.Get(HeaderSignature), Body: body, At: time.Now(),
			Err: Verify(rc.secret, r.Header, body)}
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, g)
		rc.mu.Unlock()
		rc.notify <- g
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		w.WriteHeader(status)
		io.WriteString(w, "thanks")
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

// failFirst is a receiver's answer: status to the first n requests,
// then 204 (the endpoint recovered).
func failFirst(n, status int) func(int, *http.Request) int {
	return func(i int, _ *http.Request) int {
		if i < n {
			return status
		}
		return http.StatusNoContent
	}
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// wait returns the next request the receiver answered, failing after d.
func (rc *receiver) wait(t *testing.T, d time.Duration) received {
	t.Helper()
	select {
	case g := <-rc.notify:
		return g
	case <-time.After(d):
		t.Fatalf("no webhook within %v", d)
		return received{}
	}
}

// event makes an event of a session.
func event(t testing.TB, partnerID, sessionID, id string, at time.Time) central.WebhookEvent {
	t.Helper()
	ev, err := NewEvent(central.EventSubmissionCompleted, partnerID, sessionID, Data{SessionID: sessionID, Status: central.FlowCompleted}, at, id)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func newWorker(t *testing.T, st Store, clk *fakeClock, edit func(*Config)) *Worker {
	t.Helper()
	cfg := Config{Store: st, Open: openPlain, Now: clk.Now, Timeout: 2 * time.Second,
		Jitter: func(max time.Duration) time.Duration { return max }}
	if edit != nil {
		edit(&cfg)
	}
	w, err := NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func eventByID(t *testing.T, st central.Webhooks, partnerID, id string) central.WebhookEvent {
	t.Helper()
	evs, err := st.Events(context.Background(), partnerID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.ID == id {
			return ev
		}
	}
	t.Fatalf("no event %s", id)
	return central.WebhookEvent{}
}
