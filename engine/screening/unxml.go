package screening

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ListUN is the name ImportUNXML gives the UN Security Council list.
const ListUN = "un-sc"

// unRecord is one INDIVIDUAL or ENTITY of the UN consolidated list. Both
// share most elements; the alias and address elements are prefixed by the
// record type.
type unRecord struct {
	DataID         string      `xml:"DATAID"`
	FirstName      string      `xml:"FIRST_NAME"`
	SecondName     string      `xml:"SECOND_NAME"`
	ThirdName      string      `xml:"THIRD_NAME"`
	FourthName     string      `xml:"FOURTH_NAME"`
	ListType       string      `xml:"UN_LIST_TYPE"`
	Reference      string      `xml:"REFERENCE_NUMBER"`
	OriginalScript string      `xml:"NAME_ORIGINAL_SCRIPT"`
	Nationality    []string    `xml:"NATIONALITY>VALUE"`
	Aliases        []unAlias   `xml:"INDIVIDUAL_ALIAS"`
	EntityAliases  []unAlias   `xml:"ENTITY_ALIAS"`
	DOBs           []unDOB     `xml:"INDIVIDUAL_DATE_OF_BIRTH"`
	EntityAddress  []unAddress `xml:"ENTITY_ADDRESS"`
}

type unAlias struct {
	Quality string `xml:"QUALITY"`
	Name    string `xml:"ALIAS_NAME"`
}

type unDOB struct {
	Type     string `xml:"TYPE_OF_DATE"` // EXACT, APPROXIMATELY or BETWEEN
	Date     string `xml:"DATE"`
	Year     string `xml:"YEAR"`
	FromYear string `xml:"FROM_YEAR"`
	ToYear   string `xml:"TO_YEAR"`
	Note     string `xml:"NOTE"`
}

type unAddress struct {
	Country string `xml:"COUNTRY"`
}

// ImportUNXML reads the UN Security Council consolidated list in its
// published XML layout (CONSOLIDATED_LIST with INDIVIDUALS and ENTITIES).
// The list's Version and Date (Published) come from the dateGenerated
// attribute, which is required. Entry IDs are the UN reference numbers (e.g. "QDi.001"),
// falling back to DATAID.
func ImportUNXML(ctx context.Context, r io.Reader) (*List, error) {
	dec := xml.NewDecoder(r)
	l := &List{Name: ListUN}
	seenRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("importing UN list: %w: %w", ErrMalformed, err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !seenRoot {
			if start.Name.Local != "CONSOLIDATED_LIST" {
				return nil, fmt.Errorf("importing UN list: %w: root element is <%s>, want <CONSOLIDATED_LIST>", ErrMalformed, start.Name.Local)
			}
			if err := unHeader(l, start); err != nil {
				return nil, fmt.Errorf("importing UN list: %w", err)
			}
			seenRoot = true
			continue
		}
		var kind Kind
		switch start.Name.Local {
		case "INDIVIDUAL":
			kind = KindIndividual
		case "ENTITY":
			kind = KindEntity
		default:
			continue // INDIVIDUALS, ENTITIES wrappers
		}
		if len(l.Entries)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var rec unRecord
		if err := dec.DecodeElement(&rec, &start); err != nil {
			return nil, fmt.Errorf("importing UN list: record %d: %w: %w", len(l.Entries)+1, ErrMalformed, err)
		}
		e, err := rec.entry(kind)
		if err != nil {
			return nil, fmt.Errorf("importing UN list: record %d: %w", len(l.Entries)+1, err)
		}
		l.Entries = append(l.Entries, e)
	}
	if !seenRoot {
		return nil, fmt.Errorf("importing UN list: %w: no <CONSOLIDATED_LIST> element", ErrMalformed)
	}
	if len(l.Entries) == 0 {
		return nil, fmt.Errorf("importing UN list: %w", ErrNoEntries)
	}
	return l, nil
}

func unHeader(l *List, root xml.StartElement) error {
	for _, a := range root.Attr {
		if a.Name.Local != "dateGenerated" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(a.Value))
		if err != nil {
			return fmt.Errorf("%w: dateGenerated %q: %w", ErrMalformed, a.Value, err)
		}
		l.Version, l.Date, l.Published = strings.TrimSpace(a.Value), t.UTC(), true
		return nil
	}
	return fmt.Errorf("%w: <CONSOLIDATED_LIST> has no dateGenerated attribute", ErrMalformed)
}

