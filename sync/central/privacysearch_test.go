package central_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// TestSearchByPost: a search posts the identifiers in its body, so that
// no URL (a proxy's access log, a shell history) holds a NIK or a name;
// the answer is the GET's, and central's log names neither.
func TestSearchByPost(t *testing.T) {
	c := start(t, central.Config{Store: sealedBolt(t)})
	now := time.Now().UTC()
	storedSubmission(t, c.Cfg.Store, "sub-1", now)
	cases := []struct {
		name, body string
		status     int
		found      int
		bad        bool // against openapi.json on purpose
	}{
		{"nik", `{"nik":"3174096112900001"}`, http.StatusOK, 1, false},
		{"nik and name", `{"nik":"3174096112900001","name":"Siti Nurhaliza","limit":5}`, http.StatusOK, 1, false},
		{"another nik", `{"nik":"3174096112900002"}`, http.StatusOK, 0, false},
		{"nothing to search by", `{}`, http.StatusBadRequest, 0, false},
		{"unknown member", `{"nik":"3174096112900001","nikk":"x"}`, http.StatusBadRequest, 0, true},
		{"negative limit", `{"nik":"3174096112900001","limit":-1}`, http.StatusBadRequest, 0, true},
		{"not json", `nik=3174096112900001`, http.StatusBadRequest, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var found []central.Submission
			send := c.admin
			if tc.bad {
				send = c.badAdmin
			}
			resp, e := send(t, http.MethodPost, "/admin/v1/submissions/search", []byte(tc.body), &found)
			if resp.StatusCode != tc.status || len(found) != tc.found {
				t.Fatalf("%d %q, %d found; want %d, %d found", resp.StatusCode, e.Code, len(found), tc.status, tc.found)
			}
			if strings.Contains(e.Message, "3174096112900001") {
				t.Errorf("the error answer echoes the NIK: %q", e.Message)
			}
		})
	}
	for _, s := range []string{"3174096112900001", "Siti"} {
		if strings.Contains(c.Log.String(), s) {
			t.Errorf("central's log holds %q", s)
		}
	}
}
