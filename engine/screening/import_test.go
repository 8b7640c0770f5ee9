package screening

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
)

func TestImport(t *testing.T) {
	pep := filepath.Join(t.TempDir(), "pep.csv")
	if err := os.WriteFile(pep, []byte("id,name,aliases,dob,country,position\n1,Jane Smith,,,,MP\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		format, path, name string
		entries            int
	}{
		{FormatOFAC, testenv.Data(t, "sanctions", "ofac_sdn_sample"), ListOFAC, 17},
		{FormatUN, testenv.Data(t, "sanctions", "un_sample.xml"), ListUN, 6},
		{FormatPEP, pep, ListPEP, 1},
	}
	for _, tt := range tests {
		l, err := Import(context.Background(), tt.format, tt.path)
		if err != nil {
			t.Errorf("%s: %v", tt.format, err)
			continue
		}
		if l.Name != tt.name || len(l.Entries) != tt.entries {
			t.Errorf("%s: list %q with %d entries, want %q with %d", tt.format, l.Name, len(l.Entries), tt.name, tt.entries)
		}
	}
	if _, err := Import(context.Background(), "sdn-xml", pep); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: err = %v, want ErrUnknownFormat", err)
	}
	if _, err := Import(context.Background(), FormatUN, filepath.Join(t.TempDir(), "missing.xml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want os.ErrNotExist", err)
	}
}
