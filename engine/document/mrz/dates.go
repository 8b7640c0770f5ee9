package mrz

import (
	"fmt"
	"time"
)

// expiryWindow is how many years an expiry date may lie ahead of now; it
// may lie up to 99-expiryWindow years behind. Passports run for at most 10
// years, so a 50/49 split leaves room on both sides for unusual documents
// and for old expired ones.
const expiryWindow = 50

// mrzDate is a YYMMDD date whose month and day may be unknown ("<<").
type mrzDate struct {
	yy         int
	month, day int // 0 when unknown
}

// readDate reads six MRZ characters. A "<<" month or day is unknown; an
// unknown month makes the day unknown too, as ISO 8601 has no way to write
// a day without its month.
func readDate(raw string) (mrzDate, error) {
	if len(raw) != 6 {
		return mrzDate{}, fmt.Errorf("date %q is not 6 characters", raw)
	}
	yy, ok := twoDigits(raw[0:2])
	if !ok {
		return mrzDate{}, fmt.Errorf("date %q has no year", raw)
	}
	d := mrzDate{yy: yy}
	if raw[2:4] == "<<" {
		return d, nil
	}
	if d.month, ok = twoDigits(raw[2:4]); !ok || d.month < 1 || d.month > 12 {
		return mrzDate{}, fmt.Errorf("date %q has no valid month", raw)
	}
	if raw[4:6] == "<<" {
		return d, nil
	}
	// The day is checked against its month once the century is known.
	if d.day, ok = twoDigits(raw[4:6]); !ok || d.day < 1 || d.day > 31 {
		return mrzDate{}, fmt.Errorf("date %q has no valid day", raw)
	}
	return d, nil
}

func twoDigits(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// birthYear is the latest year ending in yy that puts the date on or
// before now: nobody is born in the future. Someone over 100 years old
// therefore reads as a child; the MRZ cannot tell them apart.
func (d mrzDate) birthYear(now time.Time) int {
	y := now.Year() - (now.Year()%100-d.yy+100)%100
	if y == now.Year() && d.month != 0 {
		m, day := int(now.Month()), now.Day()
		if d.month > m || (d.month == m && d.day > day) {
			y -= 100
		}
	}
	return y
}

// expiryYear is the year ending in yy within [now-49, now+50] years.
func (d mrzDate) expiryYear(now time.Time) int {
	y := now.Year() - now.Year()%100 + d.yy
	switch {
	case y > now.Year()+expiryWindow:
		y -= 100
	case y <= now.Year()+expiryWindow-100:
		y += 100
	}
	return y
}

// iso writes the date in year as ISO 8601, shortened to YYYY-MM or YYYY
// when the day or month is unknown. It fails for a day its month lacks.
func (d mrzDate) iso(year int) (string, error) {
	switch {
	case d.month == 0:
		return fmt.Sprintf("%04d", year), nil
	case d.day == 0:
		return fmt.Sprintf("%04d-%02d", year, d.month), nil
	}
	t := time.Date(year, time.Month(d.month), d.day, 0, 0, 0, 0, time.UTC)
	if t.Day() != d.day {
		return "", fmt.Errorf("%04d-%02d has no day %d", year, d.month, d.day)
	}
	return t.Format(time.DateOnly), nil
}
