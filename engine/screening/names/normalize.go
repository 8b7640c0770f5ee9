// Package names turns person and organisation names into comparable tokens
// and scores how alike two tokens are. It knows nothing about watchlists:
// it folds case, diacritics, punctuation and Cyrillic and Greek script,
// repairs OCR misreads (digits inside words, MRZ filler read as K), drops
// honorifics, maps common transliteration variants (Mohammed/Muhammad,
// Abdel/Abdul, Yusuf/Yousef, ...) to one spelling, and offers Jaro-Winkler
// similarity plus a consonant-skeleton phonetic key.
package names

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold lowercases s, strips diacritics, transliterates Cyrillic, deletes
// apostrophes and periods (so "O'Neil" and "S.A." stay one word) and turns
// every other non-alphanumeric rune into a single space.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // suppress leading and repeated spaces
	rs := []rune(norm.NFKD.String(s))
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case isJoiner(r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
			if t, n := greekDigraph(rs[i:], space); n > 0 {
				b.WriteString(t)
				i += n - 1
			} else if t, ok := letterMap[r]; ok {
				b.WriteString(t)
			} else {
				b.WriteRune(r)
			}
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimSuffix(b.String(), " ")
}

// isJoiner reports runes removed without a word break: apostrophes (and the
// ayn/hamza marks transliterations write with them) and periods.
func isJoiner(r rune) bool {
	switch r {
	case '\'', '’', '‘', '`', '´', 'ʼ', 'ʻ', 'ʿ', 'ʾ', '.':
		return true
	}
	return false
}

// letterMap spells out letters that NFKD does not decompose into a base
// letter, and Cyrillic per the ICAO 9303 passport transliteration, since
// names on identity documents are written that way.
var letterMap = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'đ': "d", 'ð': "d", 'þ': "th",
	'ł': "l", 'ı': "i", 'ħ': "h", 'ŧ': "t", 'ŋ': "ng",
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'д': "d", 'е': "e", 'ж': "zh",
	'з': "z", 'и': "i", 'к': "k", 'л': "l", 'м': "m", 'н': "n", 'о': "o",
	'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh",
	'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "ie", 'ы': "y",
	'ь': "", 'э': "e", 'ю': "iu", 'я': "ia", 'і': "i", 'ї': "i", 'є': "ie",
	'ґ': "g", 'ў': "u", 'ј': "j", 'љ': "lj", 'њ': "nj", 'џ': "dz", 'ђ': "dj",
	'ћ': "c",
	// Greek per ICAO 9303 (ELOT 743); digraphs in greekDigraph.
	'α': "a", 'β': "v", 'γ': "g", 'δ': "d", 'ε': "e", 'ζ': "z", 'η': "i",
	'θ': "th", 'ι': "i", 'κ': "k", 'λ': "l", 'μ': "m", 'ν': "n", 'ξ': "x",
	'ο': "o", 'π': "p", 'ρ': "r", 'σ': "s", 'ς': "s", 'τ': "t", 'υ': "y",
	'φ': "f", 'χ': "ch", 'ψ': "ps", 'ω': "o",
}

// greekDigraph transliterates the Greek letter pairs that ICAO 9303
// writes as one sound (ου → ou; αυ, ευ → av, ev; μπ, ντ, γκ → b, d, g
// at the start of a word, mb, nd, ng inside), returning the Latin text and
// how many runes of rs it used, or 0 when rs does not start with one.
// Combining accents between the two letters have been split off by NFKD
// and are skipped.
func greekDigraph(rs []rune, wordStart bool) (string, int) {
	if len(rs) < 2 {
		return "", 0
	}
	a := unicode.ToLower(rs[0])
	j := 1
	for j < len(rs) && unicode.Is(unicode.Mn, rs[j]) {
		j++
	}
	if j == len(rs) {
		return "", 0
	}
	c := unicode.ToLower(rs[j])
	switch {
	case a == 'ο' && c == 'υ':
		return "ou", j + 1
	case (a == 'α' || a == 'ε') && c == 'υ':
		return letterMap[a] + "v", j + 1
	case a == 'μ' && c == 'π', a == 'ν' && c == 'τ', a == 'γ' && c == 'κ':
		if wordStart {
			return map[rune]string{'π': "b", 'τ': "d", 'κ': "g"}[c], j + 1
		}
		return map[rune]string{'π': "mb", 'τ': "nd", 'κ': "ng"}[c], j + 1
	case a == 'γ' && c == 'γ':
		return "ng", j + 1
	}
	return "", 0
}

