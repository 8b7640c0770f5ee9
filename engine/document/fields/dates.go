package fields

import (
	"fmt"
	"strings"
	"time"
)

// dateKind says how a two-digit year is read: a birth or issue date lies
// in the past, an expiry date may lie ahead.
type dateKind int

const (
	pastDate dateKind = iota
	expiryDate
)

// expiryWindow is how many years ahead of now a two-digit expiry year may
// lie, as in package mrz: no document runs for 50 years.
const expiryWindow = 50

// months maps month names and abbreviations in English, French, German,
// Spanish, Dutch and Indonesian (folded, without diacritics) to numbers.
var months = map[string]int{
	"JAN": 1, "JANUARY": 1, "JANUARI": 1, "JANV": 1, "JANVIER": 1, "JANUAR": 1, "ENE": 1, "ENERO": 1,
	"FEB": 2, "FEBRUARY": 2, "FEBRUARI": 2, "FEV": 2, "FEVR": 2, "FEVRIER": 2, "FEBRUAR": 2, "FEBRERO": 2,
	"MAR": 3, "MARCH": 3, "MARET": 3, "MARS": 3, "MARZ": 3, "MAERZ": 3, "MARZO": 3, "MRT": 3, "MAART": 3,
	"APR": 4, "APRIL": 4, "AVR": 4, "AVRIL": 4, "ABR": 4, "ABRIL": 4,
	"MAY": 5, "MEI": 5, "MAI": 5, "MAYO": 5,
	"JUN": 6, "JUNE": 6, "JUNI": 6, "JUIN": 6, "JUNIO": 6,
	"JUL": 7, "JULY": 7, "JULI": 7, "JUIL": 7, "JUILLET": 7, "JULIO": 7,
	"AUG": 8, "AUGUST": 8, "AGU": 8, "AGS": 8, "AGT": 8, "AGUSTUS": 8, "AOUT": 8, "AGO": 8, "AGOSTO": 8, "AUGUSTUS": 8,
	"SEP": 9, "SEPT": 9, "SEPTEMBER": 9, "SEPTEMBRE": 9, "SEPTIEMBRE": 9, "SET": 9,
	"OCT": 10, "OCTOBER": 10, "OKT": 10, "OKTOBER": 10, "OCTOBRE": 10, "OCTUBRE": 10,
	"NOV": 11, "NOVEMBER": 11, "NOVEMBRE": 11, "NOVIEMBRE": 11, "NOP": 11, "NOPEMBER": 11,
	"DEC": 12, "DECEMBER": 12, "DES": 12, "DESEMBER": 12, "DECEMBRE": 12, "DEZ": 12, "DEZEMBER": 12, "DIC": 12, "DICIEMBRE": 12,
}

// digitFix maps the letters OCR confuses with digits to those digits.
var digitFix = map[byte]byte{
	'O': '0', 'o': '0', 'Q': '0', 'D': '0', 'I': '1', 'l': '1', 'L': '1', 'i': '1', '|': '1', '!': '1',
	'B': '8', 'S': '5', 's': '5', 'Z': '2', 'z': '2', 'G': '6', 'b': '6',
}

// fixDigits reads s as a number: look-alike letters become digits. It
// reports how many characters it changed and whether every character of
// s is now a digit.
func fixDigits(s string) (string, int, bool) {
	b := []byte(s)
	n, all := 0, true
	for i, ch := range b {
		if d, ok := digitFix[ch]; ok {
			b[i] = d
			n++
		} else if !isDigit(ch) {
			all = false
		}
	}
	return string(b), n, all
}

// token is a run of digits or of letters in a folded string.
type token struct {
	text       string
	start, end int
	num        bool
}

// dateTokens splits folded text into runs of digits and of letters. A chunk
// between separators that holds a digit and only letters OCR confuses with
// digits ("2O12", "O8") is read as a number.
func dateTokens(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		chunk := s[i:j]
		if fixed, _, all := fixDigits(chunk); all && strings.ContainsAny(chunk, "0123456789") {
			chunk = fixed
		}
		for k := 0; k < len(chunk); {
			l := k
			for l < len(chunk) && isDigit(chunk[l]) == isDigit(chunk[k]) {
				l++
			}
			toks = append(toks, token{chunk[k:l], i + k, i + l, isDigit(chunk[k])})
			k = l
		}
		i = j
	}
	return toks
}

// date is a calendar date as printed; yy is true when the year had two
// digits and still needs its century.
type date struct {
	y, m, d int
	yy      bool
}

func (d date) resolve(kind dateKind, now time.Time) date {
	if !d.yy {
		return d
	}
	y := now.Year() - now.Year()%100 + d.y
	switch kind {
	case expiryDate:
		if y > now.Year()+expiryWindow {
			y -= 100
		} else if y <= now.Year()+expiryWindow-100 {
			y += 100
		}
	default:
		if time.Date(y, time.Month(d.m), d.d, 0, 0, 0, 0, time.UTC).After(now) {
			y -= 100
		}
	}
	return date{y: y, m: d.m, d: d.d}
}

