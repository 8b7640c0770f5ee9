package fields

import (
	"math/bits"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// folded is a line of text in upper case without diacritics, with the byte
// offset in the original text of each of its bytes, so that a span found in
// the folded text can be cut from the original (which keeps the diacritics
// of names).
type folded struct {
	orig string
	text string
	off  []int // off[i] is where text[i] came from in orig; off[len(text)] = len(orig)
}

// specialFold spells the letters that do not decompose into a base letter
// and marks as ICAO 9303 Part 3 transliterates them.
var specialFold = map[rune]string{
	'ß': "SS", 'Æ': "AE", 'æ': "AE", 'Ø': "OE", 'ø': "OE", 'Œ': "OE", 'œ': "OE",
	'Ð': "D", 'ð': "D", 'Đ': "D", 'đ': "D", 'Þ': "TH", 'þ': "TH", 'Ł': "L", 'ł': "L",
	'Ħ': "H", 'ħ': "H", 'ı': "I", 'Ŋ': "N", 'ŋ': "N",
}

// expandFold is the other spelling ICAO 9303 allows for a few letters
// (Ä as AE rather than A, ...); names are compared in both spellings.
var expandFold = map[rune]string{
	'Ä': "AE", 'ä': "AE", 'Ö': "OE", 'ö': "OE", 'Ü': "UE", 'ü': "UE", 'Å': "AA", 'å': "AA",
}

// fold folds s; expand picks the long spelling of the letters in expandFold.
func fold(s string, expand bool) folded {
	f := folded{orig: s}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		start := b.Len()
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteByte(byte(r))
		case expand && expandFold[r] != "":
			b.WriteString(expandFold[r])
		case specialFold[r] != "":
			b.WriteString(specialFold[r])
		default:
			for _, d := range norm.NFD.String(string(r)) {
				if !unicode.Is(unicode.Mn, d) {
					b.WriteString(string(unicode.ToUpper(d)))
				}
			}
		}
		for j := start; j < b.Len(); j++ {
			f.off = append(f.off, i)
		}
	}
	f.text = b.String()
	f.off = append(f.off, len(s))
	return f
}

// original returns the original text behind folded bytes [start, end).
func (f folded) original(start, end int) string {
	return f.orig[f.off[start]:f.off[end]]
}

// compact is the letters of a folded line, for fuzzy label matching: OCR
// inserts, drops and changes spaces and punctuation, so only letters count.
// Inside a word that has letters, digits that look like letters are read as
// those letters ("G0L" is "GOL"); any other character ends a word.
type compact struct {
	c     []byte
	off   []int  // off[i] is the offset in the folded text of c[i]
	start []bool // c[i] begins a word
	set   uint32 // bit l is set when the letter 'A'+l occurs
}

// digitLetters maps digits to the letters OCR mistakes them for.
var digitLetters = [10]byte{'O', 'I', 'Z', 0, 0, 'S', 'G', 0, 'B', 0}

func newCompact(text string) compact {
	var c compact
	for i := 0; i < len(text); {
		j := i
		letters := false
		for j < len(text) && isAlnum(text[j]) {
			letters = letters || isLetter(text[j])
			j++
		}
		if j == i {
			i++
			continue
		}
		boundary := true
		for k := i; k < j && letters; k++ {
			ch := text[k]
			if isDigit(ch) {
				ch = digitLetters[ch-'0']
			}
			if ch == 0 {
				boundary = true
				continue
			}
			c.c = append(c.c, ch)
			c.set |= 1 << (ch - 'A')
			c.off = append(c.off, k)
			c.start = append(c.start, boundary)
			boundary = false
		}
		i = j
	}
	return c
}

func isLetter(b byte) bool { return 'A' <= b && b <= 'Z' }
func isDigit(b byte) bool  { return '0' <= b && b <= '9' }
func isAlnum(b byte) bool  { return isLetter(b) || isDigit(b) }

