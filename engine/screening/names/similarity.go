package names

import "unicode/utf8"

// minPhoneticKey is the shortest skeleton Phonetic returns: two-consonant
// skeletons ("mr": Maria, Mario, Mora) collide across unrelated names.
const minPhoneticKey = 3

// Phonetic agreement is believed only between tokens that also look
// alike: unrelated names can share a skeleton (Qiang and Quanguo both
// reduce to k-n-k) while spelling variants differ in a few letters.
// The raise grows from nothing at phoneticMinEdit to its full amount at
// phoneticFullEdit: two edits in four or five letters (amit/ahmet, 0.6)
// is another name that happens to share a skeleton, two in seven
// (kadafi/gaddafi, 0.71) a transliteration.
const (
	phoneticMinJW    = 0.7
	phoneticMinEdit  = 0.6
	phoneticFullEdit = 0.7
)

// shortToken is the length below which one edit changes a token too much
// for string measures alone to judge: "ali" and "wali" are different names.
const shortToken = 4

// Similarity scores two canonical tokens in [0,1]: the mean of their
// Jaro-Winkler similarity and their edit similarity, lowered for very short
// tokens (by 0.05 per rune under shortToken) and, when their phonetic keys
// agree, raised up to halfway to 1, so that a transliteration variant
// counts about as much as a close misspelling. The raise shrinks as the
// spellings draw apart (see phoneticFullEdit): a shared skeleton alone
// does not make two names alike.
//
// Jaro-Winkler alone is lenient on short names: it rates "huang"/"zhang"
// 0.87, as high as a typo in a long name, because it counts shared letters
// and not how many differ. Edit similarity counts exactly that, while
// Jaro-Winkler keeps its credit for a shared start and for order.
//
// Canonical tokens are compared through their spelling variants (see
// Variants), taking the best pair.
func Similarity(a, b string) float64 {
	if a == b {
		return 1
	}
	best := 0.0
	for _, va := range Variants(a) {
		for _, vb := range Variants(b) {
			best = max(best, spellingSimilarity(va, vb))
		}
	}
	return best
}

func spellingSimilarity(a, b string) float64 {
	if a == b {
		return 1
	}
	jw, ed := JaroWinkler(a, b), EditSimilarity(a, b)
	s := (jw + ed) / 2
	if n := min(utf8.RuneCountInString(a), utf8.RuneCountInString(b)); n < shortToken {
		s -= 0.05 * float64(shortToken-n)
	}
	if jw >= phoneticMinJW && ed > phoneticMinEdit {
		if k := Phonetic(a); k != "" && k == Phonetic(b) {
			f := min((ed-phoneticMinEdit)/(phoneticFullEdit-phoneticMinEdit), 1)
			s += f * (1 - s) / 2
		}
	}
	return max(s, 0)
}

// EditSimilarity is 1 minus the optimal-string-alignment distance (edits:
// insert, delete, substitute, transpose adjacent) over the longer length.
func EditSimilarity(a, b string) float64 {
	var d, n int
	if isASCII(a) && isASCII(b) {
		d, n = osa([]byte(a), []byte(b)), max(len(a), len(b))
	} else {
		ra, rb := []rune(a), []rune(b)
		d, n = osa(ra, rb), max(len(ra), len(rb))
	}
	if n == 0 {
		return 1
	}
	return 1 - float64(d)/float64(n)
}

// osa computes the optimal-string-alignment distance with three rolling rows.
func osa[T byte | rune](a, b []T) int {
	var buf [3 * 33]int
	w := len(b) + 1
	var rows []int
	if 3*w <= len(buf) {
		rows = buf[:3*w]
	} else {
		rows = make([]int, 3*w)
	}
	prev2, prev, cur := rows[:w], rows[w:2*w], rows[2*w:]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= w-1; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[w-1]
}

