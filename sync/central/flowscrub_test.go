package central

import (
	"encoding/json"
	"testing"
)

// TestScrubConfig: an erased session's URLs keep their origins (scheme,
// host and port), whatever else they carried; the other members, and a
// Config of another shape, stay as they are.
func TestScrubConfig(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"query and path", `{"callback_url":"https://shop.example/cb?uid=siti","redirect_url":"https://shop.example/u/siti/done","max_retries":3}`,
			`{"callback_url":"https://shop.example","max_retries":3,"redirect_url":"https://shop.example"}`},
		{"port kept", `{"redirect_url":"http://127.0.0.1:8080/done?u=1"}`, `{"redirect_url":"http://127.0.0.1:8080"}`},
		{"origin only", `{"callback_url":"https://shop.example","liveness_type":"active"}`, `{"callback_url":"https://shop.example","liveness_type":"active"}`},
		{"not a URL", `{"callback_url":"siti@example.com"}`, `{"callback_url":""}`},
		{"no URLs", `{"liveness_type":"passive"}`, `{"liveness_type":"passive"}`},
		{"not an object", `[1]`, `[1]`},
		{"none", ``, ``},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := scrubConfig(json.RawMessage(c.in)); string(got) != c.want {
				t.Errorf("scrubConfig(%s) = %s, want %s", c.in, got, c.want)
			}
		})
	}
}

// TestAnswerSession: the session a stored answer names, or none.
func TestAnswerSession(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"session_id":"s-1","status":"CREATED"}`, "s-1"},
		{`{"match":true,"similarity":0.9}`, ""},
		{``, ""},
		{`{"session_id":7}`, ""},
	} {
		if got := AnswerSession([]byte(c.body)); got != c.want {
			t.Errorf("AnswerSession(%s) = %q, want %q", c.body, got, c.want)
		}
	}
}
