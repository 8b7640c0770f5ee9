package screening

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Date is a calendar date whose day, or month and day, may be unknown
// (zero), as lists often publish only a year or a month.
type Date struct {
	Year, Month, Day int
}

// DOB is a date of birth as lists publish it: one date, or a span From..To
// ("1962 to 1964"), possibly marked approximate ("circa 1970").
type DOB struct {
	From  Date `json:"from"`
	To    Date `json:"to"`
	Circa bool `json:"circa,omitempty"`
}

// ErrBadDate is returned for a date that is not a valid calendar date in a
// supported form.
var ErrBadDate = errors.New("invalid date")

// circaSlack widens an approximate date of birth on each side.
const circaSlack = 2 * 365

// IsZero reports whether the date is unknown.
func (d Date) IsZero() bool { return d.Year == 0 }

// String formats the date as YYYY, YYYY-MM or YYYY-MM-DD.
func (d Date) String() string {
	switch {
	case d.Year == 0:
		return ""
	case d.Month == 0:
		return fmt.Sprintf("%04d", d.Year)
	case d.Day == 0:
		return fmt.Sprintf("%04d-%02d", d.Year, d.Month)
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDate parses YYYY-MM-DD, YYYY-MM or YYYY. A zero month or day
// ("1970-00-00", as some lists write unknown parts) means unknown.
func ParseDate(s string) (Date, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) > 3 {
		return Date{}, fmt.Errorf("%w: %q", ErrBadDate, s)
	}
	var n [3]int
	widths := [3]int{4, 2, 2}
	for i, p := range parts {
		if len(p) != widths[i] {
			return Date{}, fmt.Errorf("%w: %q (want YYYY-MM-DD, YYYY-MM or YYYY)", ErrBadDate, s)
		}
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Date{}, fmt.Errorf("%w: %q", ErrBadDate, s)
		}
		n[i] = v
	}
	d := Date{Year: n[0], Month: n[1], Day: n[2]}
	if d.Month == 0 {
		d.Day = 0
	}
	return d, d.validate(s)
}

func (d Date) validate(src string) error {
	if d.Year < 1800 || d.Year > 2200 || d.Month < 0 || d.Month > 12 || d.Day < 0 ||
		(d.Day > 0 && d.Day > daysIn(d.Year, d.Month)) {
		return fmt.Errorf("%w: %q", ErrBadDate, src)
	}
	return nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// span returns the first and last possible day of d, in days since 1970.
func (d Date) span() (lo, hi int) {
	day := func(y, m, dd int) int {
		return int(time.Date(y, time.Month(m), dd, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	}
	switch {
	case d.Month == 0:
		return day(d.Year, 1, 1), day(d.Year, 12, 31)
	case d.Day == 0:
		return day(d.Year, d.Month, 1), day(d.Year, d.Month, daysIn(d.Year, d.Month))
	}
	v := day(d.Year, d.Month, d.Day)
	return v, v
}

// months maps English month names and their three-letter abbreviations.
var months = func() map[string]int {
	m := make(map[string]int, 24)
	for i := time.January; i <= time.December; i++ {
		name := strings.ToLower(i.String())
		m[name], m[name[:3]] = int(i), int(i)
	}
	m["sept"] = 9
	return m
}()

// parseDOBText parses the textual dates of birth used in OFAC remarks and UN
// notes: "28 Jul 1963", "Jul 1963", "1963", "circa 1963", "1962 to 1964",
// "circa 1960-1962", "01 Jan 1960 to 31 Dec 1962", "Nov. 1973".
func parseDOBText(s string) (DOB, error) {
	t := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ".")))
	var dob DOB
	for _, p := range []string{"circa ", "approximately ", "approx. ", "approx ", "about ", "ca. "} {
		if rest, ok := strings.CutPrefix(t, p); ok {
			dob.Circa, t = true, rest
			break
		}
	}
	from, to, isRange := strings.Cut(t, " to ")
	if !isRange {
		// "1960-1962" joins two years with a hyphen.
		if a, b, ok := strings.Cut(t, "-"); ok && len(a) == 4 && len(b) == 4 {
			from, to, isRange = a, b, true
		}
	}
	var err error
	if dob.From, err = parseTextDate(from); err != nil {
		return DOB{}, fmt.Errorf("date of birth %q: %w", s, err)
	}
	dob.To = dob.From
	if isRange {
		if dob.To, err = parseTextDate(to); err != nil {
			return DOB{}, fmt.Errorf("date of birth %q: %w", s, err)
		}
		fromLo, _ := dob.From.span()
		if _, toHi := dob.To.span(); toHi < fromLo {
			return DOB{}, fmt.Errorf("date of birth %q: %w: range ends before it starts", s, ErrBadDate)
		}
	}
	return dob, nil
}

// parseTextDate parses "28 Jul 1963", "Jul 1963", "July 1963" or "1963".
func parseTextDate(s string) (Date, error) {
	f := strings.Fields(strings.ReplaceAll(s, ".", " "))
	var d Date
	bad := fmt.Errorf("%w: %q", ErrBadDate, strings.TrimSpace(s))
	num := func(x string) (int, bool) {
		v, err := strconv.Atoi(x)
		return v, err == nil
	}
	switch len(f) {
	case 3:
		day, ok1 := num(f[0])
		mon, ok2 := months[f[1]]
		year, ok3 := num(f[2])
		if !ok1 || !ok2 || !ok3 || day < 1 {
			return Date{}, bad
		}
		d = Date{Year: year, Month: mon, Day: day}
	case 2:
		mon, ok1 := months[f[0]]
		year, ok2 := num(f[1])
		if !ok1 || !ok2 {
			return Date{}, bad
		}
		d = Date{Year: year, Month: mon}
	case 1:
		year, ok := num(f[0])
		if !ok || len(f[0]) != 4 {
			return Date{}, bad
		}
		d = Date{Year: year}
	default:
		return Date{}, bad
	}
	if err := d.validate(s); err != nil {
		return Date{}, err
	}
	return d, nil
}

// Agreement says how a query attribute compares with a list entry's.
type Agreement string

// Agreements between query and entry. The empty Agreement means one side
// did not say.
const (
	AgreeExact    Agreement = "exact"    // same full date, or same country
	AgreePartial  Agreement = "partial"  // consistent at the precision both sides have
	AgreeNear     Agreement = "near"     // different but within a year: typo or convention, no evidence either way
	AgreeConflict Agreement = "conflict" // clearly different
)

// dobAgreement compares a query date of birth with an entry's, taking the
// most favourable of the entry's dates.
func dobAgreement(q Date, dobs []DOB) Agreement {
	if q.IsZero() || len(dobs) == 0 {
		return ""
	}
	qlo, qhi := q.span()
	best := AgreeConflict
	for _, d := range dobs {
		lo, _ := d.From.span()
		_, hi := d.To.span()
		if d.Circa {
			lo, hi = lo-circaSlack, hi+circaSlack
		}
		var a Agreement
		switch gap := max(qlo-hi, lo-qhi); {
		case gap <= 0 && qlo == qhi && lo == hi:
			a = AgreeExact
		case gap <= 0:
			a = AgreePartial
		case gap <= 366:
			a = AgreeNear
		default:
			a = AgreeConflict
		}
		if rank(a) > rank(best) {
			best = a
		}
	}
	return best
}

func rank(a Agreement) int {
	switch a {
	case AgreeExact:
		return 3
	case AgreePartial:
		return 2
	case AgreeNear:
		return 1
	}
	return 0
}