// JaroWinkler returns the Jaro-Winkler similarity of a and b in [0,1]
// (prefix scale 0.1, prefix of at most 4, boost above 0.7 Jaro).
func JaroWinkler(a, b string) float64 {
	if isASCII(a) && isASCII(b) {
		return jaroWinkler([]byte(a), []byte(b))
	}
	return jaroWinkler([]rune(a), []rune(b))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func jaroWinkler[T byte | rune](a, b []T) float64 {
	j := jaro(a, b)
	if j <= 0.7 {
		return j
	}
	prefix := 0
	for prefix < len(a) && prefix < len(b) && prefix < 4 && a[prefix] == b[prefix] {
		prefix++
	}
	return j + float64(prefix)*0.1*(1-j)
}

func jaro[T byte | rune](a, b []T) float64 {
	if len(a) == 0 || len(b) == 0 {
		if len(a) == len(b) {
			return 1
		}
		return 0
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	window := max(len(b)/2-1, 0)
	// Names are short; the stack buffers avoid allocating per comparison.
	var abuf, bbuf [64]bool
	var am, bm []bool
	if len(b) > len(bbuf) {
		am, bm = make([]bool, len(a)), make([]bool, len(b))
	} else {
		am, bm = abuf[:len(a)], bbuf[:len(b)]
	}
	matches := 0
	for i := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for k := lo; k < hi; k++ {
			if !bm[k] && a[i] == b[k] {
				am[i], bm[k] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transposed, k := 0, 0
	for i := range a {
		if !am[i] {
			continue
		}
		for !bm[k] {
			k++
		}
		if a[i] != b[k] {
			transposed++
		}
		k++
	}
	m := float64(matches)
	return (m/float64(len(a)) + m/float64(len(b)) + (m-float64(transposed/2))/m) / 3
}

// Phonetic returns a consonant skeleton of a folded token, or "" when the
// skeleton is too short to tell names apart. Vowels, h, w and
// y dropped after the first letter (a leading vowel becomes "a", a leading
// y or j "j"), consonants
// that transliterations interchange merged (c/k/q/g → k, d/t → t, s/z/soft c
// → s, b/p → b, f/v/ph → f), digraphs reduced, and repeats collapsed.
//
// A skeleton rather than Double Metaphone: the names on sanctions lists are
// mostly transliterated from Arabic, Persian, Cyrillic and Chinese, where
// variants differ in the vowels (Arabic script omits short vowels), in
// doubled letters and in a few consonant pairs (Qaddafi/Gaddafi/Kadafi,
// Yuryevich/Iurievich). Metaphone's English spelling rules model none of
// that and add noise (silent letters, "tion", ...).
func Phonetic(tok string) string {
	var out []byte
	var last byte
	emit := func(c byte) {
		if c != last {
			out = append(out, c)
		}
		last = c
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		var next byte
		if i+1 < len(tok) {
			next = tok[i+1]
		}
		switch c {
		case 'a', 'e', 'i', 'o', 'u', 'y', 'h', 'w':
			switch {
			case i > 0:
				last = 0 // a vowel separates repeated consonants
			case c == 'y':
				emit('j') // Yusuf/Jusuf, Yakub/Jakub
			case c == 'h' || c == 'w':
				emit(c)
			default:
				emit('a') // Omar/Umar, Ibrahim/Ebrahim
			}
		case 'j':
			emit('j')
		case 'c':
			switch next {
			case 'e', 'i', 'y':
				emit('s')
			case 'h':
				emit('s') // ch ~ sh in Latin renderings of Arabic and Russian
				i++
			default:
				emit('k')
			}
		case 'k', 'q', 'g':
			if next == 'h' {
				i++ // kh, gh
			}
			emit('k')
		case 'p':
			if next == 'h' {
				i++
				emit('f')
			} else {
				emit('b')
			}
		case 's':
			if next == 'h' || (next == 'c' && i+2 < len(tok) && tok[i+2] == 'h') {
				for i+1 < len(tok) && (tok[i+1] == 'h' || tok[i+1] == 'c') {
					i++
				}
			}
			emit('s')
		case 'z':
			if next == 'h' {
				i++
				emit('j')
			} else {
				emit('s')
			}
		case 't', 'd':
			if next == 'h' || (c == 't' && next == 's') {
				i++
				if next == 's' {
					emit('s')
					continue
				}
			}
			emit('t')
		case 'b':
			emit('b')
		case 'f', 'v':
			emit('f')
		case 'x':
			emit('k')
			emit('s')
		default:
			emit(c)
		}
	}
	if len(out) < minPhoneticKey {
		return ""
	}
	return string(out)
}