// Tokens folds s and returns its name tokens in display order, with
// honorifics dropped and transliteration variants mapped to one canonical
// spelling. A name written "FAMILY, Given Middle" (the list convention) is
// reordered to Given Middle FAMILY. When a name consists of nothing but
// honorifics they are kept, so that a non-empty name never yields no
// tokens.
func Tokens(s string) []string {
	toks, _ := TokensTitles(s)
	return toks
}

// TokensTitles returns Tokens(s) and, apart, the honorifics it dropped, in
// the order written. Callers keep the titles so that one side's title can
// stand for a word the other side writes where that title is
// ("MOHAMMAD, Haji Baz" against "Haeji Baz Mohammad"): whether a title is
// recognised must not decide whether two spellings of a name match.
func TokensTitles(s string) (toks, titles []string) {
	if family, given, ok := strings.Cut(s, ","); ok {
		s = given + " " + family
	}
	raw := strings.Fields(Fold(s))
	for i, t := range raw {
		raw[i] = ocrRepair(t)
	}
	raw = slices.DeleteFunc(raw, func(t string) bool { return t == "" })
	out := make([]string, 0, len(raw))
	for _, t := range raw {
		if honorifics[t] {
			titles = append(titles, t)
			continue
		}
		out = appendCanonical(out, t)
	}
	if len(out) == 0 {
		for _, t := range raw {
			out = appendCanonical(out, t)
		}
		titles = nil
	}
	return out, titles
}

// ocrLetters are the letters OCR most often reads as digits.
// Index by digit value; 0 means the digit resembles no letter.
var ocrLetters = [10]byte{0: 'o', 1: 'i', 2: 'z', 5: 's', 6: 'g', 8: 'b'}

// ocrRepair undoes the two misreadings of machine-read names: a digit
// inside a word (M0HAMMED, 5.A.), read back as the letter it resembles
// when the token also holds letters (all-digit tokens are numbers), and
// MRZ filler '<' read as K, which leaves a run of three or more k at the
// end of the last name ("YURYEVICHKKKKK"); no name ends that way. A token
// of nothing but such filler becomes empty.
func ocrRepair(t string) string {
	if n := len(t) - len(strings.TrimRight(t, "k")); n >= 3 {
		t = t[:len(t)-n]
	}
	hasLetter, hasDigit := false, false
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			hasDigit = true
		case c >= 'a' && c <= 'z', c >= utf8.RuneSelf:
			hasLetter = true
		}
	}
	if !hasLetter || !hasDigit {
		return t
	}
	b := []byte(t)
	for i, c := range b {
		if c >= '0' && c <= '9' && ocrLetters[c-'0'] != 0 {
			b[i] = ocrLetters[c-'0']
		}
	}
	return string(b)
}

// Canonical returns the canonical tokens of one folded word, as Tokens
// would produce them for it (one token, or two for a fused "Abdul" name).
func Canonical(word string) []string {
	return appendCanonical(nil, word)
}

// appendCanonical appends the canonical form of t, splitting the fused
// "Abdul"+name compounds ("Abdulrahman" → "abd", "rahman") that lists and
// documents write both fused and apart.
func appendCanonical(out []string, t string) []string {
	if c, ok := variants[t]; ok {
		return append(out, c)
	}
	for _, p := range abdPrefixes {
		// Four letters at least: a shorter rest is more likely a typo
		// inside Abdullah or Abdel than a name of its own.
		if rest, ok := strings.CutPrefix(t, p); ok && len(rest) >= 4 {
			return appendCanonical(append(out, "abd"), rest)
		}
	}
	return append(out, t)
}

// abdPrefixes are the fused spellings of "servant of" that start
// theophoric Arabic names; longest first so "abdul" wins over "abd".
var abdPrefixes = []string{"abdoul", "abdul", "abdel", "abdal", "abdol", "abdur", "abdu"}

// honorifics are titles and generational suffixes that are not part of who
// someone is. Words that are also common surnames (Major, General, King)
// are deliberately absent.
var honorifics = set(
	"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady",
	"haji", "hajji", "hadji", "hajj", "alhaj", "alhaji", "alhajji",
	"sheikh", "shaikh", "sheik", "shaykh", "cheikh", "mullah", "mulla", "molla",
	"maulana", "maulvi", "maulavi", "mawlawi", "mawlavi", "mawlana",
	"colonel", "col", "capt", "captain", "lt", "sgt", "brig",
	"jr", "junior", "sr", "snr", "jnr", "ii", "iii", "iv",
)

// Variants returns the spellings that Tokens maps to the canonical token
// canon, canon first; for any other token just the token itself.
// Similarity compares across them, so that a misspelt "Ahned" is still
// one letter from "Ahmed" although "Ahmed" is indexed as "ahmad".
func Variants(canon string) []string {
	if f, ok := families[canon]; ok {
		return f
	}
	return []string{canon}
}

