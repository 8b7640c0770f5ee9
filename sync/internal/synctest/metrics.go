package synctest

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/central"
)

// Metrics returns the text of srv's /metrics page, read over HTTP from a
// metrics listener (Server.ServeMetrics) on loopback that lives for the
// call: the main listener does not serve the metrics.
func Metrics(tb testing.TB, srv *central.Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeMetrics(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ServeMetrics: %v", err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// Metrics returns the text of c's /metrics page.
func (c *Central) Metrics(tb testing.TB) string {
	tb.Helper()
	return Metrics(tb, c.Server)
}
