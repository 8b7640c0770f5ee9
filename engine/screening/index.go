package screening

import (
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/openkyc/kyc/engine/screening/names"
)

// Index is a read-only search structure over one or more lists. It is safe
// for concurrent use. Lists must not be modified after being indexed.
//
// Every name and alias is split into canonical tokens (see package names).
// Each distinct token is indexed under itself, under each string obtained
// by deleting one of its letters (so a query token one insertion,
// deletion, substitution or transposition away finds it) and under its
// phonetic key (so transliteration variants find it). A query touches only
// the names holding a token it finds this way, never the whole list.
//
// Postings, name tokens and key tables live in a few flat arrays rather
// than one small slice per token: the garbage collector then has little to
// trace, which keeps its pauses out of query latency.
type Index struct {
	lists      []ListInfo
	entries    []indexEntry
	names      []indexName
	nameTokens []int32   // vocabulary ids of every name, each name a span
	nameWeight []float64 // the weight of each of those tokens in its name
	vocab      []vocabToken
	postings   []posting // the names holding each vocabulary token, each token a span
	byKey      keyTable  // token or one-deletion variant → vocabulary ids
	byPhonetic keyTable  // phonetic key → vocabulary ids
	scratch    sync.Pool
}

// span is a half-open range of one of the Index's flat arrays.
type span struct{ start, end int32 }

type indexEntry struct {
	list      string
	e         *Entry
	countries []string // country keys, see countryKey
}

type indexName struct {
	entry int32
	text  string
	weak  bool
	// initials: the name has a one-letter token (see score).
	initials bool
	tokens   span // in nameTokens and nameWeight, in display order
	// titles is how many of tokens are the name's honorifics, kept
	// after its words with weight 0 (see names.TokensTitles).
	titles uint8
	total  float64
}

type vocabToken struct {
	text     string
	weight   float64
	postings span
}

type posting struct {
	name  int32
	pos   uint8
	title bool // the token is one of the name's titles
}

// keyTable maps a string key to a list of vocabulary ids.
type keyTable struct {
	spans map[string]span
	ids   []int32
}

func (t *keyTable) lookup(k string) []int32 {
	s := t.spans[k]
	return t.ids[s.start:s.end]
}

// freeze flattens a map of id lists into a keyTable.
func freeze(m map[string][]int32) keyTable {
	t := keyTable{spans: make(map[string]span, len(m))}
	for k, ids := range m {
		start := int32(len(t.ids))
		t.ids = append(t.ids, ids...)
		t.spans[k] = span{start, int32(len(t.ids))}
	}
	return t
}

// builder holds what NewIndex needs only while indexing.
type builder struct {
	ix         *Index
	vocabID    map[string]int32
	postings   [][]posting // per vocabulary token
	df         []int       // entries holding each vocabulary token
	lastEntry  []int32     // to count each entry once in df
	person     []bool      // per name: weigh middle names less
	byKey      map[string][]int32
	byPhonetic map[string][]int32
}

// NewIndex indexes the entries of lists for screening.
func NewIndex(lists ...*List) *Index {
	b := &builder{
		ix:         &Index{},
		vocabID:    make(map[string]int32),
		byKey:      make(map[string][]int32),
		byPhonetic: make(map[string][]int32),
	}
	ix := b.ix
	for _, l := range lists {
		ix.lists = append(ix.lists, l.Info())
		for i := range l.Entries {
			e := &l.Entries[i]
			ei := int32(len(ix.entries))
			ie := indexEntry{list: l.Name, e: e}
			for _, c := range e.Countries {
				if k := countryKey(c); k != "" && !slices.Contains(ie.countries, k) {
					ie.countries = append(ie.countries, k)
				}
			}
			ix.entries = append(ix.entries, ie)
			seen := make(map[string]int) // normalised name → index in ix.names
			b.addName(seen, ei, e.Name, false)
			for _, a := range e.Aliases {
				b.addName(seen, ei, a.Name, a.Weak)
			}
		}
	}
	b.finish()
	ix.scratch.New = func() any { return ix.newScratch() }
	return ix
}

// Lists describes the lists the index was built from, for audit trails.
func (ix *Index) Lists() []ListInfo { return slices.Clone(ix.lists) }

