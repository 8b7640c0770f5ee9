package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/seal"
)

// Linked submissions are the same person elsewhere: the case's NIK and
// document number, read from its payload in memory, become their
// blind-index tokens (Config.Index), each looked up with the store's token
// filter (Queue: no index of its own), newest first, capped and uncounted. The
// submissions found are opened (never more than the capped rows) and
// compared with the case: a document number under another NIK or name is
// a borrowed or made-up identity, a NIK under another name or date of
// birth too, and an earlier rejection is worth knowing. The page says
// which kind matched and what differs, never the values; the rows link to
// the cases by device and key, through the case route's checks and audit.

// linkedPerKind caps the submissions listed per kind of identifier: it
// bounds the store's work and the payloads opened for one case view.
const linkedPerKind = 20

// linkedKinds are the identifiers a case is linked by.
var linkedKinds = []central.IdentifierKind{central.IdentNIK, central.IdentDocumentNumber}

// What a linked submission is flagged with ("linked.flag_<flag>" in the
// catalogues).
const (
	flagOtherNIK  = "other_nik"  // the same document number under another NIK
	flagOtherName = "other_name" // another name
	flagOtherDOB  = "other_dob"  // another date of birth
	flagRejected  = "rejected"   // rejected, by a reviewer or by the engine
)

// linkedData is the case view's "Linked submissions" section.
type linkedData struct {
	// Unavailable: the console has no blind index (Config.Index), so no
	// search by person.
	Unavailable bool
	// Erased: retention removed the case's identifiers; NoIdentifiers: it
	// carries neither a NIK nor a document number.
	Erased, NoIdentifiers bool
	// Rows are the linked submissions in v's scope, newest first.
	Rows []linkedRow
	// More are the kinds with more matching submissions than listed, at
	// most PerKind (linkedPerKind) each.
	More    []central.IdentifierKind
	PerKind int
	// Flagged counts the rows with a flag.
	Flagged int
}

type linkedRow struct {
	central.Case
	Branch  string
	Matches []central.IdentifierKind // which of the case's identifiers it shares
	Flags   []string
	// NotCompared: its payload is gone (retention), so is what it says.
	NotCompared bool
}

// subjects are the rows' audit subjects.
func (d linkedData) subjects() []string {
	out := make([]string, len(d.Rows))
	for i, r := range d.Rows {
		out[i] = caseSubject(r.Ref)
	}
	return out
}

// linked finds the submissions in v's scope sharing the NIK or document
// number of cs (sub is its submission, opened): at most linkedPerKind per
// kind, each opened once to compare.
func (c *Console) linked(ctx context.Context, v *Viewer, cs central.Case, sub central.Submission, devs map[string]central.Device) (linkedData, error) {
	d := linkedData{PerKind: linkedPerKind}
	switch {
	case c.cfg.Index == nil:
		d.Unavailable = true
		return d, nil
	case !sub.FieldsErasedAt.IsZero():
		d.Erased = true
		return d, nil
	}
	me := personOf(sub.Payload)
	// One more than listed besides cs, to tell that there are more; the
	// store reads no further (Uncounted), however many match.
	base := central.QueueFilter{Newest: true, Limit: linkedPerKind + 2, Uncounted: true}
	inScope, err := c.scopeFilter(ctx, v, &base)
	if err != nil {
		return d, err
	}
	rows := map[central.SubmissionRef]*linkedRow{}
	searched := false
	for _, kind := range linkedKinds {
		var found []central.Case
		for _, value := range me.ids[kind] {
			// A KTP's NIK is its document number too (seal.Identifiers):
			// looked up as a NIK, its rows say they share the NIK.
			if kind == central.IdentDocumentNumber && slices.Contains(me.ids[central.IdentNIK], value) {
				searched = true
				continue
			}
			tok, ok := c.cfg.Index(kind, value)
			if !ok {
				continue
			}
			searched = true
			if !inScope {
				continue
			}
			f := base
			f.Tokens = [][]byte{tok}
			cases, _, err := c.cfg.Store.Queue(ctx, f)
			if err != nil {
				return d, fmt.Errorf("looking up linked submissions: %w", err)
			}
			for _, o := range cases {
				if o.Ref != cs.Ref && !slices.ContainsFunc(found, func(f central.Case) bool { return f.Ref == o.Ref }) {
					found = append(found, o)
				}
			}
		}
		slices.SortFunc(found, newestFirst)
		if len(found) > linkedPerKind {
			found = found[:linkedPerKind]
			d.More = append(d.More, kind)
		}
		for _, o := range found {
			r := rows[o.Ref]
			if r == nil {
				r = &linkedRow{Case: o, Branch: devs[o.Ref.DeviceID].Branch}
				rows[o.Ref] = r
			}
			r.Matches = append(r.Matches, kind)
		}
	}
	d.NoIdentifiers = !searched
	for _, r := range rows {
		o, err := c.cfg.Store.Upload(ctx, r.Ref.DeviceID, r.Ref.Key)
		if errors.Is(err, central.ErrNotFound) {
			continue // erased since the lookup
		}
		if err != nil {
			return d, fmt.Errorf("opening a linked submission: %w", err)
		}
		if o.Payload == nil {
			r.NotCompared = true
		} else {
			r.Flags = me.conflicts(personOf(o.Payload))
		}
		if rejected(r.Case) {
			r.Flags = append(r.Flags, flagRejected)
		}
		if len(r.Flags) > 0 {
			d.Flagged++
		}
		d.Rows = append(d.Rows, *r)
	}
	slices.SortFunc(d.Rows, func(a, b linkedRow) int { return newestFirst(a.Case, b.Case) })
	return d, nil
}

