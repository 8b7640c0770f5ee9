package screening

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/openkyc/kyc/engine/screening/names"
)

// DefaultMinScore is the score a hit needs when a Query sets none. It was
// chosen on generated tuning data (TestCalibrateMinScore): 3,189 garbled
// spellings of 300 bench-list names (typos, reordering, dropped middle
// names, transliteration, diacritics) and 255 ordinary names of 17
// cultures. It sits at the knee: from 0.85 to 0.87 ordinary-name hits fall
// from 6 to 4 for under one point of recall (98.1% to 97.2%); above it no
// further ordinary name drops out until 0.93, where only exact namesakes
// of listed people remain, while recall falls to 87%.
const DefaultMinScore = 0.87

// DefaultMaxHits caps the hits returned when a Query sets no limit.
const DefaultMaxHits = 20

// Scoring constants; see (*Index).score for how they combine.
const (
	// tokenFloor is the least similarity at which two tokens count as
	// the same name word; below it a pair contributes nothing. It lets
	// one typo in a four-letter word through (aqsa/cqsa scores 0.79).
	tokenFloor = 0.75
	// rarityFloor is the weight, relative to a token seen once, of a
	// token found in every entry: common words ("muhammad", "trading")
	// count for less than rare ones, but never for nothing.
	rarityFloor = 0.4
	// middleFactor scales the weight of a person's middle names (all but
	// the first and last in display order): documents and lists often
	// omit them, so a missing one is weaker evidence than a missing given
	// or family name.
	middleFactor = 0.5
	// weakAliasFactor scales matches on weak aliases, which are not
	// meant to identify a party on their own.
	weakAliasFactor = 0.9
	// kindPenalty is subtracted when a person query hits an organisation
	// or an organisation query hits a person.
	kindPenalty = 0.05
	// maxNameTokens and maxQueryTokens bound the work per name; longer
	// names are matched on their first tokens. They also fit the bit sets
	// used in alignment.
	maxNameTokens  = 64
	maxQueryTokens = 32
	// minDeletionToken is the shortest token indexed by its one-letter
	// deletions; shorter ones would land in crowded buckets.
	minDeletionToken = 4
	// maxRespellings bounds the extra tokenisations screened per query
	// (see respellings).
	maxRespellings = 3
	// knownSim is how alike a word must be to a vocabulary token for
	// respellings to treat it as a listed word.
	knownSim = 0.9
	// initialSim is the similarity credited to an initial standing for a
	// word it begins: below a one-typo match of a long word (about 0.9),
	// since many names share a first letter.
	initialSim = 0.8
	// titleSim is how alike a word must be to an honorific on the other
	// side to be taken for that honorific written otherwise ("haeji" for
	// haji scores 0.87); lower, given names would pass ("hadi" 0.81).
	titleSim = 0.85
)

// dobAdjust and countryAdjust move a name score by how well the query's
// date of birth and nationality agree with the entry's. Disagreement
// weighs more than agreement: a matching birth year is common, a birth
// date ten years off is strong evidence of a different person.
func dobAdjust(a Agreement) float64 {
	switch a {
	case AgreeExact:
		return 0.08
	case AgreePartial:
		return 0.04
	case AgreeConflict:
		return -0.15
	}
	return 0
}

func countryAdjust(a Agreement) float64 {
	switch a {
	case AgreeExact:
		return 0.03
	case AgreeConflict:
		return -0.05
	}
	return 0
}

// maxRaise is the most the adjustments can add to a name score.
var maxRaise = dobAdjust(AgreeExact) + countryAdjust(AgreeExact)

// Query errors.
var (
	// ErrEmptyName is returned for a query whose name has no letters or digits.
	ErrEmptyName = errors.New("query name is empty")
	// ErrBadMinScore is returned for a MinScore outside [0,1].
	ErrBadMinScore = errors.New("minimum score must be between 0 and 1")
)

// Query is a party to screen.
type Query struct {
	// Name is written given names first ("Dmitry Yuryevich Khoroshev") or
	// family name first with a comma ("KHOROSHEV, Dmitry Yuryevich"), so
	// that middle names can be told apart.
	Name string
	// DOB, when known, raises the score of entries born on a consistent
	// date and lowers it for entries born clearly earlier or later.
	DOB Date
	// Country is a nationality as an ISO 3166 alpha-2 or alpha-3 code or
	// an English country name; it moves scores like DOB, more gently.
	Country string
	// Entity says the name is an organisation, vessel or aircraft; by
	// default it is a person, and individuals are preferred.
	Entity bool
	// MinScore is the least score a hit needs; 0 means DefaultMinScore.
	MinScore float64
	// MaxHits caps the number of hits; 0 means DefaultMaxHits.
	MaxHits int
}

