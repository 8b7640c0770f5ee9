package deviceconf

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/protocol"
)

// putList stores a list called name with one person per given name.
func putList(t *testing.T, dir, name, version string, people ...string) {
	t.Helper()
	l := &screening.List{Name: name, Version: version, Date: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)}
	for i, p := range people {
		l.Entries = append(l.Entries, screening.Entry{ID: name + "-" + string(rune('a'+i)), Kind: screening.KindIndividual, Name: p})
	}
	st, err := screening.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), l); err != nil {
		t.Fatal(err)
	}
}

func flags(t *testing.T, ix *screening.Index, name string) []string {
	t.Helper()
	if ix == nil {
		return nil
	}
	hits, err := ix.Screen(screening.Query{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var lists []string
	for _, h := range hits {
		if h.Score >= 0.9 {
			lists = append(lists, h.List)
		}
	}
	return lists
}

// TestLoadWatchlists: central's lists and the local ones are both
// screened; on a name clash central's list wins; a corrupt list or a file
// that is not a list is reported and keeps no other list out.
func TestLoadWatchlists(t *testing.T) {
	d := testDevice(t)
	d.LocalWatchlists = filepath.Join(t.TempDir(), "local")
	putList(t, d.SyncedWatchlists(), "ofac", "central-2", "Ivan Petrovich Sidorov")
	putList(t, d.SyncedWatchlists(), "zeta", "1", "Marta Kowalska Nowak")
	putList(t, d.LocalWatchlists, "ofac", "local-1", "Hans Dieter Mueller")
	putList(t, d.LocalWatchlists, "pep", "7", "Siti Rahayu Lestari")
	if err := os.WriteFile(filepath.Join(d.SyncedWatchlists(), "bad.list.json.gz"), []byte("not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.SyncedWatchlists(), "sanctions.csv"), []byte("a,b"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A FIFO no one writes to: a problem at once, not a wait.
	if err := syscall.Mkfifo(filepath.Join(d.LocalWatchlists, "fifo.list.json.gz"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWatchlists(context.Background(), d.WatchlistDirs()...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.Names(), []string{"ofac@central-2", "pep@7", "zeta@1"}; !slices.Equal(got, want) {
		t.Errorf("lists %v, want %v", got, want)
	}
	if w.From["ofac"] != d.SyncedWatchlists() || w.From["pep"] != d.LocalWatchlists {
		t.Errorf("sources %v", w.From)
	}
	ix := w.Index()
	for name, want := range map[string][]string{
		"Ivan Petrovich Sidorov": {"ofac"}, "Siti Rahayu Lestari": {"pep"}, "Marta Kowalska Nowak": {"zeta"},
		"Hans Dieter Mueller": nil, // the local list central's replaces
	} {
		if got := flags(t, ix, name); !slices.Equal(got, want) {
			t.Errorf("%s flagged by %v, want %v", name, got, want)
		}
	}
	problems := strings.Join(w.Problems, "\n")
	for _, want := range []string{"bad.list.json.gz", "sanctions.csv", filepath.Join(d.LocalWatchlists, "ofac.list.json.gz"),
		filepath.Join(d.LocalWatchlists, "fifo.list.json.gz") + ": not a regular file"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not name %s:\n%s", want, problems)
		}
	}
	if len(w.Problems) != 4 {
		t.Errorf("%d problems, want 4:\n%s", len(w.Problems), problems)
	}

	empty, err := LoadWatchlists(context.Background(), filepath.Join(t.TempDir(), "none"))
	if err != nil || empty.Index() != nil || len(empty.Problems) != 0 {
		t.Errorf("a missing folder: %+v %v", empty, err)
	}
}

// TestLoadRisk: central's document is laid over the defaults; an invalid
// one is reported and the configuration in use before is kept.
func TestLoadRisk(t *testing.T) {
	dir := t.TempDir()
	r := LoadRisk(dir, nil)
	if r.Path != "" || r.Problem != "" || r.Config.Bands != risk.DefaultConfig().Bands {
		t.Fatalf("without a document: %+v", r)
	}
	path := filepath.Join(dir, riskFile)
	if err := os.WriteFile(path, []byte(`{"bands":{"approve_min":92,"review_min":60}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	good := LoadRisk(dir, &r)
	if good.Problem != "" || good.Path != path || good.Config.Bands.ApproveMin != 92 || good.Config.MaxRetries != risk.DefaultConfig().MaxRetries {
		t.Fatalf("central's document: %+v", good)
	}
	for _, bad := range []string{`{"bands":{"approve_min":20,"review_min":60}}`, `{"no_such_field":1}`, `not json`} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		kept := LoadRisk(dir, &good)
		if kept.Problem == "" || kept.Config.Bands.ApproveMin != 92 {
			t.Errorf("%s: %+v, want the last good kept and the problem said", bad, kept)
		}
		if def := LoadRisk(dir, nil); def.Problem == "" || def.Path != "" || def.Config.Bands != risk.DefaultConfig().Bands {
			t.Errorf("%s with nothing before: %+v, want the defaults", bad, def)
		}
	}
}

// TestLoadOnlyWhatChanged: Load reuses what did not change on disk and
// picks up a list sync replaced.
func TestLoadOnlyWhatChanged(t *testing.T) {
	d := testDevice(t)
	ctx := context.Background()
	putList(t, d.SyncedWatchlists(), "ofac", "1", "Ivan Petrovich Sidorov")
	c1, err := d.Load(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := d.Load(ctx, c1, nil)
	if err != nil || c2.Screening != c1.Screening {
		t.Fatalf("unchanged: %v, index rebuilt: %v", err, c2.Screening != c1.Screening)
	}
	putList(t, d.SyncedWatchlists(), "ofac", "2", "Ivan Petrovich Sidorov", "Juan Carlos Ortega Ruiz")
	c3, err := d.Load(ctx, c2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := flags(t, c3.Screening, "Juan Carlos Ortega Ruiz"); !slices.Equal(got, []string{"ofac"}) {
		t.Errorf("the name added to the list: flagged by %v", got)
	}
}

func TestChallenge(t *testing.T) {
	dir := t.TempDir()
	if c, err := Challenge(dir); err != nil || c != "" {
		t.Fatalf("before any sync: %q %v", c, err)
	}
	b, _ := json.Marshal(protocol.Config{Version: 3, Challenge: "nonce-123"})
	if err := os.WriteFile(filepath.Join(dir, agent.ConfigFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Challenge(dir); err != nil || c != "nonce-123" {
		t.Fatalf("after a sync: %q %v", c, err)
	}
}

// TestRiskVersion: the configuration applied is named by the version
// sync recorded installing it (0 for the built-in defaults), so a result
// sealed with it tells central which bands it was decided under; a
// document sync did not record has none. Load notices the record change
// even when the document did not (sync writes it last).
func TestRiskVersion(t *testing.T) {
	d := testDevice(t)
	dir := d.ConfigDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const doc = `{"bands":{"approve_min":90,"review_min":50}}`
	record := func(version int64, risk string) {
		t.Helper()
		// Indented, as sync writes it.
		b, err := json.MarshalIndent(protocol.Config{Version: version, Risk: json.RawMessage(risk)}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, agent.ConfigFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	version := func(r Risk) string {
		if r.Version == nil {
			return "none"
		}
		return fmt.Sprint(*r.Version)
	}
	ctx := context.Background()
	c, err := d.Load(ctx, nil, nil)
	if err != nil || version(c.Risk) != "0" {
		t.Fatalf("the built-in defaults: version %s, %v; want 0", version(c.Risk), err)
	}
	for _, step := range []struct {
		name string
		do   func()
		want string
	}{
		{"a document sync is installing", func() { writeFile(t, filepath.Join(dir, riskFile), doc) }, "none"},
		{"sync recorded it as version 2", func() { record(2, doc) }, "2"},
		{"a document put there by hand", func() { writeFile(t, filepath.Join(dir, riskFile), `{"max_retries":4}`) }, "none"},
		{"the recorded document again", func() { writeFile(t, filepath.Join(dir, riskFile), doc) }, "2"},
		{"an invalid document keeps the last", func() { writeFile(t, filepath.Join(dir, riskFile), `not json`) }, "2"},
	} {
		step.do()
		if c, err = d.Load(ctx, c, nil); err != nil || version(c.Risk) != step.want {
			t.Errorf("%s: version %s, %v; want %s", step.name, version(c.Risk), err, step.want)
		}
	}
	// Nothing before (a restart, the command line): the document sync
	// recorded, not the built-in defaults, which would otherwise be
	// back by spoiling or deleting the file.
	for name, spoil := range map[string]func(){
		"an invalid document": func() { writeFile(t, filepath.Join(dir, riskFile), `not json`) },
		"no document": func() {
			if err := os.Remove(filepath.Join(dir, riskFile)); err != nil {
				t.Fatal(err)
			}
		},
	} {
		spoil()
		if r := LoadRisk(dir, nil); version(r) != "2" || r.Config.Bands.ApproveMin != 90 || r.Problem == "" {
			t.Errorf("%s, nothing before: version %s, approve at %v (%s); want the recorded version 2", name, version(r), r.Config.Bands.ApproveMin, r.Problem)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestScreeningData: a list from the folder sync fills carries central's
// last confirmation of it; a list imported on the device only its date,
// whatever the sync state says of a list of its name.
func TestScreeningData(t *testing.T) {
	d := testDevice(t)
	d.LocalWatchlists = filepath.Join(t.TempDir(), "local")
	putList(t, d.SyncedWatchlists(), "ofac", "central-2", "Ivan Petrovich Sidorov")
	putList(t, d.LocalWatchlists, "pep", "7", "Siti Rahayu Lestari")
	w, err := LoadWatchlists(context.Background(), d.WatchlistDirs()...)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	published := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	if got := d.ScreeningData(w, now); !got.At.Equal(now) || len(got.Lists) != 2 || !got.Lists[0].Confirmed.IsZero() || !got.Lists[0].Published.Equal(published) {
		t.Errorf("never synced: %+v, want both lists by their dates alone", got)
	}
	confirmed := now.Add(-time.Hour)
	writeFile(t, filepath.Join(d.ConfigDir(), agent.ConfigFile), fmt.Sprintf(`{"version": 0, "watchlists_confirmed": {"ofac.list.json.gz": %q, "pep.list.json.gz": %q}}`,
		confirmed.Format(time.RFC3339), confirmed.Format(time.RFC3339)))
	got := d.ScreeningData(w, now)
	want := []risk.WatchlistDates{{Name: "ofac", Published: published, Confirmed: confirmed}, {Name: "pep", Published: published}}
	if !reflect.DeepEqual(got.Lists, want) {
		t.Errorf("synced: %+v, want %+v", got.Lists, want)
	}
}
