package pgtest

import (
	"context"
	"fmt"
	"os"
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
