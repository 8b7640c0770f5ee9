package central

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestServeHealthAndGracefulShutdown(t *testing.T) {
	s := New(Config{Addr: "127.0.0.1:0", Version: "test"})
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

func TestServeBadAddress(t *testing.T) {
	if err := New(Config{Addr: "256.0.0.1:99999"}).Serve(context.Background(), nil); err == nil {
		t.Fatal("Serve accepted an invalid address")
	}
}
