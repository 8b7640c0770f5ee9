package cli

import (
	"encoding/json"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
)

func TestWatchlistAndScreen(t *testing.T) {
	dir := t.TempDir()
	env := []string{WatchlistsEnv + "=" + dir}

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
