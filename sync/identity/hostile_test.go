package identity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestEnrollAgainstHostileCentral plays a central (or whatever holds its
// certificate) answering the enrolment with what it should not: a
// redirect elsewhere, words that would act on the operator's terminal, a
// huge body. The token and the device's signature go nowhere but the URL
// given, the error says what happened in printable words, and nothing is
// enrolled.
func TestEnrollAgainstHostileCentral(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var elsewhere atomic.Int64
	var answer atomic.Pointer[func(w http.ResponseWriter, r *http.Request)]
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/elsewhere":
				elsewhere.Add(1)
				w.WriteHeader(http.StatusOK)
			case r.URL.Path == protocol.PathEnroll && answer.Load() != nil:
				(*answer.Load())(w, r)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
	c := synctest.StartCentral(t, store, synctest.CentralOptions{Wrap: wrap})
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		says   string
	}{
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusPermanentRedirect)
		}, "308"},
		{"escapes in the refusal", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(protocol.Error{Code: "no\x1b[8m", Message: "\x1b]0;owned\x07\x1b[2Jgo away\r\nenrolled OK\u202e\u009b6n" + strings.Repeat("x", 1<<19)})
		}, "go away"},
		{"escapes in a 5xx", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			json.NewEncoder(w).Encode(protocol.Error{Message: "\x1b[2Jdown\x7f"})
		}, "down"},
		{"huge body", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte(" "), 8<<20))
		}, "decoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer.Store(&tc.answer)
			_, err := identity.EnrollWithCA(context.Background(), c.CA, c.URL, c.Token(t), identity.Generate(), "t")
			if err == nil {
				t.Fatal("enrolled against a hostile answer")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.says) {
				t.Errorf("error %.200q does not say %q", msg, tc.says)
			}
			for _, r := range msg {
				if unicode.IsControl(r) || r >= 0x202a && r <= 0x202e {
					t.Errorf("error carries %U from central: %.200q", r, msg)
					break
				}
			}
			if len(msg) > 8<<10 {
				t.Errorf("error of %d bytes: central's words are not bounded", len(msg))
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the enrolment followed a redirect (%d requests elsewhere)", n)
	}
}
