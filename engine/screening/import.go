package screening

import (
	"context"
	"errors"
	"fmt"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// List formats Import understands, as the CLI names them.
const (
	FormatOFAC = "ofac-csv" // a directory holding OFAC's sdn.csv, alt.csv and add.csv
	FormatUN   = "un-xml"   // the UN Security Council consolidated list XML file
	FormatPEP  = "pep-csv"  // a PEP CSV file, see ImportPEPCSV
)

// ErrUnknownFormat is returned by Import for a format it does not know.
var ErrUnknownFormat = errors.New("unknown list format")

// Import reads the list at path in the given format (FormatOFAC,
// FormatUN or FormatPEP).
func Import(ctx context.Context, format, path string) (*List, error) {
	switch format {
	case FormatOFAC:
		return ImportOFAC(ctx, path)
	case FormatUN, FormatPEP:
		f, err := atomicfile.Open(path)
		if err != nil {
			return nil, fmt.Errorf("importing %s list: %w", format, err)
		}
		defer f.Close()
		if format == FormatUN {
			return ImportUNXML(ctx, f)
		}
		return ImportPEPCSV(ctx, f)
	}
	return nil, fmt.Errorf("importing %s: %w %q (want %s, %s or %s)", path, ErrUnknownFormat, format, FormatOFAC, FormatUN, FormatPEP)
}
