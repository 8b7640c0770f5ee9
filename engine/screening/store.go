package screening

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
)

// storeFormat is the version of the list file layout. A reader refuses
// files of any other version rather than guess at their meaning.
const storeFormat = 1

// listFileSuffix ends the name of every list file in a store.
const listFileSuffix = ".list.json.gz"

// Store errors.
var (
	// ErrCorruptList is returned, wrapped with the file and the reason,
	// for a list file that cannot be trusted: bad gzip stream, bad JSON,
	// checksum or count mismatch, or an unknown format version.
	ErrCorruptList = errors.New("corrupt list file")
	// ErrListNotFound is returned by Get for a list the store lacks.
	ErrListNotFound = errors.New("list not found")
	// ErrBadListName is returned for a list name unusable as a file name.
	ErrBadListName = errors.New("invalid list name")
)

var listNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Store keeps each list as one gzip-compressed JSON file in a directory:
// a format version, the list's name, version and date, the number of
// entries and the SHA-256 of the entries as written, then the entries. A
// list file can be shipped and swapped on its own; Put replaces one
// atomically, so a reader sees either the old list or the new one.
type Store struct {
	dir string
}

// listFile is the JSON layout of a stored list.
type listFile struct {
	Format  int       `json:"format"`
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Date    time.Time `json:"date"`
	// Published is List.Published; files written before it was recorded
	// read as stand-in dates, which is what they may be.
	Published bool            `json:"published,omitempty"`
	Count     int             `json:"count"`
	SHA256    string          `json:"sha256"`
	Entries   json.RawMessage `json:"entries"`
}

// OpenStore opens the store in dir, creating the directory if needed.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("opening watchlist store: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+listFileSuffix) }

