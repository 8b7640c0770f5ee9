package risk

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestScreeningAge(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	published := now.Add(-30 * day) // the UN's dateGenerated, a month back
	synced := func(name string, confirmed time.Time) WatchlistDates {
		return WatchlistDates{Name: name, Published: published, Confirmed: confirmed}
	}
	tests := []struct {
		name  string
		at    time.Time
		lists []WatchlistDates
		stale bool
		// known and age are the first list's; want names the problem.
		known bool
		age   time.Duration
		want  string
	}{
		{name: "fresh: confirmed an hour ago", at: now, lists: []WatchlistDates{synced("un", now.Add(-time.Hour))}, known: true, age: time.Hour},
		{name: "fresh at the limit", at: now, lists: []WatchlistDates{synced("un", now.Add(-7*day))}, known: true, age: 7 * day},
		{name: "stale: offline nine days", at: now, lists: []WatchlistDates{synced("un", now.Add(-9*day))},
			stale: true, known: true, age: 9 * day, want: "un: 9.0 days old since central last confirmed it, beyond 7.0 days"},
		{name: "one stale list of two", at: now, lists: []WatchlistDates{synced("ofac", now.Add(-time.Hour)), synced("un", now.Add(-8*day))},
			stale: true, known: true, age: time.Hour, want: "un: 8.0 days old"},
		{name: "never synced, no list", at: now, stale: true, want: "no watchlist installed"},
		{name: "never synced, a list imported on the device this week", at: now,
			lists: []WatchlistDates{{Name: "local", Published: now.Add(-2 * day)}}, known: true, age: 2 * day},
		{name: "never synced, a month-old list imported on the device", at: now,
			lists: []WatchlistDates{{Name: "local", Published: published}}, stale: true, known: true, age: 30 * day,
			want: "since its date, and central never confirmed it"},
		{name: "no date at all", at: now, lists: []WatchlistDates{{Name: "x"}}, stale: true, want: "the list has no date"},
		{name: "clock set back since the sync", at: now, lists: []WatchlistDates{synced("un", now.Add(2*day))},
			stale: true, want: "behind central's confirmation"},
		{name: "clock behind the list's publication", at: published.Add(-day),
			lists: []WatchlistDates{synced("un", published.Add(-2*day))}, stale: true, want: "behind the list's date"},
		{name: "clock seconds behind central's: skew, age 0", at: now, lists: []WatchlistDates{synced("un", now.Add(30*time.Second))}, known: true},
		{name: "no time of screening", lists: []WatchlistDates{synced("un", now)}, stale: true, want: "no time of screening"},
	}
	cfg := DefaultConfig()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := cfg.ScreeningAge(ScreeningData{At: tt.at, Lists: tt.lists})
			if a.Stale != tt.stale || a.MaxAge != 7*day || !a.At.Equal(tt.at) {
				t.Errorf("stale %v (max age %s), want %v: %s", a.Stale, a.MaxAge, tt.stale, a.Problem)
			}
			if !strings.Contains(a.Problem, tt.want) || (tt.want == "") != (a.Problem == "") {
				t.Errorf("problem %q, want one with %q", a.Problem, tt.want)
			}
			if len(a.Lists) != len(tt.lists) {
				t.Fatalf("%d lists judged, want %d", len(a.Lists), len(tt.lists))
			}
			if len(a.Lists) > 0 && (a.Lists[0].Known != tt.known || a.Lists[0].Age != tt.age) {
				t.Errorf("first list known %v age %s, want %v %s", a.Lists[0].Known, a.Lists[0].Age, tt.known, tt.age)
			}
		})
	}
}

func TestScreeningMaxAgeFromConfig(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	d := ScreeningData{At: now, Lists: []WatchlistDates{{Name: "un", Confirmed: now.Add(-3 * 24 * time.Hour)}}}
	cfg := DefaultConfig()
	if cfg.ScreeningAge(d).Stale {
		t.Fatal("3 days stale under the default 7")
	}
	cfg.ScreeningMaxAgeDays = 2
	if !cfg.ScreeningAge(d).Stale {
		t.Error("3 days fresh under a 2-day maximum")
	}
}

func TestEvaluateScreeningStale(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	data := func(confirmed time.Time) func(*Input) {
		return func(in *Input) {
			in.Screening = &ScreeningData{At: now, Lists: []WatchlistDates{{Name: "un", Confirmed: confirmed}}}
		}
	}
	fresh, stale := data(now.Add(-time.Hour)), data(now.Add(-30*24*time.Hour))
	behind := data(now.Add(48 * time.Hour))
	none := func(in *Input) { in.Screening = &ScreeningData{At: now} }
	tests := []struct {
		name string
		in   Input
		want route
		code bool // SCREENING_STALE listed
	}{
		{"not judged", clean(), approved, false},
		{"fresh", clean(fresh), approved, false},
		{"stale approval goes to review", clean(stale), inReview, true},
		{"no list goes to review", clean(none), inReview, true},
		{"clock behind goes to review", clean(behind), inReview, true},
		{"stale never lifts a reject", clean(stale, device(DeviceBlock)), finalReject, true},
		{"stale never hides a hit", clean(stale, watchlistHits(1)), escalated, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(DefaultConfig(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if routeOf(res) != tt.want || res.HasReason(ScreeningStale) != tt.code {
				t.Errorf("route %+v with SCREENING_STALE %v, want %+v %v; reasons %+v", routeOf(res), res.HasReason(ScreeningStale), tt.want, tt.code, res.Reasons)
			}
			if (tt.in.Screening != nil) != (res.Screening != nil) {
				t.Errorf("result's screening ages %+v for input %+v", res.Screening, tt.in.Screening)
			}
		})
	}
	res, _ := Evaluate(DefaultConfig(), clean(stale))
	if res.Reasons[0].Code != ScreeningStale || !strings.Contains(res.Reasons[0].Detail, "un: 30.0 days old") {
		t.Errorf("first reason %+v, want SCREENING_STALE naming the list and its age", res.Reasons[0])
	}
	if l := res.Screening.Lists; len(l) != 1 || l[0].Age != 30*24*time.Hour || !l[0].Stale {
		t.Errorf("result records %+v, want the list 30 days old and stale", l)
	}
	_, err := Evaluate(DefaultConfig(), clean(func(in *Input) { in.Screening = &ScreeningData{At: now, Lists: []WatchlistDates{{}}} }))
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("a list without a name: err %v, want ErrInvalidInput", err)
	}
}
