package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// publish puts a watchlist on central through the admin API (and a
// second admin's confirm, for a new version).
func publish(t *testing.T, c *synctest.Central, name string, data []byte) {
	t.Helper()
	c.PublishWatchlist(t, name, data)
}

// tamper rewrites the body of answers to GET requests whose path passes
// match, while on: a man in the middle, or a damaged cache.
type tamper struct {
	on    atomic.Bool
	match func(path string) bool
	edit  func(body []byte) []byte
	hits  atomic.Int64
}

func (tp *tamper) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tp.on.Load() || r.Method != http.MethodGet || tp.match == nil || !tp.match(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedWriter{header: http.Header{}, status: 200}
		next.ServeHTTP(rec, r)
		body := tp.edit(rec.body.Bytes())
		tp.hits.Add(1)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.status)
		w.Write(body)
	})
}

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// TestConfigOneBadListDoesNotBlockTheOthers: a list whose bytes do not
// match its signed descriptor is refused and reported; the others are
// installed; the bad one installs once its bytes are right. A list central
// withdraws is removed.
func TestConfigOneBadListDoesNotBlockTheOthers(t *testing.T) {
	tp := &tamper{match: func(p string) bool { return p == protocol.WatchlistPath("b") }}
	tp.edit = func(b []byte) []byte {
		b = bytes.Clone(b)
		b[0] ^= 1
		return b
	}
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap})
	u := r.uploader(t, agent.Config{})
	dir := filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c"} {
		publish(t, r.central, name, []byte("list "+name+" v1"))
	}
	tp.on.Store(true)
	res, err := agent.SyncConfig(ctx, u, dir)
	if !errors.Is(err, agent.ErrConfigPartial) || !strings.Contains(err.Error(), "b:") {
		t.Fatalf("SyncConfig with a tampered list = %v; want ErrConfigPartial naming b", err)
	}
	if tp.hits.Load() == 0 {
		t.Fatal("the list was not tampered with; the test proves nothing")
	}
	if !slices.Equal(slices.Sorted(slices.Values(res.Watchlists)), []string{"a", "c"}) || res.Failed["b"] == "" {
		t.Errorf("result %+v; want a and c installed, b failed", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "watchlists", "b")); err == nil {
		t.Error("the tampered list was installed")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "watchlists", ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	cfg, err := agent.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if names := listNames(cfg); !slices.Equal(names, []string{"a", "c"}) {
		t.Errorf("config.json lists %v in use, want a and c", names)
	}
	if cfg.Challenge == "" || cfg.IssuedAt.IsZero() {
		t.Errorf("config.json has no challenge or issue time: %+v", cfg)
	}

	// The line is clean again, a is updated and c withdrawn: central
	// (its key signs the bundle) no longer lists c.
	publish(t, r.central, "a", []byte("list a v2"))
	tp.match = func(p string) bool { return p == protocol.PathConfig }
	tp.edit = func(b []byte) []byte {
		var sc protocol.SignedConfig
		if err := json.Unmarshal(b, &sc); err != nil {
			t.Errorf("config answer is not a SignedConfig: %v", err)
			return b
		}
		c, err := sc.Open(r.central.Sign.Public().(ed25519.PublicKey))
		if err != nil {
			t.Error(err)
			return b
		}
		c.Watchlists = slices.DeleteFunc(c.Watchlists, func(w protocol.Watchlist) bool { return w.Name == "c" })
		sc, err = protocol.SignConfig(r.central.Sign, c)
		if err != nil {
			t.Error(err)
		}
		out, _ := json.Marshal(sc)
		return out
	}
	res, err = agent.SyncConfig(ctx, u, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(slices.Values(res.Watchlists)), []string{"a", "b"}) || !slices.Equal(res.Removed, []string{"c"}) {
		t.Errorf("second sync %+v; want a and b installed, c removed", res)
	}
	for name, want := range map[string]string{"a": "list a v2", "b": "list b v1"} {
		if data, _ := os.ReadFile(filepath.Join(dir, "watchlists", name)); string(data) != want {
			t.Errorf("%s = %q, want %q", name, data, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "watchlists", "c")); err == nil {
		t.Error("a withdrawn list is still installed")
	}
	if cfg, _ := agent.LoadConfig(dir); !slices.Equal(listNames(cfg), []string{"a", "b"}) {
		t.Errorf("config.json lists %v, want a and b", listNames(cfg))
	}
}

func listNames(c protocol.Config) []string {
	var names []string
	for _, w := range c.Watchlists {
		names = append(names, w.Name)
	}
	slices.Sort(names)
	return names
}

// TestConfigRefusesWhatCentralDidNotSign: a configuration altered in
// transit fails its signature and changes nothing; so does one from a
// central whose key was not pinned at enrolment; a replayed old answer is
// refused too.
func TestConfigRefusesWhatCentralDidNotSign(t *testing.T) {
	clock := synctest.NewClock(time.Now())
	tp := &tamper{match: func(p string) bool { return p == protocol.PathConfig }}
	var (
		replayMu sync.Mutex
		replay   []byte
	)
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap, Now: clock.Now})
	u := r.uploader(t, agent.Config{Now: clock.Now})
	dir := filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	r.central.PublishRisk(t, []byte(`{"max_retries":30}`))
	publish(t, r.central, "a", []byte("list a v1"))
	tp.on.Store(true)
	tp.edit = func(b []byte) []byte {
		replayMu.Lock()
		replay = bytes.Clone(b)
		replayMu.Unlock()
		var sc protocol.SignedConfig
		if err := json.Unmarshal(b, &sc); err != nil {
			t.Errorf("config answer is not a SignedConfig: %v", err)
			return b
		}
		sc.Config = bytes.Replace(sc.Config, []byte(`30`), []byte(`99`), 1)
		out, _ := json.Marshal(sc)
		return out
	}
	if _, err := agent.SyncConfig(ctx, u, dir); !errors.Is(err, protocol.ErrBadConfigSignature) {
		t.Fatalf("SyncConfig of an altered configuration = %v, want ErrBadConfigSignature", err)
	}
	for _, f := range []string{"risk.json", "config.json", "watchlists/a"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was installed from an altered configuration", f)
		}
	}

	// A central the device did not enrol with (another sign key) is not
	// believed either.
	enr := r.enr
	enr.CentralSignKey = bytes.Clone(enr.CentralSignKey)
	enr.CentralSignKey[0] ^= 1
	forged, err := agent.NewUploader(agent.Config{Identity: r.id, Enrollment: enr, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tp.on.Store(false)
	if _, err := agent.SyncConfig(ctx, forged, dir); !errors.Is(err, protocol.ErrBadConfigSignature) {
		t.Errorf("SyncConfig checked with another key = %v, want ErrBadConfigSignature", err)
	}

	// The genuine configuration, an hour later, installs.
	clock.Advance(time.Hour)
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	if risk := riskInForce(t, r, dir); risk != `{"max_retries":30}` {
		t.Errorf("risk in force = %q", risk)
	}
	// Someone replays the answer kept above, an hour older.
	tp.edit = func([]byte) []byte {
		replayMu.Lock()
		defer replayMu.Unlock()
		return replay
	}
	tp.on.Store(true)
	if _, err := agent.SyncConfig(ctx, u, dir); !errors.Is(err, agent.ErrConfigRollback) {
		t.Errorf("SyncConfig of a replayed old configuration = %v, want ErrConfigRollback", err)
	}
}

// TestConfigDowngradeWithinTheClockTolerance replays older signed
// bundles, issued minutes before the installed one: within the tolerance
// kept for central's clock stepping back, but carrying an older risk
// version, an older list or none of a list. None of them is installed;
// a bundle issued later that lowers a version (central restored from a
// backup) still is.
func TestConfigDowngradeWithinTheClockTolerance(t *testing.T) {
	clock := synctest.NewClock(time.Now())
	tp := &tamper{match: func(p string) bool { return p == protocol.PathConfig }}
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap, Now: clock.Now})
	u := r.uploader(t, agent.Config{Now: clock.Now})
	ctx := context.Background()
	dir := t.TempDir()
	// Version 2 of the risk configuration and of list a, so that older
	// ones exist.
	publish(t, r.central, "a", []byte("list a v1"))
	publish(t, r.central, "a", []byte("list a v2"))
	publish(t, r.central, "b", []byte("list b v1"))
	for _, risk := range []string{`{"max_retries":20}`, `{"max_retries":30}`} {
		r.central.PublishRisk(t, []byte(risk))
	}
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	installed, err := agent.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	var listA protocol.Watchlist
	for _, w := range installed.Watchlists {
		if w.Name == "a" {
			listA = w
		}
	}
	// Bundles as central signed them five minutes before the one installed.
	older := installed.IssuedAt.Add(-5 * time.Minute)
	if installed.Version != 2 || listA.Version != 2 {
		t.Fatalf("installed risk version %d, list a version %d; want 2 and 2", installed.Version, listA.Version)
	}
	// The same bytes under an older version: what is checked is the
	// version going back.
	oldA := listA
	oldA.Version--
	protocol.SignWatchlist(r.central.Sign, &oldA)
	risk := func(v int64) json.RawMessage {
		return json.RawMessage(`{"max_retries":` + strconv.FormatInt(v, 10) + `}`)
	}
	serve := func(c protocol.Config) {
		sc, err := protocol.SignConfig(r.central.Sign, c)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(sc)
		tp.edit = func([]byte) []byte { return body }
		tp.on.Store(true)
	}
	for _, tt := range []struct {
		name string
		c    protocol.Config
	}{
		{"older risk version", protocol.Config{Version: installed.Version - 1, Risk: risk(99), Watchlists: installed.Watchlists, IssuedAt: older}},
		{"older list", protocol.Config{Version: installed.Version, Risk: installed.Risk, Watchlists: []protocol.Watchlist{oldA, installed.Watchlists[1]}, IssuedAt: older}},
		{"list withdrawn", protocol.Config{Version: installed.Version, Risk: installed.Risk, Watchlists: installed.Watchlists[:1], IssuedAt: older}},
	} {
		serve(tt.c)
		if _, err := agent.SyncConfig(ctx, u, dir); !errors.Is(err, agent.ErrConfigRollback) {
			t.Errorf("%s: SyncConfig = %v, want ErrConfigRollback", tt.name, err)
		}
		got, err := agent.LoadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != installed.Version || !slices.EqualFunc(got.Watchlists, installed.Watchlists, func(a, b protocol.Watchlist) bool { return a.Name == b.Name && a.Version == b.Version }) {
			t.Errorf("%s: installed %s after the replay, want %s kept", tt.name, versions(got), versions(installed))
		}
		if data := riskInForce(t, r, dir); data != `{"max_retries":30}` {
			t.Errorf("%s: risk in force = %s after the replay", tt.name, data)
		}
		for _, name := range []string{"a", "b"} {
			if _, err := os.Stat(filepath.Join(dir, agent.WatchlistDir, name)); err != nil {
				t.Errorf("%s: list %s gone after the replay: %v", tt.name, name, err)
			}
		}
	}

	// Central restored from a backup issues a bundle after the installed
	// one with a lower risk version: that is central's state, installed.
	serve(protocol.Config{Version: installed.Version - 1, Risk: risk(40), Watchlists: installed.Watchlists, IssuedAt: installed.IssuedAt.Add(time.Minute)})
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatalf("a later bundle with a lower version: %v", err)
	}
	if data := riskInForce(t, r, dir); data != `{"max_retries":40}` {
		t.Errorf("risk in force = %s, want the later bundle's", data)
	}
}

