package central_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

func openBolt(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestServeHealthAndGracefulShutdown(t *testing.T) {
	box, err := central.GenerateBoxKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := central.New(central.Config{Addr: "127.0.0.1:0", Version: "test", Store: openBolt(t), BoxKey: box})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body["status"] != "ok" || body["version"] != "test" {
		t.Fatalf("health = %d %v", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("server still answering after shutdown")
	}
}

func TestNewNeedsStoreAndKey(t *testing.T) {
	if _, err := central.New(central.Config{}); err == nil {
		t.Fatal("New accepted a config without store and key")
	}
}

func TestServeBadAddress(t *testing.T) {
	box, _ := central.GenerateBoxKey()
	s, err := central.New(central.Config{Addr: "256.0.0.1:99999", Store: openBolt(t), BoxKey: box})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(context.Background(), nil); err == nil {
		t.Fatal("Serve accepted an invalid address")
	}
}