// families maps each canonical token of variants to its whole group.
var families = func() map[string][]string {
	m := make(map[string][]string)
	for v, c := range variants {
		if _, ok := m[c]; !ok {
			m[c] = []string{c}
		}
		if v != c {
			m[c] = append(m[c], v)
		}
	}
	for _, f := range m {
		slices.Sort(f[1:]) // map order is random; keep results reproducible
	}
	return m
}()

// variants maps transliteration variants of frequent given names to one
// spelling. Differences a single typo apart are left to Similarity.
var variants = func() map[string]string {
	groups := [][]string{
		{"muhammad", "mohammed", "mohamed", "mohamad", "mohammad", "muhammed", "muhamad",
			"muhamed", "mohd", "mouhamed", "mouhammed", "mohamud", "mahomed", "mohummad", "muhamaad"},
		{"abd", "abdel", "abdul", "abdal", "abdol", "abdoul", "abdu"},
		{"abdallah", "abdullah", "abdulla", "abdollah", "abdalla", "abdellah"},
		{"yusuf", "yousef", "yousuf", "youssef", "yusef", "yussuf", "jusuf", "youssouf", "yosef", "yousif", "yusif"},
		{"ahmad", "ahmed", "ahmet", "achmad", "ahmadou", "ahmadu"},
		{"husayn", "hussein", "husain", "hussain", "hossein", "houssein", "husein", "hussayn"},
		{"hasan", "hassan", "hasen"},
		{"umar", "omar", "omer", "oumar"},
		{"usama", "osama", "usamah", "oussama", "ousama"},
		{"mustafa", "mustapha", "moustafa", "mostafa", "moustapha"},
		{"khalid", "khaled", "khaleed"},
		{"ibrahim", "ebrahim", "ibraheem", "brahim"},
		{"abu", "abou", "abo"},
		{"bin", "ibn", "bn"},
		{"uthman", "othman", "osman", "usman", "outhman"},
		{"suleiman", "sulaiman", "sulayman", "soliman", "suleyman", "sleiman"},
		{"yahya", "yahia", "yehia", "yahiya"},
		{"jafar", "jaafar", "djafar", "gafar"},
		{"aleksandr", "alexander", "aleksander", "alexandr", "oleksandr"},
		{"aleksey", "alexey", "aleksei", "alexei", "oleksii", "oleksiy"},
		{"dmitriy", "dmitry", "dmitri", "dmitrii", "dmytro"},
		{"sergey", "sergei", "sergiy", "serhiy", "serhii"},
		{"andrey", "andrei", "andriy", "andrii"},
		{"yuriy", "yuri", "yury", "iurii", "yurii", "iouri"},
		{"nikolay", "nikolai", "mykola"},
		{"evgeniy", "yevgeniy", "evgeny", "yevgeny", "evgenii", "yevgenii", "ievgen", "yevhen"},
		{"mikhail", "mikhael", "mykhailo"},
		{"vladimir", "volodymyr", "wladimir"},
	}
	m := make(map[string]string)
	for _, g := range groups {
		for _, v := range g {
			m[v] = g[0]
		}
	}
	return m
}()

// particles are connective words inside names (Arabic al-, bin; Romance de,
// la; Germanic van, von) and single letters (initials). They count for less
// because they say little about who is meant.
var particles = set(
	"al", "el", "ul", "bin", "bint", "ben", "ould", "abu", "umm",
	"van", "von", "der", "den", "ter", "de", "da", "di", "del", "della", "la", "le",
	"du", "dos", "das", "do", "y", "e", "st",
)

// orgWords are legal forms and connectives in organisation names.
var orgWords = set(
	"company", "co", "ltd", "limited", "llc", "llp", "lp", "inc", "incorporated",
	"corp", "corporation", "sa", "sas", "sl", "srl", "sro", "spa", "sarl", "gmbh", "ag",
	"bv", "nv", "plc", "pjsc", "ojsc", "cjsc", "jsc", "oao", "zao", "ooo", "pao", "ltda",
	"cv", "fze", "fzco", "fzc", "and", "of", "the", "for", "in",
)

// LexicalWeight is how much a canonical token says about identity on its
// own: 1 for ordinary name words, less for particles, initials and legal
// forms. Callers may scale it further, e.g. by rarity.
func LexicalWeight(tok string) float64 {
	switch {
	case particles[tok], orgWords[tok]:
		return 0.3
	case len(tok) == 1:
		return 0.3
	}
	return 1
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}
