package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// Main is the TestMain of a package whose tests share one server: it
// starts the server into *pg, runs the tests, stops the server and exits
// with the tests' code.
func Main(m *testing.M, pg **Server) {
	var err error
	if *pg, err = Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := (*pg).Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// Lazy is a server a package's tests share, started by the first test that
// asks for it (a run of tests that need none starts none). Run the
// package's tests through its Main, which stops the server.
type Lazy struct {
	once sync.Once
	srv  *Server
	err  error
}

// Server returns the shared server, starting it on first use; a failed
// start fails t (and every later caller's test).
func (l *Lazy) Server(t testing.TB) *Server {
	t.Helper()
	l.once.Do(func() { l.srv, l.err = Start(context.Background()) })
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.srv
}

// Main is the TestMain of the package: it runs the tests, stops the server
// if one started and exits with the tests' code.
func (l *Lazy) Main(m *testing.M) {
	code := m.Run()
	if l.srv != nil {
		if err := l.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// StartT starts a server for one test, stopped when the test ends (a
// failed stop fails it).
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}