func (d date) iso() string { return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d) }

// valid reports whether the day exists (with a two-digit year, in some
// century: 29 February needs a year divisible by 4).
func (d date) valid() bool {
	if d.m < 1 || d.m > 12 || d.d < 1 || d.y < 0 {
		return false
	}
	y := d.y
	if d.yy {
		y += 2000
	}
	return d.d <= time.Date(y, time.Month(d.m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func number(t token) int {
	n := 0
	for i := 0; i < len(t.text); i++ {
		n = n*10 + int(t.text[i]-'0')
	}
	return n
}

// findDate finds the first date in folded text, returning it (the century
// still unresolved) and its byte span. It reads day-month-year with the
// month as a number or as one or more names ("12 AOUT/AUG 74"), year-month-
// day when the year comes first with four digits, eight digits as DDMMYYYY
// or YYYYMMDD, and month-day-year when the second number cannot be a month
// but the first can.
func findDate(s string) (date, int, int, bool) {
	toks := dateTokens(s)
	numLen := func(i int, lens ...int) bool {
		if i >= len(toks) || !toks[i].num {
			return false
		}
		for _, l := range lens {
			if len(toks[i].text) == l {
				return true
			}
		}
		return false
	}
	year := func(t token) (int, bool) { return number(t), len(t.text) == 2 }
	for i := range toks {
		var d date
		end := -1
		switch {
		case numLen(i, 1, 2):
			// Day, then month names or a month number, then the year.
			j := i + 1
			m := 0
			for j < len(toks) && !toks[j].num {
				if mm, ok := months[toks[j].text]; ok && (m == 0 || m == mm) {
					m = mm
				} else if m == 0 || len(toks[j].text) > 1 {
					m = -1
				}
				j++
			}
			if j == i+1 && numLen(j, 1, 2) && numLen(j+1, 2, 4) {
				m = number(toks[j])
				j++
			}
			// "17-082020": OCR lost the separator between month and year.
			if j == i+1 && m == 0 && numLen(j, 6) {
				t := toks[j].text
				d = date{d: number(toks[i]), m: number(token{text: t[:2]}), y: number(token{text: t[2:]})}
				if d.valid() {
					return d, toks[i].start, toks[j].end, true
				}
			}
			if m > 0 && numLen(j, 2, 4) {
				d = date{d: number(toks[i]), m: m}
				d.y, d.yy = year(toks[j])
				end = j
				if !d.valid() && j == i+2 && d.d <= 12 {
					d.d, d.m = d.m, d.d // month first
				}
			}
		case numLen(i, 4) && numLen(i+1, 1, 2) && numLen(i+2, 1, 2):
			d = date{y: number(toks[i]), m: number(toks[i+1]), d: number(toks[i+2])}
			end = i + 2
		case numLen(i, 4) && numLen(i+1, 4) && number(token{text: toks[i].text[2:]}) <= 12:
			// "1708-2020": OCR lost the separator between day and month.
			t := toks[i].text
			d = date{d: number(token{text: t[:2]}), m: number(token{text: t[2:]}), y: number(toks[i+1])}
			end = i + 1
		case numLen(i, 8):
			t := toks[i].text
			d = date{d: number(token{text: t[:2]}), m: number(token{text: t[2:4]}), y: number(token{text: t[4:]})}
			if !d.valid() || d.y < 1800 {
				d = date{y: number(token{text: t[:4]}), m: number(token{text: t[4:6]}), d: number(token{text: t[6:]})}
			}
			end = i
		}
		if end >= 0 && d.valid() {
			return d, toks[i].start, toks[end].end, true
		}
	}
	return date{}, 0, 0, false
}

// parseDate reads the first date in s as an ISO 8601 date. A date that
// its field cannot hold is a misreading, not a value: a birth or issue
// date after now, an expiry more than expiryWindow years ahead, or any
// date before 1900 ("10/04/49" read as 10104018 is no birth in 4018).
func parseDate(s string, kind dateKind, now time.Time) (string, bool) {
	d, _, _, ok := findDate(fold(s, false).text)
	if !ok {
		return "", false
	}
	d = d.resolve(kind, now)
	if !plausible(d, kind, now) {
		return "", false
	}
	return d.iso(), true
}

// plausible reports whether a resolved date can be a date of its kind.
func plausible(d date, kind dateKind, now time.Time) bool {
	if d.y < 1900 {
		return false
	}
	if kind == expiryDate {
		return d.y <= now.Year()+expiryWindow
	}
	return !time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, time.UTC).After(now)
}