// letters keeps the letters of a folded keyword: the form it is matched in.
func letters(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isLetter(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// maxErrors is how many edits a keyword of n letters may be off by and
// still match: a quarter of its length, so short keywords must be exact.
func maxErrors(n int) int { return n / 4 }

// hit is a fuzzy match of a pattern over compact letters [start, end).
type hit struct{ start, end, dist int }

// maxPattern is the longest pattern find takes: one bit per letter.
const maxPattern = 64

// pattern is a keyword compiled for find.
type pattern struct {
	text    string // as written
	letters string
	peq     [26]uint64 // peq[c] has bit i set where letters[i] is 'A'+c
	set     uint32     // the letters that occur
}

// pats compiles keywords (folded: upper case, no diacritics).
func pats(keywords ...string) []pattern {
	out := make([]pattern, len(keywords))
	for i, kw := range keywords {
		p := pattern{text: kw, letters: letters(kw)}
		for j := 0; j < len(p.letters) && j < maxPattern; j++ {
			p.peq[p.letters[j]-'A'] |= 1 << j
			p.set |= 1 << (p.letters[j] - 'A')
		}
		out[i] = p
	}
	return out
}

// find returns the non-overlapping approximate occurrences of p (at most
// maxPattern letters) in c with at most maxErrors(len(pat))
// edits, best first. Patterns of four letters or fewer must be whole
// words: "NOM" is not the end of "PRENOMS". The ends of the matches come
// from Myers' bit-parallel edit distance, so a line costs one pass per
// pattern; only the few candidate ends are traced back to their starts.
func (c *compact) find(p *pattern) []hit {
	pat := p.letters
	m, n := len(pat), len(c.c)
	if m == 0 || m > maxPattern || n == 0 {
		return nil
	}
	k := maxErrors(m)
	// Each letter of the pattern missing from the line costs an edit.
	missing := 0
	for absent := p.set &^ c.set; absent != 0; absent &= absent - 1 {
		missing += bits.OnesCount64(p.peq[bits.TrailingZeros32(absent)])
	}
	if missing > k {
		return nil
	}
	pv, mv, score, last := ^uint64(0), uint64(0), m, uint64(1)<<(m-1)
	var cands []hit
	for j := 0; j < n; j++ {
		eq := p.peq[c.c[j]-'A']
		xv := eq | mv
		xh := (((eq & pv) + pv) ^ pv) | eq
		ph := mv | ^(xh | pv)
		mh := pv & xh
		if ph&last != 0 {
			score++
		} else if mh&last != 0 {
			score--
		}
		ph <<= 1
		mh <<= 1
		pv = mh | ^(xv | ph)
		mv = ph & xv
		if score > k {
			continue
		}
		h := hit{start: j + 1 - c.matchLength(pat, j+1, score), end: j + 1, dist: score}
		if m <= 4 && (!c.start[h.start] || (h.end < n && !c.start[h.end])) {
			continue
		}
		cands = append(cands, h)
	}
	if len(cands) < 2 {
		return cands
	}
	sort.SliceStable(cands, func(a, b int) bool {
		if cands[a].dist != cands[b].dist {
			return cands[a].dist < cands[b].dist
		}
		// Of equal matches the one closest to the pattern's length wins.
		return abs(cands[a].end-cands[a].start-m) < abs(cands[b].end-cands[b].start-m)
	})
	var out []hit
	for _, h := range cands {
		ok := true
		for _, o := range out {
			if h.start < o.end && o.start < h.end {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, h)
		}
	}
	return out
}

// matchLength is the length of the text ending at end that pat matches
// with dist edits, the one closest to pat's length: an edit distance
// computed backwards from end.
func (c *compact) matchLength(pat string, end, dist int) int {
	m := len(pat)
	w := min(end, m+maxErrors(m))
	// row[j] is the distance between pat's last i letters and the j
	// letters before end.
	row := make([]int, w+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= m; i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= w; j++ {
			cost := 1
			if pat[m-i] == c.c[end-j] {
				cost = 0
			}
			diag, row[j] = row[j], min(diag+cost, row[j]+1, row[j-1]+1)
		}
	}
	// Myers' distance is the least over the lengths up to w, so some j
	// has it; w stands until one is found.
	best := w
	for j := w; j >= 1; j-- {
		if row[j] == dist && abs(j-m) <= abs(best-m) {
			best = j
		}
	}
	return best
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j-1]+cost, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nearest returns the choice whose letters are closest to s's, with its
// match quality, if it is off by at most a quarter of its letters (or by
// one, for a choice of three letters or more: OCR often misreads one).
func nearest(s string, choices []string) (string, float64, bool) {
	l := letters(fold(s, false).text)
	best, bestQ := "", 0.0
	for _, ch := range choices {
		cl := letters(ch)
		d := levenshtein(l, cl)
		allowed := max(maxErrors(len(cl)), min(1, len(cl)/3))
		if d > allowed {
			continue
		}
		if q := 1 - float64(d)/float64(len(cl)+1); q > bestQ {
			best, bestQ = ch, q
		}
	}
	return best, bestQ, best != ""
}

// separators are the characters OCR leaves between a label and its value:
// the colon and what it is misread as.
const separators = ":;.,=_|\t "

func trimSeparators(s string) string { return strings.Trim(s, separators) }

// spaces collapses runs of white space.
func spaces(s string) string { return strings.Join(strings.Fields(s), " ") }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