// Hit is a list entry that matches a query.
type Hit struct {
	Name    string       `json:"name"` // the entry's primary name
	List    string       `json:"list"`
	EntryID string       `json:"entry_id"`
	Kind    Kind         `json:"kind"`
	Score   float64      `json:"score"` // in [0,1]
	Matched []TokenMatch `json:"matched"`
	// Alias is the alias that matched, when it was not the primary name.
	Alias   string    `json:"alias,omitempty"`
	DOB     Agreement `json:"dob,omitempty"`
	Country Agreement `json:"country,omitempty"`
}

// TokenMatch pairs a query token with the entry token it matched, both in
// normalised form.
type TokenMatch struct {
	Query string  `json:"query"`
	Entry string  `json:"entry"`
	Score float64 `json:"score"`
}

// scratch is the per-query working memory, pooled so that Screen does not
// allocate in proportion to the index.
type scratch struct {
	gen        uint32
	nameStamp  []uint32 // == gen when the name is a candidate this query
	nameSlot   []int32  // the name's index in cands
	vocabStamp []uint32
	entryStamp []uint32
	entrySlot  []int32
	found      []tokenFound
	cands      []candidate
	pairs      []pair
	best       []entryBest
	align      []pair
}

// tokenFound is a vocabulary token alike enough to query token qi.
type tokenFound struct {
	qi    uint8
	vocab int32
	sim   float64
}

type candidate struct {
	name int32
	head int32 // first pair in the linked list through pairs, -1 when none
}

// pair is one retrieved (query token, name token) match.
type pair struct {
	qi   uint8
	pos  uint8
	sim  float64
	next int32
}

type entryBest struct {
	entry int32
	cand  int32
	score float64
}

func (ix *Index) newScratch() *scratch {
	return &scratch{
		nameStamp:  make([]uint32, len(ix.names)),
		nameSlot:   make([]int32, len(ix.names)),
		vocabStamp: make([]uint32, len(ix.vocab)),
		entryStamp: make([]uint32, len(ix.entries)),
		entrySlot:  make([]int32, len(ix.entries)),
	}
}

// next starts a new generation; stamps from earlier ones become stale, so
// nothing needs clearing. On wrap-around the stamps are zeroed once.
func (sc *scratch) next() uint32 {
	sc.gen++
	if sc.gen == 0 {
		clear(sc.nameStamp)
		clear(sc.vocabStamp)
		clear(sc.entryStamp)
		sc.gen = 1
	}
	return sc.gen
}

// Screen returns the entries whose names or aliases match q.Name with a
// score of at least q.MinScore after the date-of-birth, nationality and
// kind adjustments, strongest first.
func (ix *Index) Screen(q Query) ([]Hit, error) {
	minScore := q.MinScore
	if minScore == 0 {
		minScore = DefaultMinScore
	}
	if !(minScore >= 0 && minScore <= 1) {
		return nil, fmt.Errorf("screening %q: %w (got %v)", q.Name, ErrBadMinScore, q.MinScore)
	}
	maxHits := q.MaxHits
	if maxHits <= 0 {
		maxHits = DefaultMaxHits
	}
	qtoks, titles := names.TokensTitles(q.Name)
	if len(qtoks) == 0 {
		return nil, fmt.Errorf("screening %q: %w", q.Name, ErrEmptyName)
	}
	if len(qtoks) > maxQueryTokens {
		qtoks = qtoks[:maxQueryTokens]
	}
	hits := ix.screenTokens(q, qtoks, titles, minScore)
	if alts := ix.respellings(qtoks); len(alts) > 0 {
		at := make(map[string]int, len(hits))
		for i, h := range hits {
			at[h.List+"\x00"+h.EntryID] = i
		}
		for _, alt := range alts {
			for _, h := range ix.screenTokens(q, alt, titles, minScore) {
				k := h.List + "\x00" + h.EntryID
				if i, ok := at[k]; !ok {
					at[k] = len(hits)
					hits = append(hits, h)
				} else if h.Score > hits[i].Score {
					hits[i] = h
				}
			}
		}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		case a.List != b.List:
			return strings.Compare(a.List, b.List)
		}
		return strings.Compare(a.EntryID, b.EntryID)
	})
	if len(hits) > maxHits {
		hits = hits[:maxHits]
	}
	return hits, nil
}

