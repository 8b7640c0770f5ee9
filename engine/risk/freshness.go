package risk

import (
	"fmt"
	"strings"
	"time"
)

// DefaultScreeningMaxAgeDays is Config.ScreeningMaxAgeDays by default: a
// week since the device last confirmed its lists with central. Sanctions
// lists change every few days; a field laptop back online syncs within
// minutes.
const DefaultScreeningMaxAgeDays = 7

// MaxScreeningMaxAgeDays bounds Config.ScreeningMaxAgeDays: a list a year
// old has missed a year of designations.
const MaxScreeningMaxAgeDays = 365

// ClockSkew is how far a list's date may be ahead of the device's clock and
// still count as age zero: clocks disagree by seconds, NTP steps them by
// less. Further ahead, the device's clock is behind and the age unknown.
const ClockSkew = 10 * time.Minute

// ScreeningData is what the caller knows of the lists a verification
// screened against: when it screened and each list's dates.
type ScreeningData struct {
	// At is the device's clock when it screened.
	At    time.Time        `json:"at"`
	Lists []WatchlistDates `json:"lists"`
}

// WatchlistDates are one list's dates.
type WatchlistDates struct {
	Name string `json:"name"`
	// Published is the list's date: the publisher's publication date
	// when its file gives one (the UN's dateGenerated), else the best
	// stand-in (the file's time, the import's); zero when unknown.
	Published time.Time `json:"published,omitzero"`
	// Confirmed is when, by the device's clock, central last confirmed
	// that this list is the one it publishes (sync/agent); zero for a list
	// central never sent (one imported on the device).
	Confirmed time.Time `json:"confirmed,omitzero"`
}

// ScreeningAge is the screening data's age as the policy judges it.
type ScreeningAge struct {
	// At is ScreeningData.At: the device's clock the ages count to.
	At     time.Time      `json:"at"`
	MaxAge time.Duration  `json:"max_age_ns"`
	Lists  []WatchlistAge `json:"lists"`
	// Stale: no list at all, or one older than MaxAge or of unknown age.
	// A would-be approval goes to review (SCREENING_STALE).
	Stale bool `json:"stale"`
	// Problem says in words why the data is stale; empty when fresh.
	Problem string `json:"problem,omitempty"`
}

// WatchlistAge is one list's age.
type WatchlistAge struct {
	WatchlistDates
	// Since is the date the age counts from: "confirmed" (central's last
	// confirmation) or "published" (the list's date, for a list central
	// never sent); empty when the age is unknown.
	Since string `json:"since,omitempty"`
	// Age is the time since then; meaningful only when Known.
	Age time.Duration `json:"age_ns"`
	// Known is false when the list has no date or the device's clock is
	// behind one of its dates: a negative age is no evidence of a fresh
	// list, only of a wrong clock.
	Known bool `json:"known"`
	Stale bool `json:"stale"`
	// Problem says why the list is stale, in words.
	Problem string `json:"problem,omitempty"`
}

// ScreeningAge judges d against c.ScreeningMaxAgeDays. Each list's age
// counts from central's last confirmation of it, else (a list imported on
// the device) from its own date.
func (c Config) ScreeningAge(d ScreeningData) ScreeningAge {
	days := c.ScreeningMaxAgeDays
	if days == 0 {
		days = DefaultScreeningMaxAgeDays
	}
	a := ScreeningAge{At: d.At, MaxAge: time.Duration(days) * 24 * time.Hour, Lists: make([]WatchlistAge, 0, len(d.Lists))}
	var problems []string
	if len(d.Lists) == 0 {
		a.Stale = true
		problems = append(problems, "no watchlist installed: the name was screened against nothing")
	}
	for _, l := range d.Lists {
		w := judgeList(l, d.At, a.MaxAge)
		if w.Stale {
			a.Stale = true
			problems = append(problems, w.Name+": "+w.Problem)
		}
		a.Lists = append(a.Lists, w)
	}
	a.Problem = strings.Join(problems, "; ")
	return a
}

// judgeList ages one list at now: unknown when a date it must be after is
// ahead of now (beyond ClockSkew), stale beyond maxAge.
func judgeList(l WatchlistDates, now time.Time, maxAge time.Duration) WatchlistAge {
	w := WatchlistAge{WatchlistDates: l}
	asOf, since := l.Confirmed, "confirmed"
	if asOf.IsZero() {
		asOf, since = l.Published, "published"
	}
	behind := func(t time.Time) bool { return !t.IsZero() && now.Before(t.Add(-ClockSkew)) }
	switch {
	case asOf.IsZero():
		w.Problem = "age unknown: the list has no date and central never confirmed it"
	case now.IsZero():
		w.Problem = "age unknown: no time of screening"
	case behind(l.Confirmed):
		w.Problem = fmt.Sprintf("age unknown: the device's clock (%s) is behind central's confirmation of the list (%s)", stamp(now), stamp(l.Confirmed))
	case behind(l.Published):
		w.Problem = fmt.Sprintf("age unknown: the device's clock (%s) is behind the list's date (%s)", stamp(now), stamp(l.Published))
	default:
		w.Since, w.Known, w.Age = since, true, max(now.Sub(asOf), 0)
		if w.Age <= maxAge {
			return w
		}
		what := "since central last confirmed it"
		if since == "published" {
			what = "since its date, and central never confirmed it"
		}
		w.Problem = fmt.Sprintf("%s old %s, beyond %s", days(w.Age), what, days(maxAge))
	}
	w.Stale = true
	return w
}

// days writes d in days, to a tenth: "9.5 days".
func days(d time.Duration) string {
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
