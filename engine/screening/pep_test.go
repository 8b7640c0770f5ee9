package screening

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestImportPEPCSV(t *testing.T) {
	// Columns in another order, a byte-order mark, quoting and blank cells.
	in := "\ufeffname,id,dob,aliases,position,country\n" +
		`"SMITH, Jane",pep-1,1961-04-09,"Jane Smyth; J. Smith ;",Minister of Finance,GBR` + "\n" +
		"Ivan Petrov,pep-2,1970,,Governor,Russia\n" +
		"Ana Lima,pep-3,,,,\n"
	l, err := ImportPEPCSV(context.Background(), strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != ListPEP || !strings.HasPrefix(l.Version, "sha256:") || l.Date.IsZero() {
		t.Errorf("header = %q %q %v", l.Name, l.Version, l.Date)
	}
	want := []Entry{
		{ID: "pep-1", Kind: KindIndividual, Name: "SMITH, Jane", Aliases: []Alias{{Name: "Jane Smyth"}, {Name: "J. Smith"}},
			DOBs: []DOB{{From: Date{1961, 4, 9}, To: Date{1961, 4, 9}}}, Countries: []string{"GBR"}, Position: "Minister of Finance"},
		{ID: "pep-2", Kind: KindIndividual, Name: "Ivan Petrov", DOBs: []DOB{{From: Date{Year: 1970}, To: Date{Year: 1970}}},
			Countries: []string{"Russia"}, Position: "Governor"},
		{ID: "pep-3", Kind: KindIndividual, Name: "Ana Lima"},
	}
	if len(l.Entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(l.Entries), len(want))
	}
	for i := range want {
		if !entriesEqual(l.Entries[i], want[i]) {
			t.Errorf("entry %d = %+v\nwant %+v", i, l.Entries[i], want[i])
		}
	}
	// The version is a content digest: same input, same version.
	again, err := ImportPEPCSV(context.Background(), strings.NewReader(in))
	if err != nil || again.Version != l.Version {
		t.Errorf("re-import version = %q, %v; want %q", again.Version, err, l.Version)
	}
}

func entriesEqual(a, b Entry) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Name == b.Name && a.Position == b.Position &&
		slices.Equal(a.Aliases, b.Aliases) && slices.Equal(a.DOBs, b.DOBs) &&
		slices.Equal(a.Countries, b.Countries) && slices.Equal(a.Programs, b.Programs)
}

func TestImportPEPCSVMalformed(t *testing.T) {
	const header = "id,name,aliases,dob,country,position\n"
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrMalformed},
		{"header only", header, ErrNoEntries},
		{"missing column", "id,name,aliases,dob,country,role\n1,A,,,,\n", ErrMalformed},
		{"repeated column", "id,name,name,dob,country,position\n1,A,,,,\n", ErrMalformed},
		{"short row", header + "1,A,,\n", ErrMalformed},
		{"empty id", header + ",A,,,,\n", ErrMalformed},
		{"empty name", header + "1,  ,,,,\n", ErrMalformed},
		{"duplicate id", header + "1,A,,,,\n1,B,,,,\n", ErrMalformed},
		{"bad dob", header + "1,A,,09/04/1961,,\n", ErrBadDate},
		{"impossible dob", header + "1,A,,1961-02-30,,\n", ErrBadDate},
		{"bare quote", header + "1,\"A,,,,\n", ErrMalformed},
		{"binary", "\x00\x01\x02", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportPEPCSV(context.Background(), strings.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
