package backup

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// midCopy is a reader that, at its first read, looks at the folder the
// copy is written into and runs RemoveLeftRestores there, as a restore or
// a central starting meanwhile would.
type midCopy struct {
	t    *testing.T
	db   string
	r    io.Reader
	seen []string
}

func (m *midCopy) Read(p []byte) (int, error) {
	if m.seen == nil {
		if n, err := RemoveLeftRestores(m.db); err != nil || n != 0 {
			m.t.Errorf("RemoveLeftRestores during a restore = %d, %v; want 0", n, err)
		}
		ents, err := os.ReadDir(filepath.Dir(m.db))
		if err != nil {
			m.t.Error(err)
		}
		m.seen = []string{}
		for _, e := range ents {
			m.seen = append(m.seen, e.Name())
		}
	}
	return m.r.Read(p)
}

// TestPutBackNamedAndLocked: the copy being restored is written under
// .<store>.restore-<digits>, which RemoveLeftRestores matches, and it is
// kept by it while being written (its lock is held).
func TestPutBackNamedAndLocked(t *testing.T) {
	db := filepath.Join(t.TempDir(), "central.db")
	m := &midCopy{t: t, db: db, r: strings.NewReader("the store")}
	if err := putBack(context.Background(), db, m, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(m.seen) != 1 || !isRestoring(m.seen[0], "central.db") {
		t.Errorf("while written the folder held %q, want one .central.db.restore-<digits>", m.seen)
	}
	if b, err := os.ReadFile(db); err != nil || string(b) != "the store" {
		t.Errorf("restored %q, %v", b, err)
	}
}
