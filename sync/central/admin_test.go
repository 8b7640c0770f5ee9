package central_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
)

func TestAdminAPI(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	a := adminOf(t, c)
	ids := map[string]string{}
	idents := map[string]*identity.Identity{}
	for _, dev := range []string{"a", "b"} {
		id, enr := c.Enroll(t)
		ids[dev], idents[dev] = id.DeviceID(), id
		u, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
		if err != nil {
			t.Fatal(err)
		}
		for n := range map[string]int{"a": 3, "b": 1}[dev] {
			if err := u.Upload(context.Background(), synctest.Submission(t, id, n, 2000)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("unauthorised", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer wrong", synctest.AdminToken} {
			req, _ := http.NewRequest(http.MethodGet, c.URL+"/admin/v1/devices", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := a.Admins.Do(apitest.Invalid(req))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("Authorization %q: %d, want 401", auth, resp.StatusCode)
			}
		}
	})
	t.Run("list and filter", func(t *testing.T) {
		cases := []struct {
			query string
			want  int
		}{
			{"", 4},
			{"?device=" + ids["a"], 3},
			{"?device=" + ids["b"], 1},
			{"?complete=true&verdict=ok", 4},
			{"?complete=false", 0},
			{"?limit=2", 2},
		}
		for _, tc := range cases {
			var subs []central.Submission
			if code := statusOf(a.admin(t, http.MethodGet, "/admin/v1/submissions"+tc.query, nil, &subs)); code != 200 {
				t.Fatalf("%q: status %d", tc.query, code)
			}
			if len(subs) != tc.want {
				t.Errorf("%q: %d submissions, want %d", tc.query, len(subs), tc.want)
			}
			for _, s := range subs {
				for _, im := range s.Images {
					if len(im.Key) != 0 {
						t.Errorf("listing exposes the content key of %s", s.ID)
					}
				}
			}
		}
		for _, q := range []string{"after=yesterday", "complete=1", "complete=t", "complete=TRUE", "complete=yes"} {
			if code := statusOf(a.badAdmin(t, http.MethodGet, "/admin/v1/submissions?"+q, nil, nil)); code != 400 {
				t.Errorf("bad filter %s: %d, want 400", q, code)
			}
		}
	})
	t.Run("get one with images", func(t *testing.T) {
		// Submissions are deterministic in (identity, n): rebuild one.
		want := synctest.Submission(t, idents["a"], 1, 2000)
		var det central.SubmissionDetail
		if code := statusOf(a.admin(t, http.MethodGet, "/admin/v1/devices/"+ids["a"]+"/submissions/"+want.ID, nil, &det)); code != 200 {
			t.Fatalf("status %d", code)
		}
		if !bytes.Equal(det.Payload, want.Payload) || len(det.ImageData) != 2 || !bytes.Equal(det.ImageData["selfie"], want.Images["selfie"]) {
			t.Errorf("detail differs from the submission: payload equal %v, %d images", bytes.Equal(det.Payload, want.Payload), len(det.ImageData))
		}
		if code := statusOf(a.admin(t, http.MethodGet, "/admin/v1/devices/"+ids["a"]+"/submissions/nope", nil, nil)); code != 404 {
			t.Errorf("unknown submission: %d, want 404", code)
		}
	})
	t.Run("devices and revocation", func(t *testing.T) {
		var ds []central.Device
		a.admin(t, http.MethodGet, "/admin/v1/devices", nil, &ds)
		if len(ds) != 2 || ds[0].Revoked() || ds[1].Revoked() {
			t.Fatalf("devices = %+v", ds)
		}
		var d central.Device
		if code := statusOf(a.admin(t, http.MethodPost, "/admin/v1/devices/"+ids["b"]+"/revoke", nil, &d)); code != 200 || !d.Revoked() {
			t.Errorf("revoke: %d %+v", code, d)
		}
		if code := statusOf(a.admin(t, http.MethodPost, "/admin/v1/devices/unknown/revoke", nil, nil)); code != 404 {
			t.Errorf("revoking an unknown device: %d, want 404", code)
		}
	})
}

func TestMetricsFormat(t *testing.T) {
	c := synctest.StartCentral(t, openBolt(t), synctest.CentralOptions{})
	for range 3 {
		resp, err := c.Client().Get(c.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	text := metricsText(t, c)
	for _, want := range []string{
		"# TYPE kyc_central_http_requests_total counter",
		`kyc_central_http_requests_total{code="200",route="GET /healthz"} 3`,
		"# TYPE kyc_central_http_request_duration_seconds histogram",
		`kyc_central_http_request_duration_seconds_count{route="GET /healthz"} 3`,
		`kyc_central_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Buckets are cumulative: never decreasing.
	prev := -1
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, `kyc_central_http_request_duration_seconds_bucket{route="GET /healthz"`) {
			continue
		}
		n, err := strconv.Atoi(line[strings.LastIndex(line, " ")+1:])
		if err != nil || n < prev {
			t.Errorf("bucket line %q after %d", line, prev)
		}
		prev = n
	}
}
