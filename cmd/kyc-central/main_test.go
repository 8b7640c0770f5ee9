package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeAndCreateToken runs `serve` on a bbolt store and creates an
// enrolment token against it with `token create`, then shuts down.
func TestServeAndCreateToken(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveErr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", filepath.Join(dir, "data"), "--admin-token-file", tokFile}, &bytes.Buffer{}, &serveErr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central did not come up: %v\n%s", err, serveErr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"token", "create", "--central", "http://" + addr, "--ttl", "1h", "--admin-token-file", tokFile}, &out, &errOut); code != 0 {
		t.Fatalf("token create: exit %d: %s", code, errOut.String())
	}
	var tr central.TokenResponse
	if err := json.Unmarshal(out.Bytes(), &tr); err != nil || len(tr.Token) < 40 || time.Until(tr.ExpiresAt) > time.Hour {
		t.Errorf("token create printed %q (%v)", out.String(), err)
	}
	if code := run(context.Background(), []string{"token", "create", "--central", "http://" + addr}, &out, &errOut); code == 0 && os.Getenv(envAdminToken) == "" {
		t.Error("token create without an admin token succeeded")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, serveErr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
	if fi, err := os.Stat(filepath.Join(dir, "data", "box.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("box key: %v, %v; want a 0600 file", fi, err)
	}
}

func TestUsage(t *testing.T) {
	cases := [][]string{nil, {"bogus"}, {"token"}}
	for _, args := range cases {
		if code := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code := run(context.Background(), []string{"serve", "--store", "mongo", "--data", t.TempDir()}, &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Errorf("unknown store: exit %d, want 1", code)
	}
}
