package screening

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// ListOFAC is the name ImportOFAC gives the SDN list.
const ListOFAC = "ofac-sdn"

// ErrMalformed is returned, wrapped with the file and line, when a list
// file does not have the published layout.
var ErrMalformed = errors.New("malformed list file")

// OFAC's CSV layout: no header row, "-0-" for an empty field.
const (
	ofacEmpty     = "-0-"
	sdnFields     = 12 // ent_num, name, type, programs, title, call sign, vessel type, tonnage, GRT, flag, owner, remarks
	altFields     = 5  // ent_num, alt_num, type, name, remarks
	addFields     = 6  // ent_num, add_num, address, city/state/postal, country, remarks
	commentFields = 2  // ent_num, remarks continued
)

// ImportOFAC reads the OFAC SDN list from the CSV files OFAC publishes in
// dir: sdn.csv, alt.csv and add.csv, plus sdn_comments.csv (the overflow of
// long remarks) when present. Dates of birth, nationalities, citizenships
// and weak a.k.a.s come from the remarks column; strong aliases from
// alt.csv; the countries of an organisation's addresses from add.csv.
//
// The CSV files carry no version or date, so the list's Version is a
// digest of their contents and its Date the modification time of sdn.csv
// (a stand-in: Published is false);
// callers that know the publication date may overwrite both.
func ImportOFAC(ctx context.Context, dir string) (*List, error) {
	digest := sha256.New()
	read := func(name string, fields int, optional bool) ([][]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, name)
		rows, err := readOFACFile(path, fields, digest)
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("importing OFAC list: %w", err)
		}
		return rows, nil
	}
	sdn, err := read("sdn.csv", sdnFields, false)
	if err != nil {
		return nil, err
	}
	alt, err := read("alt.csv", altFields, false)
	if err != nil {
		return nil, err
	}
	add, err := read("add.csv", addFields, false)
	if err != nil {
		return nil, err
	}
	comments, err := read("sdn_comments.csv", commentFields, true)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(filepath.Join(dir, "sdn.csv"))
	if err != nil {
		return nil, fmt.Errorf("importing OFAC list: %w", err)
	}

	overflow := make(map[string]string, len(comments))
	for _, r := range comments {
		overflow[strings.TrimSpace(r[0])] += ofacField(r[1])
	}
	l := &List{
		Name:    ListOFAC,
		Version: "sha256:" + hex.EncodeToString(digest.Sum(nil))[:16],
		Date:    st.ModTime().UTC(),
		Entries: make([]Entry, 0, len(sdn)),
	}
	byID := make(map[string]int, len(sdn))
	for i, r := range sdn {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e, err := ofacEntry(r, overflow)
		if err != nil {
			return nil, fmt.Errorf("importing OFAC list: %s line %d: %w", filepath.Join(dir, "sdn.csv"), i+1, err)
		}
		if _, dup := byID[e.ID]; dup {
			return nil, fmt.Errorf("importing OFAC list: %s line %d: %w: duplicate ent_num %s", filepath.Join(dir, "sdn.csv"), i+1, ErrMalformed, e.ID)
		}
		byID[e.ID] = len(l.Entries)
		l.Entries = append(l.Entries, e)
	}
	if len(l.Entries) == 0 {
		return nil, fmt.Errorf("importing OFAC list from %s: %w", dir, ErrNoEntries)
	}
	// Rows of alt.csv and add.csv whose ent_num is not in sdn.csv are
	// skipped: they belong to entries delisted or cut from an excerpt and
	// cannot be screened without a primary name.
	for i, r := range alt {
		k, ok, err := ofacRef(byID, r[0])
		if err != nil {
			return nil, fmt.Errorf("importing OFAC list: %s line %d: %w", filepath.Join(dir, "alt.csv"), i+1, err)
		}
		if name := ofacField(r[3]); ok && name != "" {
			l.Entries[k].Aliases = append(l.Entries[k].Aliases, Alias{Name: name})
		}
	}
	for i, r := range add {
		k, ok, err := ofacRef(byID, r[0])
		if err != nil {
			return nil, fmt.Errorf("importing OFAC list: %s line %d: %w", filepath.Join(dir, "add.csv"), i+1, err)
		}
		// An individual's address says where they live, not their nationality.
		if country := ofacField(r[4]); ok && country != "" && l.Entries[k].Kind != KindIndividual {
			l.Entries[k].Countries = appendUnique(l.Entries[k].Countries, country)
		}
	}
	return l, nil
}

// maxOFACFile bounds one of OFAC's CSV files (the SDN list is about 10
// MB): a device or a FIFO in its place is refused, a runaway file not read
// whole.
const maxOFACFile = 512 << 20