// versions names the versions of what c installs, for messages.
func versions(c protocol.Config) string {
	s := "risk " + strconv.FormatInt(c.Version, 10)
	for _, w := range c.Watchlists {
		s += ", " + w.Name + " " + strconv.FormatInt(w.Version, 10)
	}
	return s
}

// TestConfigAfterCentralClockRanAhead: central signed a bundle while its
// clock ran hours ahead (a bad time source), then its clock was put right.
// The installed bundle is dated ahead of both the device's clock and
// central's, so it says nothing about order: central's next bundles
// install. Before, each was refused as a rollback until central's clock
// caught up with the date, up to a day of configuration and watchlists.
func TestConfigAfterCentralClockRanAhead(t *testing.T) {
	tp := &tamper{match: func(p string) bool { return p == protocol.PathConfig }}
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap})
	u := r.uploader(t, agent.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	ahead, err := protocol.SignConfig(r.central.Sign, protocol.Config{Version: 1, Risk: json.RawMessage(`{"max_retries":3}`), IssuedAt: time.Now().Add(20 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(ahead)
	tp.edit = func([]byte) []byte { return body }
	tp.on.Store(true)
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	tp.on.Store(false)
	for _, doc := range []string{`{"max_retries":4}`, `{"max_retries":5}`} {
		r.central.PublishRisk(t, []byte(doc))
	}
	publish(t, r.central, "sanctions", []byte("urgent list"))
	res, err := agent.SyncConfig(ctx, u, dir)
	if err != nil || !res.RiskUpdated || len(res.Watchlists) != 1 {
		t.Fatalf("SyncConfig after central's clock was put right = %+v, %v; want risk and list installed", res, err)
	}
	if data := riskInForce(t, r, dir); data != `{"max_retries":5}` {
		t.Errorf("risk in force = %s", data)
	}
}

// TestRiskTheEngineCannotApplyKeepsThePrevious: a newer central may name
// a setting this version does not know, and one from before central
// checked proposals may have published any JSON. Before, such a document replaced the risk.json in use, so
// `kyc verify` decided with the built-in defaults while the device reported
// central's version as in use. Now the previous one stays, the operator is
// told why, and the watchlists still install.
func TestRiskTheEngineCannotApplyKeepsThePrevious(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	u := r.uploader(t, agent.Config{})
	ctx := context.Background()
	dir := t.TempDir()
	putRisk := func(doc string) {
		t.Helper()
		r.central.PublishRiskUnchecked(t, []byte(doc))
	}
	putRisk(`{"max_retries":4}`)
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{
		`{"max_retries":4,"face_match_strictness":"high"}`, // a setting of a later version
		`{"max_retries":0}`, // out of range
		`[1,2,3]`,
	} {
		putRisk(doc)
		publish(t, r.central, "a", []byte("list a for "+doc))
		res, err := agent.SyncConfig(ctx, u, dir)
		if !errors.Is(err, agent.ErrRiskUnusable) || !errors.Is(err, agent.ErrConfigPartial) || res.RiskUpdated {
			t.Errorf("%s: SyncConfig = %+v, %v; want ErrRiskUnusable, nothing installed", doc, res, err)
		}
		if d := agent.Describe(err); !strings.Contains(d, "stays") {
			t.Errorf("%s: operator told %q", doc, d)
		}
		if data := riskInForce(t, r, dir); data != `{"max_retries":4}` {
			t.Errorf("%s: risk in force = %s, want the previous document kept", doc, data)
		}
		if c, err := agent.LoadConfig(dir); err != nil || c.Version != 1 {
			t.Errorf("%s: configuration in use says version %d (%v), want 1", doc, c.Version, err)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, agent.WatchlistDir, "a")); string(data) != "list a for "+doc {
			t.Errorf("%s: list a = %q, want the new version installed", doc, data)
		}
	}
	putRisk(`{"max_retries":6}`)
	if res, err := agent.SyncConfig(ctx, u, dir); err != nil || !res.RiskUpdated {
		t.Fatalf("a usable document after the bad ones: %+v, %v", res, err)
	}
}

// TestListAddedOnCentralFlagsTheName is the sync half of the end-to-end
// promise: a name added to a watchlist on central is flagged by screening
// on an enrolled device after its next sync, from the folder the app and
// the CLI load (<config>/watchlists, an engine/screening store).
func TestListAddedOnCentralFlagsTheName(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	dir := filepath.Join(t.TempDir(), "config")
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{ConfigDir: dir, Now: clock.Now})
	const name = "Bambang Sutrisno Wiratmaja"

	screen := func() []screening.Hit {
		t.Helper()
		store, err := screening.OpenStore(filepath.Join(dir, agent.WatchlistDir))
		if err != nil {
			t.Fatal(err)
		}
		lists, err := store.LoadAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(lists) == 0 {
			return nil
		}
		hits, err := screening.NewIndex(lists...).Screen(screening.Query{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	// listFile builds a store file the way `kyc watchlist import` does.
	listFile := func(entries ...screening.Entry) []byte {
		t.Helper()
		tmp := t.TempDir()
		store, err := screening.OpenStore(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, &screening.List{Name: "pep-local", Version: time.Now().Format(time.RFC3339Nano), Date: time.Now(), Entries: entries}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(tmp, "pep-local.list.json.gz"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	other := screening.Entry{ID: "1", Kind: screening.KindIndividual, Name: "Someone Else Entirely"}
	publish(t, r.central, "pep-local.list.json.gz", listFile(other))
	if _, err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if hits := screen(); len(hits) != 0 {
		t.Fatalf("%s flagged before the list named them: %+v", name, hits)
	}

	publish(t, r.central, "pep-local.list.json.gz", listFile(other, screening.Entry{ID: "2", Kind: screening.KindIndividual, Name: name, Position: "Regent"}))
	p, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Err != nil || p.Config == nil || !slices.Contains(p.Config.Watchlists, "pep-local.list.json.gz") {
		t.Fatalf("pass %+v (%v); want the new list installed", p, p.Err)
	}
	hits := screen()
	if len(hits) == 0 || hits[0].Name != name || hits[0].List != "pep-local" {
		t.Fatalf("after the sync, %s is not flagged: %+v", name, hits)
	}
	if p.Watchlists["pep-local.list.json.gz"] != 2 {
		t.Errorf("pass reports lists %v; want version 2 in use", p.Watchlists)
	}
	// Central heard which version the device uses.
	d, err := r.store.Device(ctx, r.id.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	if d.Status == nil || d.Status.Watchlists["pep-local.list.json.gz"] != 2 {
		t.Errorf("central's record of the device's status: %+v", d.Status)
	}
}

// TestWatchlistDownloadIsBounded: an answer longer than the signed size is
// cut off at one byte past it, never read whole.
func TestWatchlistDownloadIsBounded(t *testing.T) {
	tp := &tamper{match: func(p string) bool { return p == protocol.WatchlistPath("a") }}
	tp.edit = func(b []byte) []byte { return append(b, bytes.Repeat([]byte("x"), 8<<20)...) }
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap})
	u := r.uploader(t, agent.Config{})
	publish(t, r.central, "a", []byte("list a"))
	tp.on.Store(true)
	dir := filepath.Join(t.TempDir(), "config")
	res, err := agent.SyncConfig(context.Background(), u, dir)
	if !errors.Is(err, agent.ErrConfigPartial) || !strings.Contains(res.Failed["a"], "do not match") {
		t.Fatalf("SyncConfig of an overlong list = %+v, %v", res, err)
	}
	var sink countingWriter
	err = u.DownloadWatchlist(context.Background(), protocol.Watchlist{Name: "a", Size: 6, SHA256: make([]byte, 32)}, &sink)
	if err == nil || sink.n > 7 {
		t.Errorf("DownloadWatchlist wrote %d bytes of an overlong answer (%v); want at most size+1", sink.n, err)
	}
}

// drip writes b every 20 ms until the request ends: an answer that never
// arrives whole, each piece within any idle timeout.
func drip(w http.ResponseWriter, r *http.Request, b string) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := w.Write([]byte(b)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// TestWatchlistSlowDripIsBounded: central (or a stalled proxy) drips a
// watchlist a byte at a time, each just within the idle timeout. The
// download must end by a deadline sized to the list at the slowest rate
// the device accepts, not hold the sync loop for as long as the drip
// lasts.
func TestWatchlistSlowDripIsBounded(t *testing.T) {
	var dripping atomic.Bool
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !dripping.Load() || !strings.HasPrefix(r.URL.Path, "/v1/watchlists/") {
				next.ServeHTTP(w, r)
				return
			}
			w.WriteHeader(http.StatusOK)
			drip(w, r, "x")
		})
	}
	r := newRig(t, synctest.CentralOptions{Wrap: wrap})
	// The floor is also the idle timeout of a streamed answer: each drip
	// comes well within it.
	u := r.uploader(t, agent.Config{Timeout: 300 * time.Millisecond})
	publish(t, r.central, "a", bytes.Repeat([]byte("n"), 1000))
	dir := t.TempDir()
	dripping.Store(true)
	// Without a deadline the drip would take 20 s to fill the list; the
	// test's own bound stands in for "forever".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := agent.SyncConfig(ctx, u, dir)
	if ctx.Err() != nil {
		t.Fatal("the watchlist download was still dripping after 10 s")
	}
	if !errors.Is(err, agent.ErrConfigPartial) || !strings.Contains(res.Failed["a"], "within") {
		t.Fatalf("SyncConfig against a dripping list = %+v, %v; want list a failed for its deadline", res, err)
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// TestInstalledRiskVersion: the risk document sync installed is named by
// its central version, through newer publications; a document sync did
// not install, or one newer than the version config.json records (sync
// midway), has none.
func TestInstalledRiskVersion(t *testing.T) {
	r := newRig(t, synctest.CentralOptions{})
	u := r.uploader(t, agent.Config{})
	dir := filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		publish string // published before the sync, if any
		doc     string // the document asked about
		want    int64  // 0: none
	}{
		{"before any sync", "", `{"max_retries":5}`, 0},
		{"version 1 installed", `{"max_retries":5}`, `{"max_retries":5}`, 1},
		{"the same, spaced otherwise", "", "{ \"max_retries\": 5 }\n", 1},
		{"a document sync did not install", "", `{"max_retries":4}`, 0},
		{"version 2 installed", `{"bands":{"approve_min":90,"review_min":50}}`, `{"bands":{"approve_min":90,"review_min":50}}`, 2},
		{"version 1 once 2 is installed", "", `{"max_retries":5}`, 0},
		{"not JSON", "", `{"bands"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.publish != "" {
				r.central.PublishRisk(t, []byte(tc.publish))
				if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
					t.Fatal(err)
				}
			}
			v, ok := agent.InstalledRiskVersion(dir, []byte(tc.doc))
			if ok != (tc.want > 0) || v != tc.want {
				t.Errorf("InstalledRiskVersion = %d, %t; want %d", v, ok, tc.want)
			}
		})
	}
}

// TestConfigRecordsWhenCentralConfirmedEachList: each sync records, by the
// device's clock, when central confirmed each list it installed or found
// unchanged; a list whose new version fails keeps its earlier
// confirmation, and a bundle replayed from long ago confirms nothing
// recent.
func TestConfigRecordsWhenCentralConfirmedEachList(t *testing.T) {
	start := time.Now().Truncate(time.Second)
	central := synctest.NewClock(start)
	device := synctest.NewClock(start.Add(time.Hour)) // an hour ahead of central
	tp := &tamper{match: func(p string) bool { return p == protocol.PathConfig }, edit: func(b []byte) []byte { return b }}
	r := newRig(t, synctest.CentralOptions{Wrap: tp.wrap, Now: central.Now})
	u := r.uploader(t, agent.Config{Now: device.Now})
	dir := filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	publish(t, r.central, "a", []byte("list a v1"))
	publish(t, r.central, "b", []byte("list b v1"))

	var first []byte // central's first answer, for a replay
	tp.on.Store(true)
	tp.edit = func(b []byte) []byte { first = bytes.Clone(b); return b }
	if _, err := agent.SyncConfig(ctx, u, dir); err != nil {
		t.Fatal(err)
	}
	tp.on.Store(false)
	near := func(got, want time.Time) bool { return got.Sub(want).Abs() <= 2*time.Second } // Date has whole seconds
	got, err := agent.WatchlistsConfirmed(dir)
	if err != nil || len(got) != 2 || !near(got["a"], device.Now()) || !near(got["b"], device.Now()) {
		t.Fatalf("confirmed %v (err %v), want a and b at the device's %s", got, err, device.Now())
	}

	// Nine days on, b's new version arrives damaged: a is confirmed again,
	// b keeps its first confirmation.
	central.Advance(9 * 24 * time.Hour)
	device.Advance(9 * 24 * time.Hour)
	publish(t, r.central, "b", []byte("list b v2"))
	tp.match = func(p string) bool { return p == protocol.WatchlistPath("b") }
	tp.edit = func(b []byte) []byte { return append(bytes.Clone(b), 'x') }
	tp.on.Store(true)
	if _, err := agent.SyncConfig(ctx, u, dir); !errors.Is(err, agent.ErrConfigPartial) {
		t.Fatalf("SyncConfig with b damaged = %v, want ErrConfigPartial", err)
	}
	tp.on.Store(false)
	again, err := agent.WatchlistsConfirmed(dir)
	if err != nil || !near(again["a"], device.Now()) || !again["b"].Equal(got["b"]) {
		t.Errorf("confirmed %v (err %v), want a now (%s) and b still at %s", again, err, device.Now(), got["b"])
	}

	// A device that never synced is handed central's nine-day-old answer:
	// it installs a (b's bytes are now v2's), confirmed as of when central
	// signed the answer, not as of now.
	tp.match = func(p string) bool { return p == protocol.PathConfig }
	tp.edit = func([]byte) []byte { return first }
	tp.on.Store(true)
	fresh := filepath.Join(t.TempDir(), "config")
	if _, err := agent.SyncConfig(ctx, u, fresh); !errors.Is(err, agent.ErrConfigPartial) {
		t.Fatalf("SyncConfig of the replayed answer = %v, want b failed", err)
	}
	replayed, err := agent.WatchlistsConfirmed(fresh)
	if err != nil || !near(replayed["a"], got["a"]) {
		t.Errorf("a replayed answer confirmed %v (err %v), want a as of %s, when central signed it", replayed, err, got["a"])
	}
}

// riskInForce is the risk document installed in dir, as it verifies
// against central's pinned key (agent.VerifyInstalled), compacted.
func riskInForce(t *testing.T, r *rig, dir string) string {
	t.Helper()
	in, err := agent.VerifyInstalled(dir, r.enr.CentralSignKey)
	if err != nil || in.Trust != agent.TrustSigned {
		t.Fatalf("the configuration installed: %s, %v; want central's, signed", in.Trust, err)
	}
	var b bytes.Buffer
	if len(in.Config.Risk) > 0 {
		if err := json.Compact(&b, in.Config.Risk); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestStatusReportsRefusedConfig: the status a device reports is the
// configuration it decides with, checked against central's key as every
// load checks it: once a list is replaced on disk the device decides
// nothing, and central hears no versions and why, not the versions the
// configuration file still names; the next pass puts central's back.
func TestStatusReportsRefusedConfig(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, synctest.CentralOptions{})
	v := r.openVault(t, vault.Options{})
	dir := filepath.Join(t.TempDir(), "config")
	passes, step := make(chan agent.Pass, 4), make(chan struct{})
	a := agent.New(r.uploader(t, agent.Config{}), v, agent.Options{ConfigDir: dir, OnPass: func(p agent.Pass) { passes <- p },
		// The next pass when the test says: no configuration refresh is
		// due then (ConfigEvery).
		Sleep: func(ctx context.Context, _ time.Duration) error {
			select {
			case <-step:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
	risk := r.central.PublishRisk(t, []byte(`{"max_retries":5}`))
	publish(t, r.central, "a", []byte("list a"))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	status := func() *protocol.DeviceStatus {
		t.Helper()
		d, err := r.store.Device(ctx, r.id.DeviceID())
		if err != nil || d.Status == nil {
			t.Fatalf("central's record of the device: %+v, %v", d, err)
		}
		return d.Status
	}

	if p := nextPass(t, passes); p.Err != nil || p.Config == nil {
		t.Fatalf("first pass: %+v, %v; want the configuration installed", p, p.Err)
	}
	if st := status(); st.ConfigVersion != risk || st.Watchlists["a"] != 1 || st.LastError != "" {
		t.Fatalf("synced: central heard %+v; want version %d and list a v1", st, risk)
	}

	if err := os.WriteFile(filepath.Join(dir, agent.WatchlistDir, "a"), []byte("list a, edited"), 0o600); err != nil {
		t.Fatal(err)
	}
	step <- struct{}{}
	p := nextPass(t, passes)
	if p.Config != nil || p.ConfigVersion != 0 || p.Watchlists != nil || !errors.Is(p.Err, agent.ErrConfigAltered) {
		t.Errorf("pass after the edit: refresh %+v, version %d, lists %v, %v; want none in use, ErrConfigAltered", p.Config, p.ConfigVersion, p.Watchlists, p.Err)
	}
	if st := status(); st.ConfigVersion != 0 || len(st.Watchlists) != 0 || !strings.Contains(st.LastError, "not what central signed") {
		t.Errorf("after the edit: central heard %+v; want no versions and the refusal", st)
	}

	step <- struct{}{} // the next pass installs central's again, refresh due or not
	if p := nextPass(t, passes); p.Err != nil || p.Config == nil {
		t.Fatalf("the pass after the refusal: %+v, %v; want central's configuration installed again", p, p.Err)
	}
	if st := status(); st.ConfigVersion != risk || st.Watchlists["a"] != 1 || st.LastError != "" {
		t.Errorf("synced again: central heard %+v; want version %d and list a v1", st, risk)
	}
}
