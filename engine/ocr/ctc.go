package ocr

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
)

// MRZAlphabet is the character set of machine-readable zones (ICAO 9303).
const MRZAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"

// LineKind is what a line holds, which picks the recogniser that reads it.
type LineKind int

const (
	// FreeText is printed text of any kind: Config.RecModel reads it.
	FreeText LineKind = iota
	// MRZLines are lines of a machine readable zone: Config.MRZ's
	// recogniser number DecodeOptions.Opinion reads them.
	MRZLines
)

// DecodeOptions shape how the recogniser's frames become text.
type DecodeOptions struct {
	// Kind picks the recogniser (FreeText by default).
	Kind LineKind
	// Opinion picks, for MRZ lines, which of Config.MRZ's recognisers
	// reads them (0, the first, by default; Engine.MRZOpinions bounds it).
	Opinion int
	// Allow limits the output to these characters: at every frame the best
	// of them competes only with the CTC blank, so a character the network
	// reads as a look-alike outside the set comes out as its best reading
	// inside it. Empty allows every class.
	Allow string
	// Alias reads the classes of one character as another before Allow is
	// applied (PP-OCR sometimes reads the MRZ filler '<' as '«' or 'く').
	Alias map[rune]rune
	// Lengths, when set, are the only lengths a line may have (an MRZ line
	// has 30, 36 or 44 characters). A line read shorter than one of them is
	// read again as the most probable text of the shortest such length: the
	// recogniser drops faint characters far more often than it invents
	// them. A line read longer than all of them is kept as read.
	Lengths []int
	// MaxAdded bounds how many characters the length repair may add; a
	// line further from every length is kept as read. 0 means no bound.
	MaxAdded int
	// MaxWidth, when set, squeezes a line whose recogniser input would be
	// wider than this many pixels to that width. The recogniser's cost
	// grows faster than linearly with width, and it reads best at two to
	// four frames (of 8 pixels) per character: a caller that knows how many
	// characters a line holds can bound the width by it.
	MaxWidth int
	// FullWidth reads lines at their natural width rather than squeezed to
	// three quarters of it (recSqueeze): for dense lines of known length,
	// such as an MRZ, where a blurred line loses characters at fewer
	// frames per character.
	FullWidth bool
}

// decoder is DecodeOptions resolved against the recogniser's classes.
type decoder struct {
	// candidates are the classes that compete with the blank; nil means all.
	candidates []int
	// symbol is the character each class decodes to (index 0, the blank,
	// is unused).
	symbol []rune
}

func (e *recognizer) decoder(opt DecodeOptions) (decoder, error) {
	d := decoder{symbol: make([]rune, len(e.classes)+1)}
	for i, r := range e.classes {
		d.symbol[i+1] = r
		if to, ok := opt.Alias[r]; ok {
			d.symbol[i+1] = to
		}
	}
	if opt.Allow == "" {
		return d, nil
	}
	allowed := make(map[rune]bool)
	for _, r := range opt.Allow {
		allowed[r] = true
	}
	for c := 1; c < len(d.symbol); c++ {
		if allowed[d.symbol[c]] {
			d.candidates = append(d.candidates, c)
		}
	}
	covered := make(map[rune]bool)
	for _, c := range d.candidates {
		covered[d.symbol[c]] = true
	}
	var missing []string
	for r := range allowed {
		if !covered[r] {
			missing = append(missing, string(r))
		}
	}
	if len(missing) > 0 {
		return decoder{}, fmt.Errorf("ocr: the recogniser has no class for %q", strings.Join(missing, ""))
	}
	return d, nil
}

// decode is CTC greedy decoding of one line: take the best class at every
// frame, merge runs of the same character and drop blanks. A character's
// confidence is the highest probability over the frames of its run.
func (d decoder) decode(probs []float32, frames, classes int) []Char {
	chars, _ := d.decodeFrames(probs, frames, classes)
	return chars
}

// decodeFrames is decode that also returns, for each character, the frame
// of its run where it was likeliest.
func (d decoder) decodeFrames(probs []float32, frames, classes int) ([]Char, []int) {
	var out []Char
	var at []int
	prev := rune(-1) // the blank
	for t := 0; t < frames; t++ {
		p := probs[t*classes : (t+1)*classes]
		best, bp := 0, p[0]
		if d.candidates == nil {
			for c := 1; c < classes; c++ {
				if p[c] > bp {
					best, bp = c, p[c]
				}
			}
		} else {
			for _, c := range d.candidates {
				if p[c] > bp {
					best, bp = c, p[c]
				}
			}
		}
		if best == 0 {
			prev = -1
			continue
		}
		sym := d.symbol[best]
		if sym == prev {
			if bp > out[len(out)-1].Conf {
				out[len(out)-1].Conf, at[len(at)-1] = bp, t
			}
			continue
		}
		out = append(out, Char{Rune: sym, Conf: bp})
		at = append(at, t)
		prev = sym
	}
	return out, at
}