func (rec *unRecord) entry(kind Kind) (Entry, error) {
	e := Entry{
		ID:   strings.TrimSpace(rec.Reference),
		Kind: kind,
		Name: joinNonEmpty(rec.FirstName, rec.SecondName, rec.ThirdName, rec.FourthName),
	}
	if e.ID == "" {
		e.ID = strings.TrimSpace(rec.DataID)
	}
	if e.ID == "" {
		return Entry{}, fmt.Errorf("%w: no REFERENCE_NUMBER or DATAID", ErrMalformed)
	}
	if e.Name == "" {
		return Entry{}, fmt.Errorf("%w: %s has no name", ErrMalformed, e.ID)
	}
	if p := strings.TrimSpace(rec.ListType); p != "" {
		e.Programs = []string{p}
	}
	for _, a := range append(rec.Aliases, rec.EntityAliases...) {
		if name := strings.TrimSpace(a.Name); name != "" {
			e.Aliases = append(e.Aliases, Alias{Name: name, Weak: strings.EqualFold(strings.TrimSpace(a.Quality), "Low")})
		}
	}
	if s := strings.TrimSpace(rec.OriginalScript); s != "" {
		e.Aliases = append(e.Aliases, Alias{Name: s})
	}
	for _, n := range rec.Nationality {
		if n = strings.TrimSpace(n); n != "" {
			e.Countries = appendUnique(e.Countries, n)
		}
	}
	for _, a := range rec.EntityAddress {
		if c := strings.TrimSpace(a.Country); c != "" {
			e.Countries = appendUnique(e.Countries, c)
		}
	}
	for _, d := range rec.DOBs {
		dob, ok, err := d.dob()
		if err != nil {
			return Entry{}, fmt.Errorf("%s: %w", e.ID, err)
		}
		if ok {
			e.DOBs = append(e.DOBs, dob)
		}
	}
	return e, nil
}

// dob converts one INDIVIDUAL_DATE_OF_BIRTH. Structured fields must parse;
// a NOTE is free text, used only when it reads as a date and nothing else
// is given. ok is false when the element says nothing usable.
func (d unDOB) dob() (dob DOB, ok bool, err error) {
	typ := strings.ToUpper(strings.TrimSpace(d.Type))
	year := func(s string) (Date, error) {
		y, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return Date{}, fmt.Errorf("%w: year %q", ErrBadDate, s)
		}
		v := Date{Year: y}
		return v, v.validate(s)
	}
	switch {
	case strings.TrimSpace(d.FromYear) != "" || strings.TrimSpace(d.ToYear) != "":
		if dob.From, err = year(d.FromYear); err != nil {
			return DOB{}, false, fmt.Errorf("%w: date of birth FROM_YEAR: %w", ErrMalformed, err)
		}
		if dob.To, err = year(d.ToYear); err != nil {
			return DOB{}, false, fmt.Errorf("%w: date of birth TO_YEAR: %w", ErrMalformed, err)
		}
		if dob.To.Year < dob.From.Year {
			return DOB{}, false, fmt.Errorf("%w: date of birth range %s to %s ends before it starts", ErrMalformed, dob.From, dob.To)
		}
	case strings.TrimSpace(d.Date) != "":
		if dob.From, err = ParseDate(d.Date); err != nil {
			return DOB{}, false, fmt.Errorf("%w: date of birth DATE: %w", ErrMalformed, err)
		}
		dob.To = dob.From
	case strings.TrimSpace(d.Year) != "":
		if dob.From, err = year(d.Year); err != nil {
			return DOB{}, false, fmt.Errorf("%w: date of birth YEAR: %w", ErrMalformed, err)
		}
		dob.To = dob.From
	case strings.TrimSpace(d.Note) != "":
		if dob, err = parseDOBText(d.Note); err != nil {
			return DOB{}, false, nil
		}
	default:
		return DOB{}, false, nil
	}
	dob.Circa = dob.Circa || typ == "APPROXIMATELY"
	return dob, true, nil
}

func joinNonEmpty(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