// Put stores l, replacing any stored list of the same name: it writes a
// temporary file, syncs it, renames it over the old one and syncs the
// directory, so a crash leaves the old list or the new one, never a mix.
func (s *Store) Put(ctx context.Context, l *List) error {
	if err := validateList(l); err != nil {
		return fmt.Errorf("storing list %q: %w", l.Name, err)
	}
	entries, err := json.Marshal(l.Entries)
	if err != nil {
		return fmt.Errorf("storing list %q: %w", l.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sum := sha256.Sum256(entries)
	doc := listFile{
		Format: storeFormat, Name: l.Name, Version: l.Version, Date: l.Date, Published: l.Published,
		Count: len(l.Entries), SHA256: hex.EncodeToString(sum[:]), Entries: entries,
	}
	if err := s.writeAtomic(l.Name, doc); err != nil {
		return fmt.Errorf("storing list %q: %w", l.Name, err)
	}
	return nil
}

func (s *Store) writeAtomic(name string, doc listFile) (err error) {
	tmp, err := os.CreateTemp(s.dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := gzip.NewWriter(tmp)
	if err := json.NewEncoder(zw).Encode(doc); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path(name)); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.dir)
}

// validateList checks what the store and the index rely on: a usable
// name, at least one entry, and entries with unique IDs and names.
func validateList(l *List) error {
	if !listNameRE.MatchString(l.Name) {
		return fmt.Errorf("%w: %q (want lower-case letters, digits, '.', '_' or '-')", ErrBadListName, l.Name)
	}
	if len(l.Entries) == 0 {
		return ErrNoEntries
	}
	ids := make(map[string]bool, len(l.Entries))
	for i, e := range l.Entries {
		if e.ID == "" || strings.TrimSpace(e.Name) == "" {
			return fmt.Errorf("%w: entry %d has no id or no name", ErrMalformed, i)
		}
		if ids[e.ID] {
			return fmt.Errorf("%w: duplicate entry id %q", ErrMalformed, e.ID)
		}
		ids[e.ID] = true
	}
	return nil
}

// Get loads the list called name, verifying its checksum.
func (s *Store) Get(ctx context.Context, name string) (*List, error) {
	if !listNameRE.MatchString(name) {
		return nil, fmt.Errorf("loading list: %w: %q", ErrBadListName, name)
	}
	l, _, err := readListFile(ctx, s.path(name), name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("loading list %q: %w", name, ErrListNotFound)
	}
	return l, err
}

// Lists describes every stored list, sorted by name. Each file is read in
// full and verified, so a corrupt file is reported here rather than at
// screening time.
func (s *Store) Lists(ctx context.Context) ([]ListInfo, error) {
	var infos []ListInfo
	err := s.each(ctx, func(l *List, sum string) {
		info := l.Info()
		info.SHA256 = sum
		infos = append(infos, info)
	})
	return infos, err
}

// LoadAll loads every stored list, sorted by name, refusing them all if
// any is corrupt: screening against a silently partial set of lists would
// be worse than not screening.
func (s *Store) LoadAll(ctx context.Context) ([]*List, error) {
	var lists []*List
	err := s.each(ctx, func(l *List, _ string) { lists = append(lists, l) })
	return lists, err
}

func (s *Store) each(ctx context.Context, fn func(*List, string)) error {
	paths, err := filepath.Glob(filepath.Join(s.dir, "*"+listFileSuffix))
	if err != nil {
		return fmt.Errorf("listing watchlist store %s: %w", s.dir, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if strings.HasPrefix(filepath.Base(p), ".") {
			continue // a temporary file of an interrupted Put
		}
		l, sum, err := readListFile(ctx, p, strings.TrimSuffix(filepath.Base(p), listFileSuffix))
		if err != nil {
			return err
		}
		fn(l, sum)
	}
	return nil
}

// ReadList reads one list file's contents from r, verified as Get
// verifies a stored file: it must hold the list called name, and errors
// name the file as src. A caller that has checked the file's bytes (sync
// checks central's signature over them) screens with exactly those bytes
// by handing them here, rather than opening the file again.
func ReadList(ctx context.Context, r io.Reader, name, src string) (*List, error) {
	l, _, err := readList(ctx, r, name, src)
	return l, err
}

// readListFile reads and verifies one list file, which must hold the list
// called name. It returns the list and the checksum of its entries.
func readListFile(ctx context.Context, path, name string) (*List, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	// A FIFO in the folder would hold every load of the lists.
	f, err := atomicfile.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("loading list %s: %w", path, err)
	}
	defer f.Close()
	return readList(ctx, f, name, path)
}

// readList is readListFile on the file's contents, read from r.
func readList(ctx context.Context, r io.Reader, name, path string) (*List, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("loading list %s: %w: %s", path, ErrCorruptList, fmt.Sprintf(format, args...))
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, "", corrupt("gzip: %v", err)
	}
	var doc listFile
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		return nil, "", corrupt("decoding: %v", err)
	}
	// Reading to the end makes gzip check its own CRC and length trailer.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, "", corrupt("gzip: %v", err)
	}
	if doc.Format != storeFormat {
		return nil, "", corrupt("format version %d, this program reads %d", doc.Format, storeFormat)
	}
	if doc.Name != name {
		return nil, "", corrupt("holds list %q, expected %q", doc.Name, name)
	}
	sum := sha256.Sum256(doc.Entries)
	if got := hex.EncodeToString(sum[:]); got != doc.SHA256 {
		return nil, "", corrupt("entries checksum %s, header says %s", got, doc.SHA256)
	}
	l := &List{Name: doc.Name, Version: doc.Version, Date: doc.Date, Published: doc.Published}
	if err := json.Unmarshal(doc.Entries, &l.Entries); err != nil {
		return nil, "", corrupt("decoding entries: %v", err)
	}
	if len(l.Entries) != doc.Count {
		return nil, "", corrupt("%d entries, header says %d", len(l.Entries), doc.Count)
	}
	if err := validateList(l); err != nil {
		return nil, "", corrupt("%v", err)
	}
	return l, doc.SHA256, nil
}
