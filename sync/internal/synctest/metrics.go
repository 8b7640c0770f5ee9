package synctest

import (
	"io"
	"net/http"
	"testing"
)

// Metrics returns the text of the /metrics page of the central at
// baseURL, read with client.
func Metrics(tb testing.TB, client *http.Client, baseURL string) string {
	tb.Helper()
	resp, err := client.Get(baseURL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Metrics returns the text of c's /metrics page.
func (c *Central) Metrics(tb testing.TB) string {
	tb.Helper()
	return Metrics(tb, c.client, c.URL)
}
