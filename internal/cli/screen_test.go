package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/testenv"
)

func TestWatchlistAndScreen(t *testing.T) {
	dir := t.TempDir()
	// A device folder without synced lists: only the local ones count.
	env := []string{WatchlistsEnv + "=" + dir, "KYC_DEVICE_DIR=" + t.TempDir()}

	if r := kyc(t, env, "screen", "--name", "Elvis Logan"); r.exit != ExitMissing || decodeError(t, r).Code != "no_watchlists" {
		t.Fatalf("screening with no lists: exit %d %s", r.exit, r.stdout)
	}
	r := kyc(t, env, "watchlist", "import", "--format", "ofac-csv", testenv.Data(t, "sanctions", "ofac_sdn_sample"))
	var wl watchlistResult
	if err := json.Unmarshal([]byte(r.stdout), &wl); err != nil || r.exit != 0 {
		t.Fatalf("import: exit %d %v\n%s", r.exit, err, r.stdout)
	}
	if len(wl.Lists) != 1 || wl.Lists[0].Entries != 17 {
		t.Fatalf("lists after import: %+v", wl.Lists)
	}
	if r := kyc(t, env, "watchlist", "import", "--format", "un-xml", testenv.Data(t, "sanctions", "un_sample.xml")); r.exit != 0 {
		t.Fatalf("UN import: exit %d %s", r.exit, r.stdout)
	}

	// A sample individual, misspelt and reordered, is the top hit.
	r = kyc(t, env, "screen", "--name", "Elvis Angus Logan Morey")
	var res screenResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.exit != 0 {
		t.Fatalf("screen: exit %d %v\n%s", r.exit, err, r.stdout)
	}
	if len(res.Hits) == 0 || res.Hits[0].EntryID != "10278" || res.Hits[0].List != "ofac-sdn" {
		t.Fatalf("hits for a listed person: %+v", res.Hits)
	}
	if len(res.Lists) != 2 {
		t.Fatalf("screened against %v, want both lists", res.Lists)
	}
	r = kyc(t, env, "screen", "--name", "Siti Rahayu Wulandari", "--dob", "1991-04-12", "--country", "ID")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.exit != 0 || len(res.Hits) != 0 {
		t.Fatalf("an ordinary name hit: exit %d %+v", r.exit, res.Hits)
	}

	for _, args := range [][]string{
		{"screen", "--name", ""},
		{"screen", "--name", "X", "--dob", "12/04/1991"},
		{"watchlist", "import", "--format", "xls", "x"},
		{"watchlist", "import", "--format", "ofac-csv"},
		{"watchlist"},
	} {
		if r := kyc(t, env, args...); r.exit != ExitUsage {
			t.Errorf("%v: exit %d %s", args, r.exit, r.stdout)
		}
	}
	if r := kyc(t, env, "watchlist", "import", "--format", "pep-csv", testenv.Data(t, "sanctions", "un_sample.xml")); r.exit != ExitInput {
		t.Errorf("an XML file imported as PEP CSV: exit %d %s", r.exit, r.stdout)
	}
}

// TestScreenUsesSyncedLists: `kyc screen` screens against the lists sync
// installed in the device folder as well as the local ones, central's
// winning a name clash, and a corrupt synced list keeps no other out.
func TestScreenUsesSyncedLists(t *testing.T) {
	device, local := t.TempDir(), t.TempDir()
	synced := filepath.Join(device, "config", "watchlists")
	put := func(dir, list, person string) {
		t.Helper()
		st, err := screening.OpenStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		l := &screening.List{Name: list, Version: "v-" + dir, Date: time.Now().UTC(),
			Entries: []screening.Entry{{ID: "1", Kind: screening.KindIndividual, Name: person}}}
		if err := st.Put(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	put(synced, "central-sanctions", "Ivan Petrovich Sidorov")
	put(synced, "pep", "Siti Rahayu Lestari")
	put(local, "pep", "Hans Dieter Mueller")
	if err := os.WriteFile(filepath.Join(synced, "broken.list.json.gz"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{WatchlistsEnv + "=" + local, "KYC_DEVICE_DIR=" + device}
	screen := func(name string) screenResult {
		t.Helper()
		r := kyc(t, env, "screen", "--name", name)
		var res screenResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.exit != 0 {
			t.Fatalf("screen %s: exit %d %v\n%s\n%s", name, r.exit, err, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "broken.list.json.gz") {
			t.Errorf("the corrupt list is not reported: %s", r.stderr)
		}
		return res
	}
	res := screen("Ivan Petrovich Sidorov")
	if len(res.Hits) == 0 || res.Hits[0].List != "central-sanctions" {
		t.Errorf("a person on central's list: %+v", res.Hits)
	}
	if want := []string{"central-sanctions@v-" + synced, "pep@v-" + synced}; !slices.Equal(res.Lists, want) {
		t.Errorf("lists %v, want %v", res.Lists, want)
	}
	if len(res.Problems) != 2 {
		t.Errorf("problems %v, want the corrupt list and the hidden local one", res.Problems)
	}
	if res := screen("Siti Rahayu Lestari"); len(res.Hits) == 0 || res.Hits[0].List != "pep" {
		t.Errorf("central's pep list: %+v", res.Hits)
	}
	if res := screen("Hans Dieter Mueller"); slices.ContainsFunc(res.Hits, func(h screening.Hit) bool { return h.Score > 0.9 }) {
		t.Errorf("the local pep list central's replaces was screened: %+v", res.Hits)
	}
}
