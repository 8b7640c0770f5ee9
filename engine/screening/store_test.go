package screening

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func smallList(name, version string, names ...string) *List {
	l := &List{Name: name, Version: version, Date: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	for i, n := range names {
		l.Entries = append(l.Entries, Entry{ID: string(rune('a' + i)), Kind: KindIndividual, Name: n,
			DOBs: []DOB{{From: Date{Year: 1970}, To: Date{Year: 1971}, Circa: true}}})
	}
	return l
}

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lists")
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	sample := sampleList(t)
	sample.Published = true
	other := smallList("pep", "v1", "Jane Smith")
	for _, l := range []*List{sample, other} {
		if err := s.Put(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, sample.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != sample.Name || got.Version != sample.Version || !got.Date.Equal(sample.Date) || !got.Published || len(got.Entries) != len(sample.Entries) {
		t.Fatalf("got %s %s %v %d entries, want %s %s %v %d", got.Name, got.Version, got.Date, len(got.Entries),
			sample.Name, sample.Version, sample.Date, len(sample.Entries))
	}
	for i := range sample.Entries {
		if !entriesEqual(got.Entries[i], sample.Entries[i]) {
			t.Errorf("entry %d = %+v, want %+v", i, got.Entries[i], sample.Entries[i])
		}
	}
	infos, err := s.Lists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Name != "ofac-sample" || infos[1].Name != "pep" {
		t.Fatalf("Lists = %+v, want ofac-sample and pep in name order", infos)
	}
	if infos[0].Entries != 17 || len(infos[0].SHA256) != 64 || !infos[0].Published || infos[1].Version != "v1" || infos[1].Published {
		t.Errorf("Lists = %+v", infos)
	}
	all, err := s.LoadAll(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("LoadAll = %d lists, %v", len(all), err)
	}
	if _, err := s.Get(ctx, "un-sc"); !errors.Is(err, ErrListNotFound) {
		t.Errorf("Get of an absent list: err = %v, want ErrListNotFound", err)
	}
}

func TestStorePutRefusesBadLists(t *testing.T) {
	ctx := context.Background()
	s, dir := openStore(t)
	if err := s.Put(ctx, smallList("pep", "v1", "Jane Smith")); err != nil {
		t.Fatal(err)
	}
	dup := smallList("pep", "v2", "A", "B")
	dup.Entries[1].ID = dup.Entries[0].ID
	tests := []struct {
		name string
		l    *List
		want error
	}{
		{"path in name", smallList("../pep", "v2", "A"), ErrBadListName},
		{"upper case name", smallList("PEP", "v2", "A"), ErrBadListName},
		{"empty name", smallList("", "v2", "A"), ErrBadListName},
		{"no entries", smallList("pep", "v2"), ErrNoEntries},
		{"entry without name", smallList("pep", "v2", " "), ErrMalformed},
		{"duplicate ids", dup, ErrMalformed},
	}
	for _, tt := range tests {
		if err := s.Put(ctx, tt.l); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The refused updates left the stored list and no debris behind.
	got, err := s.Get(ctx, "pep")
	if err != nil || got.Version != "v1" {
		t.Errorf("after refused updates: version %v, err %v; want v1", got, err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Errorf("store holds %d files, want 1", len(files))
	}
	if _, err := s.Get(ctx, "../etc/passwd"); !errors.Is(err, ErrBadListName) {
		t.Errorf("Get with a path: err = %v, want ErrBadListName", err)
	}
}

// TestStoreAtomicReplace replaces a list over and over while readers load
// it: every read must see one whole version, never an error or a mix.
func TestStoreAtomicReplace(t *testing.T) {
	ctx := context.Background()
	s, dir := openStore(t)
	v1 := smallList("pep", "v1", "Jane Smith", "John Smith")
	v2 := smallList("pep", "v2", "Ivan Petrov", "Ana Lima", "Wei Zhang")
	if err := s.Put(ctx, v1); err != nil {
		t.Fatal(err)
	}
	const writes, readers = 30, 3
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				l, err := s.Get(ctx, "pep")
				if err == nil && !(l.Version == "v1" && len(l.Entries) == 2 || l.Version == "v2" && len(l.Entries) == 3) {
					err = errors.New("read a mixed list: " + l.Version)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range writes {
		l := v1
		if i%2 == 0 {
			l = v2
		}
		if err := s.Put(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, err := s.Get(ctx, "pep"); err != nil || got.Version != "v1" {
		t.Errorf("final version = %v, %v; want v1, the last written", got, err)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Errorf("store holds %d files after replacements, want 1", len(files))
	}
}

func TestStoreIgnoresInterruptedWrite(t *testing.T) {
	ctx := context.Background()
	s, dir := openStore(t)
	if err := s.Put(ctx, smallList("pep", "v1", "Jane Smith")); err != nil {
		t.Fatal(err)
	}
	// What a crash between create and rename leaves behind.
	if err := os.WriteFile(filepath.Join(dir, ".pep.123.tmp"), []byte("half a list"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := s.Lists(ctx)
	if err != nil || len(infos) != 1 || infos[0].Version != "v1" {
		t.Errorf("Lists = %+v, %v; want only pep v1", infos, err)
	}
}

// rewriteGzip decompresses a list file, applies edit to the JSON and
// compresses it again, keeping the gzip stream itself valid.
func rewriteGzip(t *testing.T, data []byte, edit func(string) string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(string(plain))
	if edited == string(plain) {
		t.Fatal("edit changed nothing")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(edited))
	zw.Close()
	return buf.Bytes()
}

func TestStoreRefusesCorruptFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		corrupt func(t *testing.T, data []byte) []byte
	}{
		{"truncated", func(_ *testing.T, d []byte) []byte { return d[:len(d)/2] }},
		{"bit flip in the stream", func(_ *testing.T, d []byte) []byte { d[len(d)/2] ^= 0x10; return d }},
		{"bad gzip checksum", func(_ *testing.T, d []byte) []byte { d[len(d)-5] ^= 0xff; return d }},
		{"not gzip", func(_ *testing.T, _ []byte) []byte { return []byte(`{"format":1}`) }},
		{"empty", func(_ *testing.T, _ []byte) []byte { return nil }},
		{"edited entries", func(t *testing.T, d []byte) []byte {
			return rewriteGzip(t, d, func(s string) string { return strings.Replace(s, "Jane Smith", "Jane Smyth", 1) })
		}},
		{"unknown format version", func(t *testing.T, d []byte) []byte {
			return rewriteGzip(t, d, func(s string) string { return strings.Replace(s, `"format":1`, `"format":2`, 1) })
		}},
		{"wrong count", func(t *testing.T, d []byte) []byte {
			return rewriteGzip(t, d, func(s string) string { return strings.Replace(s, `"count":2`, `"count":3`, 1) })
		}},
		{"other list's file", func(t *testing.T, d []byte) []byte {
			return rewriteGzip(t, d, func(s string) string { return strings.Replace(s, `"name":"pep"`, `"name":"un-sc"`, 1) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := openStore(t)
			if err := s.Put(ctx, smallList("pep", "v1", "Jane Smith", "John Smith")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "pep"+listFileSuffix)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.corrupt(t, data), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "pep"); !errors.Is(err, ErrCorruptList) {
				t.Errorf("Get: err = %v, want ErrCorruptList", err)
			}
			if _, err := s.LoadAll(ctx); !errors.Is(err, ErrCorruptList) {
				t.Errorf("LoadAll: err = %v, want ErrCorruptList", err)
			}
			if _, err := s.Lists(ctx); !errors.Is(err, ErrCorruptList) {
				t.Errorf("Lists: err = %v, want ErrCorruptList", err)
			}
		})
	}
}

func TestStoreCancelled(t *testing.T) {
	s, _ := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, smallList("pep", "v1", "A")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: err = %v, want context.Canceled", err)
	}
}