// screenTokens scores the entries against one tokenisation of the query
// and returns, unsorted, those reaching minScore. The query's titles are
// screened after its words with weight 0 (see score).
func (ix *Index) screenTokens(q Query, words, titles []string, minScore float64) []Hit {
	sc := ix.scratch.Get().(*scratch)
	defer ix.scratch.Put(sc)
	sc.found, sc.cands, sc.pairs, sc.best = sc.found[:0], sc.cands[:0], sc.pairs[:0], sc.best[:0]

	qtoks := words
	if n := min(len(titles), maxQueryTokens-len(words)); n > 0 {
		qtoks = slices.Concat(words, titles[:n])
	}
	qw := make([]float64, len(qtoks))
	var totalQ float64
	for qi, t := range qtoks {
		w := ix.find(sc, qi, t)
		if qi < len(words) {
			qw[qi] = w * positionFactor(!q.Entity, qi, len(words))
			totalQ += qw[qi]
		}
	}
	ix.gather(sc, drivers(qw, totalQ, minScore))

	entryGen := sc.next()
	for c := range sc.cands {
		cand := &sc.cands[c]
		nm := &ix.names[cand.name]
		s := ix.score(sc, cand, nm, qtoks, qw, totalQ, nil)
		e := nm.entry
		if sc.entryStamp[e] != entryGen {
			sc.entryStamp[e] = entryGen
			sc.entrySlot[e] = int32(len(sc.best))
			sc.best = append(sc.best, entryBest{entry: e, cand: int32(c), score: s})
		} else if b := &sc.best[sc.entrySlot[e]]; s > b.score {
			b.cand, b.score = int32(c), s
		}
	}

	qCountry := countryKey(q.Country)
	var hits []Hit
	for _, b := range sc.best {
		if b.score+maxRaise < minScore {
			continue
		}
		ie := &ix.entries[b.entry]
		h := Hit{List: ie.list, EntryID: ie.e.ID, Name: ie.e.Name, Kind: ie.e.Kind}
		h.DOB = dobAgreement(q.DOB, ie.e.DOBs)
		if qCountry != "" && len(ie.countries) > 0 {
			h.Country = AgreeConflict
			if slices.Contains(ie.countries, qCountry) {
				h.Country = AgreeExact
			}
		}
		s := b.score + dobAdjust(h.DOB) + countryAdjust(h.Country)
		if q.Entity == (ie.e.Kind == KindIndividual) {
			s -= kindPenalty
		}
		h.Score = min(max(s, 0), 1)
		if h.Score < minScore {
			continue
		}
		cand := &sc.cands[b.cand]
		nm := &ix.names[cand.name]
		if nm.text != ie.e.Name {
			h.Alias = nm.text
		}
		ix.score(sc, cand, nm, qtoks, qw, totalQ, func(qi, pos int, sim float64) {
			entryTok := ix.vocab[ix.nameTokens[int(nm.tokens.start)+pos]].text
			h.Matched = append(h.Matched, TokenMatch{Query: qtoks[qi], Entry: entryTok, Score: sim})
		})
		hits = append(hits, h)
	}
	return hits
}

// respellings returns other tokenisations of the query worth screening
// too, for the ways a name's word breaks get lost or added: two adjacent
// tokens whose concatenation is a listed word ("KHORO SHEV", "SA ADAT"
// for SA'ADAT, "AL ASSAD" against a list writing ALASSAD), and a token
// unknown to the lists that splits into two words found side by side in a
// listed name ("ALUBAIDI" for AL-UBAIDI, "HUIBONG" for HUI-BONG). A first
// half of two letters must be a particle (al, el, bin, ...). Only words
// the index knows (exactly, one inserted letter away or as a spelling
// variant) count, so an ordinary name rarely gains a respelling, and each
// respelling is scored like any query: it must still explain the whole
// name.
func (ix *Index) respellings(qtoks []string) [][]string {
	var alts [][]string
	var buf [16]int32
	for i := 0; i+1 < len(qtoks) && len(alts) < maxRespellings; i++ {
		c := qtoks[i] + qtoks[i+1]
		if len(ix.near(buf[:0], c)) > 0 {
			alts = append(alts, slices.Concat(qtoks[:i], []string{c}, qtoks[i+2:]))
		}
	}
	for i, t := range qtoks {
		if len(alts) >= maxRespellings {
			break
		}
		if len(t) < 5 || len(ix.near(buf[:0], t)) > 0 {
			continue
		}
		for k := 2; k+3 <= len(t); k++ {
			a, b := t[:k], t[k:]
			if k < 3 && names.LexicalWeight(a) == 1 {
				continue
			}
			ca, cb := names.Canonical(a), names.Canonical(b)
			if !ix.adjacent(ca[len(ca)-1], cb[0]) {
				continue
			}
			if alt := slices.Concat(qtoks[:i], ca, cb, qtoks[i+1:]); len(alt) <= maxQueryTokens {
				alts = append(alts, alt)
			}
			break
		}
	}
	return alts
}

