package faceeval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPairsCSV(t *testing.T) {
	good := "file_x,file_y,Decision\na.jpg,b.jpg,1\n/abs/c.jpg,d.jpg,false\ne.jpg,f.jpg,same\n"
	pairs, err := ReadPairsCSV(strings.NewReader(good), "/base")
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"/base/a.jpg", "/base/b.jpg", true}, {"/abs/c.jpg", "/base/d.jpg", false}, {"/base/e.jpg", "/base/f.jpg", true}}
	if len(pairs) != len(want) {
		t.Fatalf("pairs %+v", pairs)
	}
	for i := range want {
		if pairs[i] != want[i] {
			t.Errorf("pair %d = %+v, want %+v", i, pairs[i], want[i])
		}
	}
	for _, c := range []struct{ name, in string }{
		{"empty", ""},
		{"no decision column", "file_x,file_y\na,b\n"},
		{"bad decision", "file_x,file_y,Decision\na,b,perhaps\n"},
		{"empty file name", "file_x,file_y,Decision\n,b,1\n"},
		{"header only", "file_x,file_y,Decision\n"},
		{"short row", "file_x,file_y,Decision\na,b\n"},
	} {
		if _, err := ReadPairsCSV(strings.NewReader(c.in), "/base"); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestLoadFoldersAndPairs(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"s1/1.pgm", "s1/2.pgm", "s2/1.png", "s2/notes.txt", "s10/1.jpg"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	all, err := LoadFolders(dir, nil)
	if err != nil || len(all) != 4 {
		t.Fatalf("LoadFolders: %d images, %v", len(all), err)
	}
	pairs := AllPairs(all)
	same := 0
	for _, p := range pairs {
		if p.Same {
			same++
		}
	}
	if len(pairs) != 6 || same != 1 {
		t.Errorf("%d pairs, %d genuine; want 6 and 1", len(pairs), same)
	}
	// Both ways: (s1/1, s1/2) and (s1/2, s1/1) are different comparisons.
	cross := CrossPairs(all)
	same = 0
	for _, p := range cross {
		if p.Same {
			same++
		}
		if p.A == p.B {
			t.Errorf("cross pair of an image with itself: %s", p.A)
		}
	}
	if len(cross) != 12 || same != 2 {
		t.Errorf("%d cross pairs, %d genuine; want 12 and 2", len(cross), same)
	}
	some, err := LoadFolders(dir, []string{"s?"})
	if err != nil || len(some) != 3 {
		t.Errorf("pattern s?: %d images, %v", len(some), err)
	}
	if _, err := LoadFolders(dir, []string{"["}); err == nil {
		t.Error("bad pattern accepted")
	}
	if _, err := LoadFolders(dir, []string{"nobody"}); err == nil {
		t.Error("no matching identity gave no error")
	}
	if _, err := LoadFolders(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing folder gave no error")
	}
}