// sizeOnlyCase are the letters whose lower case is their capital made
// smaller, and 'l', which is 'I' in most sans-serif faces: a recogniser
// tells them apart by size alone, so they say nothing about a word's case.
const sizeOnlyCase = "cosuvwxzl"

// capitalize reads each lower-case letter of a word of capitals as the
// likeliest capital at its frame. The English recognisers read "SITI" as
// "SlTl" and "ANNA" as "anNA": a document's fields are in capitals, and a
// word of three letters or more with a capital that cannot be a small
// letter and no more letters that are clearly small is one. Only letters
// whose class is allowed are considered.
func (d decoder) capitalize(chars []Char, at []int, probs []float32, classes int) {
	for start := 0; start < len(chars); {
		end := start
		for end < len(chars) && unicode.IsLetter(chars[end].Rune) {
			end++
		}
		if end-start < 3 {
			// "Nr", "Dr": too short to tell.
			start = max(end, start+1)
			continue
		}
		upper, lower := 0, 0
		for _, c := range chars[start:end] {
			switch {
			case strings.ContainsRune(sizeOnlyCase, unicode.ToLower(c.Rune)):
			case unicode.IsUpper(c.Rune):
				upper++
			case unicode.IsLower(c.Rune):
				lower++
			}
		}
		if upper > 0 && lower <= upper {
			for i := start; i < end; i++ {
				if !unicode.IsLower(chars[i].Rune) {
					continue
				}
				p := probs[at[i]*classes : (at[i]+1)*classes]
				best := 0
				for c := 1; c < classes; c++ {
					if unicode.IsUpper(d.symbol[c]) && d.allowed(c) && (best == 0 || p[c] > p[best]) {
						best = c
					}
				}
				if best > 0 {
					chars[i] = Char{Rune: d.symbol[best], Conf: p[best]}
				}
			}
		}
		start = end
	}
}

// allowed reports whether class c may be decoded.
func (d decoder) allowed(c int) bool {
	return d.candidates == nil || slices.Contains(d.candidates, c)
}

// decodeLine is decode followed by the length repair of opt.Lengths.
func (d decoder) decodeLine(probs []float32, frames, classes int, opt DecodeOptions) []Char {
	chars, at := d.decodeFrames(probs, frames, classes)
	d.capitalize(chars, at, probs, classes)
	want := -1
	for _, n := range opt.Lengths {
		if n >= len(chars) && (want < 0 || n < want) {
			want = n
		}
	}
	if want > len(chars) && (opt.MaxAdded == 0 || want-len(chars) <= opt.MaxAdded) {
		if fixed, fixedAt, ok := d.fixedLength(probs, frames, classes, want); ok {
			chars, at = fixed, fixedAt
		}
	}
	d.alternatives(chars, at, probs, classes)
	return chars
}

// alternatives sets each character's Alt and AltConf: the likeliest other
// allowed character at its frame.
func (d decoder) alternatives(chars []Char, at []int, probs []float32, classes int) {
	for i := range chars {
		p := probs[at[i]*classes : (at[i]+1)*classes]
		var alt rune
		var ap float32
		consider := func(c int) {
			if sym := d.symbol[c]; sym != chars[i].Rune && p[c] > ap {
				alt, ap = sym, p[c]
			}
		}
		if d.candidates == nil {
			for c := 1; c < classes; c++ {
				consider(c)
			}
		} else {
			for _, c := range d.candidates {
				consider(c)
			}
		}
		chars[i].Alt, chars[i].AltConf = alt, ap
	}
}

// frameCandidates is how many characters per frame the fixed-length
// search considers besides the blank; further down a softmax over thousands
// of classes the probabilities are negligible.
const frameCandidates = 8

// pathState is one cell of the fixed-length search: the best path up to a
// frame that has emitted k characters and whose last frame is sym.
type pathState struct {
	k     int
	sym   rune // blank is -1
	p     float32
	score float64 // log probability
	prev  int32   // index into the previous frame's states, -1 at the start
}

