// Package screening checks names against sanctions and PEP watchlists on
// the device. It imports the published OFAC SDN CSV files, the UN Security
// Council consolidated XML list and a simple PEP CSV into one List model,
// keeps lists as versioned, checksummed files in a Store that updates
// atomically, and screens a name (with optional date of birth and
// nationality) against an Index of lists built for fast fuzzy lookup.
package screening

import (
	"errors"
	"time"
)

// Kind says what sort of party a list entry is.
type Kind string

// Entry kinds. OFAC also lists vessels and aircraft; every kind other than
// KindIndividual counts as an organisation-like party when screening.
const (
	KindIndividual Kind = "individual"
	KindEntity     Kind = "entity"
	KindVessel     Kind = "vessel"
	KindAircraft   Kind = "aircraft"
)

// List is one watchlist as published: its entries plus what identifies the
// publication.
type List struct {
	Name    string    `json:"name"`    // short stable name, e.g. "ofac-sdn"; also the store file name
	Version string    `json:"version"` // publisher's version, or a content digest when it has none
	Date    time.Time `json:"date"`    // publication date, or the best available stand-in (see importers)
	// Published: Date is the publisher's own publication date, read from
	// the file (the UN's dateGenerated), not a stand-in.
	Published bool    `json:"published,omitempty"`
	Entries   []Entry `json:"entries"`
}

// Entry is one listed party.
type Entry struct {
	ID        string   `json:"id"` // the publisher's identifier (OFAC ent_num, UN reference number)
	Kind      Kind     `json:"kind"`
	Name      string   `json:"name"`
	Aliases   []Alias  `json:"aliases,omitempty"`
	DOBs      []DOB    `json:"dobs,omitempty"`
	Countries []string `json:"countries,omitempty"` // nationality or citizenship; for organisations, countries of address or flag
	Programs  []string `json:"programs,omitempty"`  // sanctions programmes
	Position  string   `json:"position,omitempty"`  // for PEPs, the public function held
}

// Alias is another name an entry is known by.
type Alias struct {
	Name string `json:"name"`
	// Weak marks low-quality aliases (OFAC "weak a.k.a.", UN quality
	// "Low"): nicknames and short forms that are not expected to identify
	// the party on their own.
	Weak bool `json:"weak,omitempty"`
}

// ListInfo describes a stored list without its entries.
type ListInfo struct {
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Date    time.Time `json:"date"`
	// Published: Date is the publisher's publication date (List.Published).
	Published bool   `json:"published,omitempty"`
	Entries   int    `json:"entries"`
	SHA256    string `json:"sha256"` // digest of the entries as stored
}

// ErrNoEntries is returned when an import finds no entries at all: an
// empty list replacing a real one would silently disable screening.
var ErrNoEntries = errors.New("list has no entries")

// Info summarises l; SHA256 is left empty since only a stored list has one.
func (l *List) Info() ListInfo {
	return ListInfo{Name: l.Name, Version: l.Version, Date: l.Date, Published: l.Published, Entries: len(l.Entries)}
}
