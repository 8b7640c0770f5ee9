package screening

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ListPEP is the name ImportPEPCSV gives a PEP list.
const ListPEP = "pep"

// pepColumns is the PEP CSV layout: a header row naming these columns (in
// any order, case-insensitive), then one person per row. aliases holds
// further names separated by ";", dob is YYYY-MM-DD, YYYY-MM or YYYY,
// country is a name or ISO 3166 code, position the public function held.
// Only id and name must be filled in.
var pepColumns = []string{"id", "name", "aliases", "dob", "country", "position"}

// ImportPEPCSV reads a PEP list in the CSV layout described at pepColumns.
// The file carries no version or date, so the list's Version is a digest
// of its contents and its Date the time of import; callers that know
// better may overwrite both.
func ImportPEPCSV(ctx context.Context, r io.Reader) (*List, error) {
	digest := sha256.New()
	cr := csv.NewReader(io.TeeReader(r, digest))
	cr.FieldsPerRecord = len(pepColumns)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("importing PEP list: %w: empty file", ErrMalformed)
	}
	if err != nil {
		return nil, fmt.Errorf("importing PEP list: %w: %w", ErrMalformed, err)
	}
	col, err := pepHeader(header)
	if err != nil {
		return nil, fmt.Errorf("importing PEP list: %w", err)
	}
	l := &List{Name: ListPEP}
	seen := make(map[string]bool)
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("importing PEP list: %w: %w", ErrMalformed, err)
		}
		line, _ := cr.FieldPos(0)
		if len(l.Entries)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e, err := pepEntry(row, col)
		if err != nil {
			return nil, fmt.Errorf("importing PEP list: line %d: %w", line, err)
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("importing PEP list: line %d: %w: duplicate id %q", line, ErrMalformed, e.ID)
		}
		seen[e.ID] = true
		l.Entries = append(l.Entries, e)
	}
	if len(l.Entries) == 0 {
		return nil, fmt.Errorf("importing PEP list: %w", ErrNoEntries)
	}
	l.Version = "sha256:" + hex.EncodeToString(digest.Sum(nil))[:16]
	l.Date = time.Now().UTC().Truncate(time.Second)
	return l, nil
}

// pepHeader maps each column name to its position in the file.
func pepHeader(header []string) (map[string]int, error) {
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%w: header repeats column %q", ErrMalformed, h)
		}
		col[h] = i
	}
	for _, c := range pepColumns {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%w: header %q lacks column %q (want %s)", ErrMalformed, strings.Join(header, ","), c, strings.Join(pepColumns, ","))
		}
	}
	return col, nil
}

func pepEntry(row []string, col map[string]int) (Entry, error) {
	get := func(c string) string { return strings.TrimSpace(row[col[c]]) }
	e := Entry{ID: get("id"), Kind: KindIndividual, Name: get("name"), Position: get("position")}
	if e.ID == "" {
		return Entry{}, fmt.Errorf("%w: empty id", ErrMalformed)
	}
	if e.Name == "" {
		return Entry{}, fmt.Errorf("%w: %s has no name", ErrMalformed, e.ID)
	}
	for a := range strings.SplitSeq(get("aliases"), ";") {
		if a = strings.TrimSpace(a); a != "" {
			e.Aliases = append(e.Aliases, Alias{Name: a})
		}
	}
	if s := get("dob"); s != "" {
		d, err := ParseDate(s)
		if err != nil {
			return Entry{}, fmt.Errorf("%w: %s: dob: %w", ErrMalformed, e.ID, err)
		}
		e.DOBs = []DOB{{From: d, To: d}}
	}
	if c := get("country"); c != "" {
		e.Countries = []string{c}
	}
	return e, nil
}
