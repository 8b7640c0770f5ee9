package names

import (
	"math"
	"slices"
	"testing"
)

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"José  María", "jose maria"},
		{"MÜLLER-Lüdenscheidt", "muller ludenscheidt"},
		{"O'Neil", "oneil"},
		{"ABU-'UMAR", "abu umar"},
		{"S.A. DE C.V.", "sa de cv"},
		{"Straße Øresund Łódź", "strasse oresund lodz"},
		{"Дмитрий Хорошев", "dmitrii khoroshev"},
		{"Щукин Юрий", "shchukin iurii"},
		{"  ,;  ", ""},
		{"ﬁnance", "finance"}, // ligature
		{"Wei Zhang 2", "wei zhang 2"},
		// Greek per ICAO 9303: digraphs, accents, final sigma.
		{"ΓΕΩΡΓΙΟΣ ΠΑΠΑΔΟΠΟΥΛΟΣ", "georgios papadopoulos"},
		{"Μπάμπης Ντόκος", "bambis dokos"},
		{"ΕΥΑΓΓΕΛΟΣ", "evangelos"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"KHOROSHEV, Dmitry Yuryevich", []string{"dmitriy", "yuryevich", "khoroshev"}},
		{"Mr. Mohammed Al-Hassan", []string{"muhammad", "al", "hasan"}},
		{"Dr Muhammad Abdulrahman", []string{"muhammad", "abd", "rahman"}},
		{"Abdel Rahman", []string{"abd", "rahman"}},
		{"Abdullah Yousef", []string{"abdallah", "yusuf"}},
		{"Abdulla", []string{"abdallah"}},
		{"Abdolalh", []string{"abdolalh"}}, // too short a rest to split: likely a typo
		{"Haji Sheikh Omar", []string{"umar"}},
		{"MORENO JR., Daniel Gonzalo", []string{"daniel", "gonzalo", "moreno"}},
		{"Colonel Innocent KAINA", []string{"innocent", "kaina"}},
		{"Sheikh", []string{"sheikh"}}, // nothing but an honorific: kept
		// OCR: digits inside words, MRZ filler read as K.
		{"M0HAMMED AL1", []string{"muhammad", "ali"}},
		{"CANTERAS 5.A.", []string{"canteras", "sa"}},
		{"KHOROSHEV, DMITRY YURYEVICHKKKKK", []string{"dmitriy", "yuryevich", "khoroshev"}},
		{"IVANOV, PETR KKKK", []string{"petr", "ivanov"}},
		{"AIR 7 2000", []string{"air", "7", "2000"}},
		{"", nil},
		{"!!!", nil},
	}
	for _, tt := range tests {
		if got := Tokens(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTokensTitles(t *testing.T) {
	tests := []struct {
		in           string
		toks, titles []string
	}{
		{"MOHAMMAD, Haji Baz", []string{"baz", "muhammad"}, []string{"haji"}},
		{"Haji Sheikh Omar", []string{"umar"}, []string{"haji", "sheikh"}},
		{"Sheikh", []string{"sheikh"}, nil}, // kept as the name: no title left over
		{"Omar", []string{"umar"}, nil},
	}
	for _, tt := range tests {
		toks, titles := TokensTitles(tt.in)
		if !slices.Equal(toks, tt.toks) || !slices.Equal(titles, tt.titles) {
			t.Errorf("TokensTitles(%q) = %q, %q, want %q, %q", tt.in, toks, titles, tt.toks, tt.titles)
		}
	}
}

func TestTransliterationVariantsShareToken(t *testing.T) {
	groups := [][]string{
		{"Mohammed", "Muhammad", "Mohamad", "Mohamed", "Muhammed", "Mohammad"},
		{"Abdel", "Abdul", "Abdal"},
		{"Yusuf", "Yousef", "Youssef", "Yousuf"},
		{"Dmitry", "Dmitri", "Dmitriy", "Dmitrii"},
		{"Hussein", "Husain", "Hossein"},
	}
	for _, g := range groups {
		want := Tokens(g[0])
		for _, v := range g[1:] {
			if got := Tokens(v); !slices.Equal(got, want) {
				t.Errorf("Tokens(%q) = %q, want %q like %q", v, got, want, g[0])
			}
		}
		fam := Variants(want[0])
		if fam[0] != want[0] || len(fam) < len(g) {
			t.Errorf("Variants(%q) = %q, want the canonical first and at least %d spellings", want[0], fam, len(g))
		}
	}
	if got := Variants("khoroshev"); !slices.Equal(got, []string{"khoroshev"}) {
		t.Errorf("Variants of a token without family = %q", got)
	}
}

func TestJaroWinkler(t *testing.T) {
	// Reference values from Winkler (1990) and the usual textbook examples.
	tests := []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961},
		{"dwayne", "duane", 0.840},
		{"dixon", "dicksonx", 0.813},
		{"abc", "abc", 1},
		{"abc", "xyz", 0},
		{"", "", 1},
		{"", "a", 0},
		{"jöns", "jöns", 1},
	}
	for _, tt := range tests {
		got := JaroWinkler(tt.a, tt.b)
		if math.Abs(got-tt.want) > 0.001 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.3f", tt.a, tt.b, got, tt.want)
		}
		if rev := JaroWinkler(tt.b, tt.a); math.Abs(rev-got) > 1e-12 {
			t.Errorf("JaroWinkler not symmetric for %q, %q: %v vs %v", tt.a, tt.b, got, rev)
		}
	}
}