// near appends to ids the vocabulary tokens that t is, is one letter
// short of, or is a spelling variant of.
func (ix *Index) near(ids []int32, t string) []int32 {
	for _, id := range ix.byKey.lookup(t) {
		if names.Similarity(t, ix.vocab[id].text) >= knownSim {
			ids = append(ids, id)
		}
	}
	return ids
}

// adjacent reports whether some listed name has a token near a directly
// followed by a token near b.
func (ix *Index) adjacent(a, b string) bool {
	var abuf, bbuf [16]int32
	as := ix.near(abuf[:0], a)
	if len(as) == 0 {
		return false
	}
	for _, id := range ix.near(bbuf[:0], b) {
		v := &ix.vocab[id]
		for _, p := range ix.postings[v.postings.start:v.postings.end] {
			if p.pos > 0 && slices.Contains(as, ix.nameTokens[ix.names[p.name].tokens.start+int32(p.pos)-1]) {
				return true
			}
		}
	}
	return false
}

// find records in sc.found the vocabulary tokens alike enough to query
// token t and returns t's weight: that of the closest vocabulary token, or
// its lexical weight when t matches nothing (an unseen token is as rare as
// a token can be).
func (ix *Index) find(sc *scratch, qi int, t string) float64 {
	gen := sc.next()
	weight, bestSim := names.LexicalWeight(t), 0.0
	visit := func(id int32) {
		if sc.vocabStamp[id] == gen {
			return
		}
		sc.vocabStamp[id] = gen
		v := &ix.vocab[id]
		sim := names.Similarity(t, v.text)
		if sim < tokenFloor {
			return
		}
		if sim > bestSim {
			weight, bestSim = v.weight, sim
		}
		sc.found = append(sc.found, tokenFound{qi: uint8(qi), vocab: id, sim: sim})
	}
	for _, k := range blockingKeys(t) {
		for _, id := range ix.byKey.lookup(k) {
			visit(id)
		}
	}
	if p := names.Phonetic(t); p != "" {
		for _, id := range ix.byPhonetic.lookup(p) {
			visit(id)
		}
	}
	return weight
}

// drivers picks the query tokens whose matches may create candidates. A
// name matched only through tokens carrying a share F of the query's
// weight scores at most sqrt(F) (see score) plus maxRaise; the lightest
// tokens whose shares add up to less than what reaches minScore that way
// can only confirm candidates found through the others, not find new
// ones. This keeps "al" or "muhammad" from dragging in thousands of names.
func drivers(qw []float64, totalQ, minScore float64) uint32 {
	all := uint32(0)
	for qi, w := range qw {
		if w > 0 { // titles weigh 0 and only confirm
			all |= 1 << qi
		}
	}
	bound := minScore - maxRaise
	if bound <= 0 || totalQ == 0 {
		return all
	}
	order := make([]int, len(qw))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(qw[a], qw[b]) })
	var light float64
	set := all
	for _, qi := range order {
		light += qw[qi]
		if math.Sqrt(light/totalQ) >= bound {
			break
		}
		set &^= 1 << qi
	}
	return set
}