// readOFACFile reads one headerless OFAC CSV file, checking every row has
// the expected number of fields, and feeds the raw bytes to digest.
func readOFACFile(path string, fields int, digest io.Writer) ([][]string, error) {
	data, err := atomicfile.Read(path, maxOFACFile)
	if err != nil {
		return nil, err
	}
	digest.Write(data)
	// OFAC terminates its files with a DOS end-of-file byte (0x1A).
	data = bytes.TrimRight(data, "\x1a\r\n\t ")
	if !utf8.Valid(data) {
		// Older publications are Windows-1252; decoding it cannot fail.
		data, _ = charmap.Windows1252.NewDecoder().Bytes(data)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = fields
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrMalformed, err)
	}
	return rows, nil
}

// ofacField trims a field and maps OFAC's "-0-" placeholder to "".
func ofacField(s string) string {
	s = strings.TrimSpace(s)
	if s == ofacEmpty {
		return ""
	}
	return s
}

func ofacID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 64); err != nil || n == 0 {
		return "", fmt.Errorf("%w: ent_num %q is not a positive number", ErrMalformed, s)
	}
	return s, nil
}

// ofacRef resolves the ent_num of an alt.csv or add.csv row to the index of
// its entry; ok is false for an entry not in sdn.csv.
func ofacRef(byID map[string]int, field string) (k int, ok bool, err error) {
	id, err := ofacID(field)
	if err != nil {
		return 0, false, err
	}
	k, ok = byID[id]
	return k, ok, nil
}

func ofacEntry(r []string, overflow map[string]string) (Entry, error) {
	id, err := ofacID(r[0])
	if err != nil {
		return Entry{}, err
	}
	e := Entry{ID: id, Name: ofacField(r[1])}
	if e.Name == "" {
		return Entry{}, fmt.Errorf("%w: entry %s has no name", ErrMalformed, id)
	}
	switch t := strings.ToLower(ofacField(r[2])); t {
	case "":
		e.Kind = KindEntity
	case "individual", "vessel", "aircraft":
		e.Kind = Kind(t)
	default:
		return Entry{}, fmt.Errorf("%w: entry %s has unknown type %q", ErrMalformed, id, t)
	}
	if p := ofacField(r[3]); p != "" {
		// Several programmes are written "SDGT] [IFSR" inside the brackets
		// OFAC's other formats put around each.
		for _, prog := range strings.Split(p, "] [") {
			e.Programs = append(e.Programs, strings.Trim(prog, "[] "))
		}
	}
	if flag := ofacField(r[9]); flag != "" && !strings.EqualFold(flag, "None Identified") {
		e.Countries = append(e.Countries, flag)
	}
	if err := parseOFACRemarks(&e, ofacField(r[11])+overflow[id]); err != nil {
		return Entry{}, fmt.Errorf("entry %s: %w", id, err)
	}
	return e, nil
}

// parseOFACRemarks takes what screening needs from the remarks column:
// "DOB 28 Jul 1963", "alt. DOB ...", "nationality Russia", "citizen
// Russia", and the weak aliases "a.k.a. 'BURTON BURGESS'" (also f.k.a.,
// n.k.a.). Everything else (passports, addresses, links) is ignored.
func parseOFACRemarks(e *Entry, remarks string) error {
	for item := range strings.SplitSeq(remarks, ";") {
		item = strings.TrimSpace(item)
		item = strings.TrimPrefix(item, "alt. ")
		switch {
		case strings.HasPrefix(item, "DOB "):
			dob, err := parseDOBText(item[len("DOB "):])
			if err != nil {
				return fmt.Errorf("%w: %w", ErrMalformed, err)
			}
			e.DOBs = append(e.DOBs, dob)
		case strings.HasPrefix(item, "nationality "), strings.HasPrefix(item, "citizen "):
			_, c, _ := strings.Cut(item, " ")
			if c = strings.TrimSuffix(strings.TrimSpace(c), "."); c != "" {
				e.Countries = appendUnique(e.Countries, c)
			}
		case strings.HasPrefix(item, "a.k.a. '"), strings.HasPrefix(item, "f.k.a. '"), strings.HasPrefix(item, "n.k.a. '"):
			// The name runs to the last quote: names may contain
			// apostrophes themselves ("ABU-'UMAR").
			name := strings.TrimSuffix(item[len("a.k.a. '"):], ".")
			name = strings.TrimSpace(strings.TrimSuffix(name, "'"))
			if name != "" {
				e.Aliases = append(e.Aliases, Alias{Name: name, Weak: true})
			}
		}
	}
	return nil
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return list
		}
	}
	return append(list, s)
}
