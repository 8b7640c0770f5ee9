package screening

import (
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file generates the test inputs: perturbed spellings of listed names
// (what a matcher must still find) and ordinary names from common given
// and family names of several cultures (what it must not flag). Everything
// is driven by a seeded generator so runs are reproducible.

// displayTokens turns a list name into the order people write names:
// OFAC's "LAST, First Middle" becomes First Middle LAST.
func displayTokens(name string) []string {
	if last, first, ok := strings.Cut(name, ","); ok {
		name = first + " " + last
	}
	return strings.Fields(name)
}

// perturbation is one way a name gets garbled between a list and a query.
type perturbation struct {
	name  string
	apply func(r *rand.Rand, toks []string) ([]string, bool) // false when it does not apply
	// personOnly marks perturbations that make sense only for people's
	// names: a company that loses a word has another name, not a
	// missing middle name.
	personOnly bool
}

// perturbations are the variants every listed name must survive.
var perturbations = []perturbation{
	{"exact", func(_ *rand.Rand, t []string) ([]string, bool) { return t, true }, false},
	{"typo-swap", typo(swapLetters), false},
	{"typo-drop", typo(dropLetter), false},
	{"typo-substitute", typo(substituteLetter), false},
	{"typo-insert", typo(insertLetter), false},
	{"shuffle", shuffle, false},
	{"drop-middle", dropMiddle, true},
	{"transliterate", transliterate, false},
	{"diacritics", diacritics, false},
	{"case-punctuation", casePunctuation, false},
	{"shuffle+typo", chain(shuffle, typo(substituteLetter)), false},
	{"drop-middle+transliterate", chain(dropMiddle, transliterate), true},
}

func chain(ops ...func(*rand.Rand, []string) ([]string, bool)) func(*rand.Rand, []string) ([]string, bool) {
	return func(r *rand.Rand, t []string) ([]string, bool) {
		for _, op := range ops {
			var ok bool
			if t, ok = op(r, t); !ok {
				return nil, false
			}
		}
		return t, true
	}
}

// typo applies edit to one letter of one token of at least four letters
// (one-letter edits to shorter tokens make them different names).
func typo(edit func(r *rand.Rand, w []rune) []rune) func(*rand.Rand, []string) ([]string, bool) {
	return func(r *rand.Rand, toks []string) ([]string, bool) {
		var long []int
		for i, t := range toks {
			if letters(t) >= 4 {
				long = append(long, i)
			}
		}
		if len(long) == 0 {
			return nil, false
		}
		out := slices.Clone(toks)
		i := long[r.IntN(len(long))]
		out[i] = string(edit(r, []rune(out[i])))
		return out, true
	}
}

func letters(s string) int {
	n := 0
	for _, c := range s {
		if unicode.IsLetter(c) {
			n++
		}
	}
	return n
}

// letterAt picks a position holding a letter.
func letterAt(r *rand.Rand, w []rune) int {
	for {
		if i := r.IntN(len(w)); unicode.IsLetter(w[i]) {
			return i
		}
	}
}

// swapLetters transposes two adjacent different letters, if it finds any.
func swapLetters(r *rand.Rand, w []rune) []rune {
	for range 100 {
		i := r.IntN(len(w) - 1)
		if w[i] != w[i+1] && unicode.IsLetter(w[i]) && unicode.IsLetter(w[i+1]) {
			w[i], w[i+1] = w[i+1], w[i]
			break
		}
	}
	return w
}

func dropLetter(r *rand.Rand, w []rune) []rune {
	i := letterAt(r, w)
	return append(w[:i], w[i+1:]...)
}

func randomLetter(r *rand.Rand, like rune) rune {
	c := rune('a' + r.IntN(26))
	if unicode.IsUpper(like) {
		c = unicode.ToUpper(c)
	}
	return c
}

func substituteLetter(r *rand.Rand, w []rune) []rune {
	i := letterAt(r, w)
	for {
		if c := randomLetter(r, w[i]); unicode.ToLower(c) != unicode.ToLower(w[i]) {
			w[i] = c
			return w
		}
	}
}

func insertLetter(r *rand.Rand, w []rune) []rune {
	i := r.IntN(len(w) + 1)
	return slices.Insert(w, i, randomLetter(r, w[min(i, len(w)-1)]))
}

func shuffle(r *rand.Rand, toks []string) ([]string, bool) {
	if len(toks) < 2 {
		return nil, false
	}
	out := slices.Clone(toks)
	for slices.Equal(out, toks) {
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out, true
}

// dropMiddle removes one token that is neither the first nor the last,
// as when a document omits a middle name or patronymic.
func dropMiddle(r *rand.Rand, toks []string) ([]string, bool) {
	if len(toks) < 3 {
		return nil, false
	}
	i := 1 + r.IntN(len(toks)-2)
	return slices.Delete(slices.Clone(toks), i, i+1), true
}

// translitRules are spelling swaps seen between romanisations of the same
// name (Russian -ov/-off, y/i, kh/h, Arabic ou/u, ...).
var translitRules = [][2]string{
	{"y", "i"}, {"i", "y"}, {"ph", "f"}, {"f", "ph"}, {"ks", "x"}, {"x", "ks"},
	{"v", "w"}, {"w", "v"}, {"ov", "off"}, {"ev", "eff"}, {"ou", "u"}, {"u", "ou"},
	{"c", "k"}, {"k", "c"}, {"sh", "sch"}, {"ch", "tch"}, {"kh", "h"}, {"j", "dj"},
	{"ee", "i"}, {"oo", "u"}, {"ii", "iy"}, {"iy", "ii"}, {"yu", "iu"}, {"ya", "ia"},
	{"e", "a"}, {"a", "e"}, {"q", "k"}, {"dh", "d"}, {"ss", "s"}, {"s", "ss"},
}

func transliterate(r *rand.Rand, toks []string) ([]string, bool) {
	type site struct{ tok, at, rule int }
	var sites []site
	for ti, t := range toks {
		low := strings.ToLower(t)
		for ri, rule := range translitRules {
			for at := 0; ; {
				k := strings.Index(low[at:], rule[0])
				if k < 0 {
					break
				}
				sites = append(sites, site{ti, at + k, ri})
				at += k + 1
			}
		}
	}
	if len(sites) == 0 {
		return nil, false
	}
	s := sites[r.IntN(len(sites))]
	out := slices.Clone(toks)
	low := strings.ToLower(out[s.tok])
	rule := translitRules[s.rule]
	out[s.tok] = low[:s.at] + rule[1] + low[s.at+len(rule[0]):]
	return out, true
}

var accents = map[rune][]rune{
	'a': []rune("áàäâã"), 'e': []rune("éèëê"), 'i': []rune("íìïî"), 'o': []rune("óòöôõ"),
	'u': []rune("úùüû"), 'n': []rune("ñ"), 'c': []rune("çč"), 's': []rune("šş"), 'z': []rune("žź"),
}

// diacritics adds accents to up to three letters, as a name typed from a
// document in a language that writes them.
func diacritics(r *rand.Rand, toks []string) ([]string, bool) {
	out := slices.Clone(toks)
	changed := false
	for range 3 {
		ti := r.IntN(len(out))
		w := []rune(strings.ToLower(out[ti]))
		i := r.IntN(len(w))
		if alts, ok := accents[w[i]]; ok {
			w[i] = alts[r.IntN(len(alts))]
			out[ti] = string(w)
			changed = true
		}
	}
	return out, changed
}

// casePunctuation lower-cases the name and joins two tokens with a hyphen.
func casePunctuation(r *rand.Rand, toks []string) ([]string, bool) {
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		out = append(out, strings.ToLower(t))
	}
	if len(out) >= 2 {
		i := r.IntN(len(out) - 1)
		out = slices.Replace(out, i, i+2, out[i]+"-"+out[i+1])
	}
	return out, true
}

// culture holds common given and family names. Where family names take a
// feminine form, feminine makes it and given[femaleIdx:] are women's names.
type culture struct {
	name      string
	given     []string
	family    []string
	feminine  func(family string) string
	femaleIdx int
}

func russianFeminine(f string) string { return f + "a" }

// namePools holds two disjoint pools of names per culture: pool 0 is for
// choosing thresholds, pool 1 for reporting false hits. No name appears in
// both, so what is reported was never tuned on.
var namePools = [2][]culture{
	{
		{name: "english", given: []string{"James", "Robert", "Michael", "William", "Elizabeth", "Jennifer", "Linda", "Susan"}, family: []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson"}},
		{name: "spanish", given: []string{"José", "Juan", "Carlos", "Luis", "María", "Carmen", "Ana", "Lucía"}, family: []string{"García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez"}},
		{name: "german", given: []string{"Lukas", "Leon", "Felix", "Jonas", "Anna", "Lena", "Sophie", "Hannah"}, family: []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"}},
		{name: "french", given: []string{"Jean", "Pierre", "Nicolas", "Julien", "Camille", "Chloé", "Manon", "Inès"}, family: []string{"Bernard", "Dubois", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre"}},
		{name: "italian", given: []string{"Giuseppe", "Giovanni", "Marco", "Alessandro", "Giulia", "Francesca", "Chiara", "Sara"}, family: []string{"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"}},
		{name: "portuguese", given: []string{"João", "Pedro", "Gabriel", "Rafael", "Beatriz", "Mariana", "Juliana", "Fernanda"}, family: []string{"Silva", "Santos", "Oliveira", "Souza", "Pereira", "Lima", "Carvalho", "Ferreira"}},
		{name: "chinese", given: []string{"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Hui", "Qiang"}, family: []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao"}},
		{name: "indian", given: []string{"Aarav", "Rahul", "Amit", "Vikram", "Priya", "Anjali", "Sunita", "Deepak"}, family: []string{"Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Joshi"}},
		{name: "japanese", given: []string{"Haruto", "Yuto", "Sota", "Hiroshi", "Yui", "Aoi", "Yuki", "Sakura"}, family: []string{"Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"}},
		{name: "korean", given: []string{"Min-jun", "Seo-yeon", "Ji-hoon", "Ha-eun"}, family: []string{"Kim", "Lee", "Park", "Choi"}},
		{name: "vietnamese", given: []string{"Anh", "Minh", "Tuan", "Linh", "Huong", "Thanh"}, family: []string{"Nguyen", "Tran", "Le", "Pham", "Hoang", "Phan"}},
		{name: "arabic", given: []string{"Ahmed", "Omar", "Youssef", "Khalid", "Fatima", "Aisha", "Mariam", "Layla"}, family: []string{"Hassan", "Haddad", "Nasser", "Khoury", "Saleh", "Mansour", "Aziz", "Farouk"}},
		{name: "persian", given: []string{"Ali", "Reza", "Mehdi", "Hossein", "Maryam", "Zahra", "Narges", "Fatemeh"}, family: []string{"Mohammadi", "Hosseini", "Ahmadi", "Rezaei", "Moradi", "Karimi", "Jafari", "Rahimi"}},
		{name: "russian", given: []string{"Ivan", "Alexei", "Sergei", "Dmitri", "Olga", "Natalia", "Tatiana", "Irina"}, family: []string{"Ivanov", "Smirnov", "Kuznetsov", "Popov", "Vasiliev", "Petrov", "Sokolov", "Mikhailov"}, feminine: russianFeminine, femaleIdx: 4},
		{name: "nigerian", given: []string{"Oluwaseun", "Chinedu", "Emeka", "Tunde", "Ngozi", "Adaeze", "Funmilayo", "Chioma"}, family: []string{"Okafor", "Adeyemi", "Okonkwo", "Nwosu", "Balogun", "Eze", "Olawale", "Obi"}},
		{name: "turkish", given: []string{"Mehmet", "Mustafa", "Emre", "Burak", "Zeynep", "Elif", "Ayşe", "Merve"}, family: []string{"Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk"}},
		{name: "polish", given: []string{"Piotr", "Krzysztof", "Tomasz", "Paweł", "Agnieszka", "Katarzyna", "Małgorzata", "Ewa"}, family: []string{"Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński"}},
	},
	{
		{name: "english", given: []string{"David", "Richard", "Joseph", "Thomas", "Mary", "Patricia", "Barbara", "Jessica"}, family: []string{"Taylor", "Anderson", "Thomas", "Jackson", "White", "Harris", "Martin", "Thompson"}},
		{name: "spanish", given: []string{"Antonio", "Francisco", "Javier", "Miguel", "Isabel", "Laura", "Marta", "Elena"}, family: []string{"Gómez", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso", "Navarro"}},
		{name: "german", given: []string{"Maximilian", "Paul", "Finn", "Elias", "Mia", "Emma", "Lea", "Marie"}, family: []string{"Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf"}},
		{name: "french", given: []string{"Antoine", "Mathieu", "Guillaume", "François", "Amélie", "Juliette", "Margaux", "Élodie"}, family: []string{"Michel", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Fontaine", "Chevalier"}},
		{name: "italian", given: []string{"Lorenzo", "Matteo", "Andrea", "Stefano", "Valentina", "Alessia", "Martina", "Federica"}, family: []string{"Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano"}},
		{name: "portuguese", given: []string{"Tiago", "Rodrigo", "Gustavo", "Leonardo", "Larissa", "Camila", "Letícia", "Vitória"}, family: []string{"Almeida", "Ribeiro", "Rocha", "Gomes", "Martins", "Araújo", "Barbosa", "Cardoso"}},
		{name: "chinese", given: []string{"Jun", "Yong", "Xiuying", "Ming", "Tao", "Hong", "Ping", "Gang"}, family: []string{"Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo"}},
		{name: "indian", given: []string{"Arjun", "Rohan", "Sanjay", "Rajesh", "Pooja", "Neha", "Kavita", "Anil"}, family: []string{"Verma", "Mehta", "Nair", "Rao", "Desai", "Chopra", "Malhotra", "Agarwal"}},
		{name: "japanese", given: []string{"Takumi", "Kenji", "Daiki", "Riku", "Hina", "Mei", "Rin", "Akari"}, family: []string{"Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue"}},
		{name: "korean", given: []string{"Do-yun", "Ji-woo", "Hyun-woo", "Su-bin"}, family: []string{"Jung", "Kang", "Cho", "Yoon"}},
		{name: "vietnamese", given: []string{"Duc", "Hung", "Quang", "Lan", "Mai", "Thu"}, family: []string{"Vu", "Dang", "Bui", "Do", "Ho", "Ngo"}},
		{name: "arabic", given: []string{"Karim", "Tariq", "Samir", "Nabil", "Zainab", "Nour", "Rania", "Salma"}, family: []string{"Ibrahim", "Hamdan", "Qasim", "Darwish", "Jaber", "Najjar", "Sabbagh", "Rahman"}},
		{name: "persian", given: []string{"Amir", "Hamid", "Saeed", "Morteza", "Leila", "Shirin", "Parisa", "Mina"}, family: []string{"Kazemi", "Ghorbani", "Sadeghi", "Hashemi", "Bagheri", "Mousavi", "Heidari", "Asadi"}},
		{name: "russian", given: []string{"Nikolai", "Andrei", "Pavel", "Mikhail", "Anastasia", "Svetlana", "Ekaterina", "Yulia"}, family: []string{"Novikov", "Fedorov", "Morozov", "Volkov", "Alekseev", "Lebedev", "Semenov", "Egorov"}, feminine: russianFeminine, femaleIdx: 4},
		{name: "nigerian", given: []string{"Babajide", "Ifeanyi", "Kelechi", "Segun", "Yetunde", "Amaka", "Folake", "Uchenna"}, family: []string{"Adebayo", "Ogunleye", "Chukwu", "Onyeka", "Akinola", "Ibekwe", "Oyelaran", "Nnamdi"}},
		{name: "turkish", given: []string{"Ahmet", "Hüseyin", "Murat", "Can", "Emine", "Hatice", "Esra", "Büşra"}, family: []string{"Aydın", "Özdemir", "Arslan", "Doğan", "Kılıç", "Aslan", "Çetin", "Kara"}},
		{name: "polish", given: []string{"Marcin", "Michał", "Grzegorz", "Jakub", "Magdalena", "Joanna", "Monika", "Dorota"}, family: []string{"Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski", "Krawczyk"}},
	},
}

// ordinaryName is a generated name and the culture it comes from.
type ordinaryName struct {
	culture, name string
}

// ordinaryNames draws perCulture distinct names from each culture of pool:
// a given and a family name, and for one in four a second given name.
func ordinaryNames(pool, perCulture int, seed uint64) []ordinaryName {
	r := rand.New(rand.NewPCG(seed, uint64(pool)))
	var out []ordinaryName
	for _, c := range namePools[pool] {
		seen := map[string]bool{}
		for len(seen) < perCulture {
			gi := r.IntN(len(c.given))
			parts := []string{c.given[gi]}
			if r.IntN(4) == 0 {
				if g2 := c.given[r.IntN(len(c.given))]; g2 != c.given[gi] {
					parts = append(parts, g2)
				}
			}
			fam := c.family[r.IntN(len(c.family))]
			if c.feminine != nil && gi >= c.femaleIdx {
				fam = c.feminine(fam)
			}
			n := strings.Join(append(parts, fam), " ")
			if !seen[n] {
				seen[n] = true
				out = append(out, ordinaryName{c.name, n})
			}
		}
	}
	return out
}

// variant is a perturbed query for a listed entry.
type variant struct {
	kind, query string
}

// variants returns perRule perturbed spellings of name for every
// perturbation that applies to it; person says the name is a person's.
func variants(r *rand.Rand, name string, person bool, perRule int) []variant {
	toks := displayTokens(name)
	var out []variant
	for _, p := range perturbations {
		if p.personOnly && !person {
			continue
		}
		for range perRule {
			if v, ok := p.apply(r, slices.Clone(toks)); ok && utf8.ValidString(strings.Join(v, " ")) {
				out = append(out, variant{p.name, strings.Join(v, " ")})
			}
		}
	}
	return out
}
