package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// serve loads the Face Match engine when the models are installed, and runs
// without it (the API answering 503) when they are not.
func TestOpenFaceMatcher(t *testing.T) {
	for _, c := range []struct {
		name, dir string
		loaded    bool
		log       string
	}{
		{"installed models", "", true, "face match API ready"},
		{"no models in --models", t.TempDir(), false, "models not installed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log bytes.Buffer
			fm, closeFM := openFaceMatcher(context.Background(), c.dir, slog.New(slog.NewTextHandler(&log, nil)))
			defer closeFM()
			if (fm != nil) != c.loaded || !strings.Contains(log.String(), c.log) {
				t.Errorf("matcher loaded %v, log %q", fm != nil, log.String())
			}
		})
	}
}