// addName indexes one name of entry ei, skipping names the entry already
// has in the same normalised form (a strong alias overrides a weak one).
func (b *builder) addName(seen map[string]int, ei int32, text string, weak bool) {
	ix := b.ix
	toks, titles := names.TokensTitles(text)
	if len(toks) == 0 {
		return
	}
	if len(toks) > maxNameTokens {
		toks = toks[:maxNameTokens]
	}
	titles = titles[:min(len(titles), maxNameTokens-len(toks))]
	key := strings.Join(toks, " ")
	if k, ok := seen[key]; ok {
		ix.names[k].weak = ix.names[k].weak && weak
		return
	}
	ni := int32(len(ix.names))
	seen[key] = len(ix.names)
	start := int32(len(ix.nameTokens))
	for pos, t := range slices.Concat(toks, titles) {
		id, ok := b.vocabID[t]
		if !ok {
			id = int32(len(ix.vocab))
			b.vocabID[t] = id
			ix.vocab = append(ix.vocab, vocabToken{text: t})
			b.postings = append(b.postings, nil)
			b.df = append(b.df, 0)
			b.lastEntry = append(b.lastEntry, -1)
			b.block(id, t)
		}
		b.postings[id] = append(b.postings[id], posting{name: ni, pos: uint8(pos), title: pos >= len(toks)})
		if b.lastEntry[id] != ei {
			b.df[id]++
			b.lastEntry[id] = ei
		}
		ix.nameTokens = append(ix.nameTokens, id)
	}
	initials := slices.ContainsFunc(toks, func(t string) bool { return len(t) == 1 })
	ix.names = append(ix.names, indexName{entry: ei, text: text, weak: weak, initials: initials, tokens: span{start, int32(len(ix.nameTokens))}, titles: uint8(len(titles))})
	b.person = append(b.person, ix.entries[ei].e.Kind == KindIndividual)
}

// block files vocabulary token id under the blocking keys and phonetic
// keys of all its spellings.
func (b *builder) block(id int32, t string) {
	var keys, phon []string
	for _, v := range names.Variants(t) {
		for _, k := range blockingKeys(v) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		if p := names.Phonetic(v); p != "" && !slices.Contains(phon, p) {
			phon = append(phon, p)
		}
	}
	for _, k := range keys {
		b.byKey[k] = append(b.byKey[k], id)
	}
	for _, p := range phon {
		b.byPhonetic[p] = append(b.byPhonetic[p], id)
	}
}

// blockingKeys returns t and, for tokens long enough, every string made by
// deleting one of its runes. Two tokens within one edit share a key.
func blockingKeys(t string) []string {
	keys := []string{t}
	r := []rune(t)
	if len(r) < minDeletionToken {
		return keys
	}
	for i := range r {
		d := string(r[:i]) + string(r[i+1:])
		if !slices.Contains(keys, d) {
			keys = append(keys, d)
		}
	}
	return keys
}

// finish weighs the tokens and flattens postings and key tables.
func (b *builder) finish() {
	ix := b.ix
	n := float64(len(ix.entries))
	for id := range ix.vocab {
		v := &ix.vocab[id]
		rarity := 1.0
		if n > 1 {
			rarity = math.Log(n/float64(b.df[id])) / math.Log(n)
		}
		v.weight = names.LexicalWeight(v.text) * (rarityFloor + (1-rarityFloor)*rarity)
		start := int32(len(ix.postings))
		ix.postings = append(ix.postings, b.postings[id]...)
		v.postings = span{start, int32(len(ix.postings))}
	}
	ix.nameWeight = make([]float64, len(ix.nameTokens))
	for i := range ix.names {
		nm := &ix.names[i]
		// Titles keep weight 0: a name is not less matched for lacking one.
		count := int(nm.tokens.end-nm.tokens.start) - int(nm.titles)
		for pos := range count {
			k := int(nm.tokens.start) + pos
			ix.nameWeight[k] = ix.vocab[ix.nameTokens[k]].weight * positionFactor(b.person[i], pos, count)
			nm.total += ix.nameWeight[k]
		}
	}
	ix.byKey, ix.byPhonetic = freeze(b.byKey), freeze(b.byPhonetic)
}

// positionFactor scales the weight of token pos of n in a person's name.
func positionFactor(person bool, pos, n int) float64 {
	if person && pos > 0 && pos < n-1 {
		return middleFactor
	}
	return 1
}