// fixedLength finds the most probable CTC path over the frames that
// collapses to exactly n characters (Viterbi over frames, characters
// emitted so far and the current symbol). It reports false when no such
// path exists, e.g. when there are too few frames.
func (d decoder) fixedLength(probs []float32, frames, classes, n int) ([]Char, []int, bool) {
	if n > frames {
		return nil, nil, false
	}
	logp := func(p float32) float64 { return math.Log(max(float64(p), 1e-12)) }
	all := make([][]pathState, frames)
	prev := []pathState{{k: 0, sym: -1, prev: -1}}
	// States are stored grouped by k: those of k are [start[k], start[k+1]).
	prevStart, curStart := make([]int, n+2), make([]int, n+2)
	for k := 1; k <= n+1; k++ {
		prevStart[k] = 1
	}
	for t := 0; t < frames; t++ {
		p := probs[t*classes : (t+1)*classes]
		cands := d.topSymbols(p)
		// For each k: the best state of the previous frame, and the best
		// whose symbol differs from it (a new character may follow any
		// symbol but itself).
		type top2 struct{ i1, i2 int32 }
		best := make([]top2, n+1)
		for i := range best {
			best[i] = top2{-1, -1}
		}
		for i, s := range prev {
			b := &best[s.k]
			switch {
			case b.i1 < 0 || s.score > prev[b.i1].score:
				b.i1, b.i2 = int32(i), b.i1
			case b.i2 < 0 || s.score > prev[b.i2].score:
				b.i2 = int32(i)
			}
		}
		var cur []pathState
		remaining := frames - t // frames left including this one
		for k := 0; k <= n; k++ {
			curStart[k] = len(cur)
			if b := best[k]; b.i1 >= 0 && n-k <= remaining-1 {
				cur = append(cur, pathState{k: k, sym: -1, p: p[0], score: prev[b.i1].score + logp(p[0]), prev: b.i1})
			}
			for _, c := range cands {
				lp := logp(c.p)
				st := pathState{k: k, sym: c.sym, p: c.p, score: math.Inf(-1), prev: -1}
				// The same character continuing from the previous frame.
				for i := prevStart[k]; i < prevStart[k+1]; i++ {
					if s := prev[i]; s.sym == c.sym && s.score+lp > st.score {
						st.score, st.prev = s.score+lp, int32(i)
					}
				}
				// A new character after a blank or another character.
				if k > 0 && n-k <= remaining-1 {
					if b := best[k-1]; b.i1 >= 0 {
						from := b.i1
						if prev[from].sym == c.sym {
							from = b.i2
						}
						if from >= 0 && prev[from].score+lp > st.score {
							st.score, st.prev = prev[from].score+lp, from
						}
					}
				}
				if st.prev >= 0 {
					cur = append(cur, st)
				}
			}
		}
		curStart[n+1] = len(cur)
		all[t] = cur
		prev = cur
		prevStart, curStart = curStart, prevStart
	}
	end := -1
	for i, s := range prev {
		if s.k == n && (end < 0 || s.score > prev[end].score) {
			end = i
		}
	}
	if end < 0 {
		return nil, nil, false
	}
	path := make([]pathState, frames)
	for t, i := frames-1, int32(end); t >= 0; t-- {
		path[t] = all[t][i]
		i = path[t].prev
	}
	var out []Char
	var at []int
	last := rune(-1)
	for t, s := range path {
		switch {
		case s.sym == -1:
		case s.sym == last:
			if s.p > out[len(out)-1].Conf {
				out[len(out)-1].Conf, at[len(at)-1] = s.p, t
			}
		default:
			out = append(out, Char{Rune: s.sym, Conf: s.p})
			at = append(at, t)
		}
		last = s.sym
	}
	return out, at, len(out) == n
}

// symbolProb is a character and its probability at one frame.
type symbolProb struct {
	sym rune
	p   float32
}

// topSymbols returns the frameCandidates likeliest allowed characters of
// one frame, classes that decode to the same character merged.
func (d decoder) topSymbols(p []float32) []symbolProb {
	var top []symbolProb
	consider := func(c int) {
		sym, pc := d.symbol[c], p[c]
		for i := range top {
			if top[i].sym == sym {
				top[i].p = max(top[i].p, pc)
				return
			}
		}
		if len(top) < frameCandidates {
			top = append(top, symbolProb{sym, pc})
			return
		}
		worst := 0
		for i := range top {
			if top[i].p < top[worst].p {
				worst = i
			}
		}
		if pc > top[worst].p {
			top[worst] = symbolProb{sym, pc}
		}
	}
	if d.candidates == nil {
		for c := 1; c < len(p); c++ {
			consider(c)
		}
	} else {
		for _, c := range d.candidates {
			consider(c)
		}
	}
	return top
}

// newLine assembles a Line from decoded characters.
func newLine(chars []Char) Line {
	var b strings.Builder
	var sum float32
	for _, c := range chars {
		b.WriteRune(c.Rune)
		sum += c.Conf
	}
	l := Line{Text: b.String(), Chars: chars}
	if len(chars) > 0 {
		l.Conf = sum / float32(len(chars))
	}
	return l
}