// gather turns the found tokens into candidate names and pairs: tokens in
// the driver set create candidates, the others only add pairs to names
// already found. A match on a name's title counts only at titleSim or
// more (see score), so weaker ones are not gathered.
func (ix *Index) gather(sc *scratch, driverSet uint32) {
	gen := sc.next()
	for _, creating := range []bool{true, false} {
		for _, f := range sc.found {
			if (driverSet&(1<<f.qi) != 0) != creating {
				continue
			}
			v := &ix.vocab[f.vocab]
			for _, p := range ix.postings[v.postings.start:v.postings.end] {
				if p.title && f.sim < titleSim {
					continue
				}
				slot := sc.nameSlot[p.name]
				if sc.nameStamp[p.name] != gen {
					if !creating {
						continue
					}
					sc.nameStamp[p.name] = gen
					slot = int32(len(sc.cands))
					sc.nameSlot[p.name] = slot
					sc.cands = append(sc.cands, candidate{name: p.name, head: -1})
				}
				c := &sc.cands[slot]
				sc.pairs = append(sc.pairs, pair{qi: f.qi, pos: p.pos, sim: f.sim, next: c.head})
				c.head = int32(len(sc.pairs) - 1)
			}
		}
	}
}

// score aligns the query with one candidate name and returns the name
// score in [0,1]. Pairs are taken greedily, most similar first, each query
// token and each name token used at most once, so token order does not
// matter. With Q the query tokens and N the name's, each weighted:
//
//	score = sqrt( Σ w_q·sim / Σ_Q w_q  ×  Σ w_n·sim / Σ_N w_n )
//
// the geometric mean of how much of the query the name explains and how
// much of the name the query explains. A missing middle name costs less
// than a missing surname because middle names, particles and common
// tokens weigh less. An initial left unpaired on either side is then paired
// with a word it begins, at initialSim. Titles weigh 0 on both sides; a
// word paired with a title of the other side at titleSim or more is taken
// for that title and leaves its side's total. Weak aliases are scaled by
// weakAliasFactor. When matched is non-nil it is called for each aligned
// pair.
func (ix *Index) score(sc *scratch, cand *candidate, nm *indexName, qtoks []string, qw []float64, totalQ float64, matched func(qi, pos int, sim float64)) float64 {
	sc.align = sc.align[:0]
	for p := cand.head; p >= 0; p = sc.pairs[p].next {
		sc.align = append(sc.align, sc.pairs[p])
	}
	slices.SortFunc(sc.align, func(a, b pair) int {
		if c := cmp.Compare(b.sim, a.sim); c != 0 {
			return c
		}
		return int(a.pos) - int(b.pos)
	})
	weights := ix.nameWeight[nm.tokens.start:nm.tokens.end]
	var usedQ uint32
	var usedN uint64
	var mq, mn float64
	totalN := nm.total
	for _, p := range sc.align {
		if usedQ&(1<<p.qi) != 0 || usedN&(1<<p.pos) != 0 {
			continue
		}
		// A title (weight 0) on either side paired with a word on the
		// other marks that word as the title written otherwise: it then
		// counts neither for nor against the name.
		title := qw[p.qi] == 0 || weights[p.pos] == 0
		if title && p.sim < titleSim {
			continue
		}
		usedQ |= 1 << p.qi
		usedN |= 1 << p.pos
		if title {
			totalQ -= qw[p.qi]
			totalN -= weights[p.pos]
		} else {
			mq += qw[p.qi] * p.sim
			mn += weights[p.pos] * p.sim
		}
		if matched != nil {
			matched(int(p.qi), int(p.pos), p.sim)
		}
	}
	// An initial left over on one side stands for a word left over on
	// the other that starts with its letter ("Mohammad M. Golpayegani"):
	// weaker evidence than a spelt-out match, but not none.
	nameToks := ix.nameTokens[nm.tokens.start:nm.tokens.end]
	for qi, qt := range qtoks {
		if usedQ&(1<<qi) != 0 || qw[qi] == 0 || !(nm.initials || len(qt) == 1) {
			continue
		}
		for pos, id := range nameToks {
			nt := ix.vocab[id].text
			if usedN&(1<<pos) != 0 || weights[pos] == 0 || qt[0] != nt[0] || (len(qt) == 1) == (len(nt) == 1) {
				continue
			}
			usedQ |= 1 << qi
			usedN |= 1 << pos
			mq += qw[qi] * initialSim
			mn += weights[pos] * initialSim
			if matched != nil {
				matched(qi, pos, initialSim)
			}
			break
		}
	}
	if totalQ <= 0 || totalN <= 0 {
		return 0
	}
	s := math.Sqrt(min(mq/totalQ, 1) * min(mn/totalN, 1))
	if nm.weak {
		s *= weakAliasFactor
	}
	return s
}
