package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestWailsLogKeepsArgumentsOut: Wails logs a bound call it could not
// dispatch (arguments it could not parse, a panic) with the page's whole
// message; the app's log gets the method and the error, not the
// passphrase or the customer's data that came with it.
func TestWailsLogKeepsArgumentsOut(t *testing.T) {
	var buf bytes.Buffer
	w := wailsLog{slog.New(slog.NewTextHandler(&buf, nil))}
	w.Error(`process message error: C{"name":"app.App.SignIn","args":["chief","correct horse battery"],"callbackID":"app.App.SignIn-1"} -> reflect: Call using zero Value argument`)
	w.Error(`process message error: C{"name":"app.App.AddOperator","args":[{"supervisor":"chief","passphrase":"s3cret -> x","name":"agent02"}],"callbackID":"c2"} -> error parsing arguments: json: cannot unmarshal string into Go struct field NewOperator.role`)
	w.Info("Serving assets from disk")
	out := buf.String()
	for _, secret := range []string{"correct horse", "s3cret", "agent02"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"app.App.SignIn", "zero Value argument", "app.App.AddOperator", "cannot unmarshal", "Serving assets from disk"} {
		if !strings.Contains(out, kept) {
			t.Errorf("the log lost %q:\n%s", kept, out)
		}
	}
}