func newestFirst(a, b central.Case) int {
	return cmp.Or(b.ReceivedAt.Compare(a.ReceivedAt), cmp.Compare(a.Ref.DeviceID, b.Ref.DeviceID), cmp.Compare(a.Ref.Key, b.Ref.Key))
}

// rejected: a reviewer's final reject (the one in force while an override
// of it waits), or, with no final decision by a reviewer, the engine's.
func rejected(c central.Case) bool {
	if rv := c.Review.Public(); rv.State == central.ReviewDecided {
		return rv.Outcome == central.OutcomeReject
	}
	return c.Summary.Decision == "reject"
}

// person is who a payload is about: its identifiers as the blind index
// normalises them (seal.Identifiers) and its dates of birth.
type person struct {
	ids  map[central.IdentifierKind][]string
	dobs []string
}

func personOf(payload []byte) person {
	p := person{ids: seal.Identifiers(payload)}
	// Where a payload gives a date of birth: flat (tests, older devices),
	// the visual zone's field, the one a KTP's NIK encodes, the MRZ's.
	var doc struct {
		BirthDate string `json:"birth_date"`
		Report    struct {
			Document struct {
				Fields map[string]fieldView `json:"fields"`
				NIK    struct {
					BirthDate string `json:"birth_date"`
				} `json:"nik"`
				MRZ struct {
					Fields struct {
						BirthDate string `json:"birth_date_iso"`
					} `json:"fields"`
				} `json:"mrz"`
			} `json:"document"`
		} `json:"report"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		return p
	}
	d := doc.Report.Document
	for _, s := range []string{doc.BirthDate, d.Fields["birth_date"].Value, d.NIK.BirthDate, d.MRZ.Fields.BirthDate} {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(p.dobs, s) {
			p.dobs = append(p.dobs, s)
		}
	}
	return p
}

// conflicts are the flags of o against p: a NIK, name or date of birth
// that both give and that differs. Each kind may have several readings
// (the visual zone's, the MRZ's); one in common is agreement.
func (p person) conflicts(o person) []string {
	var flags []string
	eq := func(a, b string) bool { return a == b }
	if differ(p.ids[central.IdentNIK], o.ids[central.IdentNIK], eq) {
		flags = append(flags, flagOtherNIK)
	}
	if differ(p.ids[central.IdentName], o.ids[central.IdentName], eq) {
		flags = append(flags, flagOtherName)
	}
	// An MRZ date may lack its day or month (YYYY-MM, YYYY): it agrees
	// with the full dates it begins.
	sameDate := func(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }
	if differ(p.dobs, o.dobs, sameDate) {
		flags = append(flags, flagOtherDOB)
	}
	return flags
}

// differ: both a and b hold values and no two of them are the same.
func differ(a, b []string, same func(a, b string) bool) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	for _, x := range a {
		for _, y := range b {
			if same(x, y) {
				return false
			}
		}
	}
	return true
}
