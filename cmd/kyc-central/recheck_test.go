package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// TestStartRecheck: --recheck-approvals refuses to start without the face
// engine, and with it runs until stopped.
func TestStartRecheck(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	if _, err := startRecheck(context.Background(), store, nil, &queueConfig{}, logger); !errors.Is(err, errRecheckNoEngine) {
		t.Errorf("startRecheck without the engine = %v, want %v", err, errRecheckNoEngine)
	}
	fm, closeFM := openFaceMatcher(context.Background(), "", logger)
	defer closeFM()
	stop, err := startRecheck(context.Background(), store, fm, &queueConfig{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if !strings.Contains(log.String(), "rechecking device approvals") {
		t.Errorf("log %q", log.String())
	}
}