func TestEditSimilarity(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"khoroshev", "khoroshev", 1},
		{"khoroshev", "khorsohev", 1 - 1.0/9}, // one transposition
		{"bank", "ank", 0.75},
		{"huang", "zhang", 0.6},
		{"", "", 1},
		{"ab", "", 0},
		{"łódź", "lodz", 0.25}, // three of four runes differ (not seven bytes)
	}
	for _, tt := range tests {
		if got := EditSimilarity(tt.a, tt.b); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("EditSimilarity(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestPhonetic(t *testing.T) {
	same := [][]string{
		{"qaddafi", "gaddafi", "kadafi", "qadhafi"},
		{"khoroshev", "khorosheff", "koroshev"},
		{"mansour", "mansur"},
		{"yusuf", "yousef", "jusuf"},
	}
	for _, g := range same {
		k := Phonetic(g[0])
		if k == "" {
			t.Errorf("Phonetic(%q) is empty", g[0])
		}
		for _, v := range g[1:] {
			if got := Phonetic(v); got != k {
				t.Errorf("Phonetic(%q) = %q, want %q like %q", v, got, k, g[0])
			}
		}
	}
	different := [][2]string{{"ahmad", "hamid"}, {"petrov", "popov"}, {"garcia", "gomez"}}
	for _, d := range different {
		if Phonetic(d[0]) == Phonetic(d[1]) {
			t.Errorf("Phonetic(%q) == Phonetic(%q) = %q, want different", d[0], d[1], Phonetic(d[0]))
		}
	}
	if k := Phonetic("maria"); k != "" {
		t.Errorf("Phonetic(maria) = %q, want empty: two consonants say too little", k)
	}
}

func TestSimilarity(t *testing.T) {
	tests := []struct {
		a, b   string
		lo, hi float64
	}{
		{"khoroshev", "khoroshev", 1, 1},
		{"khoroshev", "khorsohev", 0.9, 0.99}, // typo in a long name
		{"gaddafi", "qaddafi", 0.9, 0.99},     // transliteration, raised by phonetics
		{"huang", "zhang", 0, 0.75},           // different short names
		{"ali", "wali", 0, 0.8},               // one letter is a lot in a short name
		{"ahned", "ahmad", 0.8, 0.95},         // typo of "ahmed", which Tokens maps to ahmad
		{"muhammad", "muhammad", 1, 1},        // same canonical token
		{"abdolalh", "abdallah", 0.88, 0.99},  // typo of abdollah
		{"quanguo", "qiang", 0, 0.75},         // same skeleton, not alike enough to trust it
		{"amit", "ahmad", 0, 0.75},            // same skeleton (via ahmet), two letters of four apart
		{"kadafi", "gaddafi", 0.85, 0.95},     // two letters of seven apart: a transliteration
		{"dmitriy", "khoroshev", 0, unrelatedMax},
	}
	for _, tt := range tests {
		got := Similarity(tt.a, tt.b)
		if got < tt.lo || got > tt.hi {
			t.Errorf("Similarity(%q, %q) = %.3f, want in [%.2f, %.2f]", tt.a, tt.b, got, tt.lo, tt.hi)
		}
		if rev := Similarity(tt.b, tt.a); math.Abs(rev-got) > 1e-12 {
			t.Errorf("Similarity not symmetric for %q, %q: %v vs %v", tt.a, tt.b, got, rev)
		}
	}
}

// unrelatedMax bounds the similarity of unrelated names.
const unrelatedMax = 0.6

func TestLexicalWeight(t *testing.T) {
	for _, tok := range []string{"al", "bin", "de", "ltd", "company", "j"} {
		if w := LexicalWeight(tok); w >= 1 {
			t.Errorf("LexicalWeight(%q) = %v, want < 1", tok, w)
		}
	}
	if w := LexicalWeight("khoroshev"); w != 1 {
		t.Errorf("LexicalWeight(khoroshev) = %v, want 1", w)
	}
}
