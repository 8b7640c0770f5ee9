package central_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestCaptureTimeOutsideJSONYears sends manifests dated, once in UTC,
// outside the years 0000-9999 that an RFC 3339 time (and so JSON) can
// carry. Each parses as the device wrote it, but central could write it
// nowhere: every store, the admin API and the partner API encode times as
// RFC 3339. It must be refused as malformed (422, final), not stored to
// break every list it appears in, nor answered 500 for ever.
func TestCaptureTimeOutsideJSONYears(t *testing.T) {
	stores := map[string]func(t *testing.T) central.Store{
		"bolt": func(t *testing.T) central.Store { return sealedBolt(t) },
		"pg":   func(t *testing.T) central.Store { return sealedPG(t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			c := start(t, central.Config{Store: open(t)})
			d := c.enrol(t)
			for i, created := range []string{"9999-12-31T23:00:00-02:00", "0000-01-01T00:30:00+01:00"} {
				att := d.attestation(t, time.Now(), d.config(t).Challenge)
				payload, err := json.Marshal(map[string]any{"attestation": att})
				if err != nil {
					t.Fatal(err)
				}
				id := []string{"far-future", "far-past"}[i]
				pt, err := json.Marshal(map[string]any{"id": id, "created_at": json.RawMessage(`"` + created + `"`), "payload": json.RawMessage(payload)})
				if err != nil {
					t.Fatal(err)
				}
				sealed, err := protocol.SealManifest(&c.Cfg.BoxKey.Public, pt)
				if err != nil {
					t.Fatal(err)
				}
				resp, e := d.do(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey(id)), sealed, nil)
				if resp.StatusCode != http.StatusUnprocessableEntity || e.Code != "malformed" {
					t.Errorf("manifest created %s: %d %+v, want 422 malformed", created, resp.StatusCode, e)
				}
			}
			var subs []central.Submission
			if resp, e := c.admin(t, http.MethodGet, "/admin/v1/submissions", nil, &subs); resp.StatusCode != http.StatusOK || len(subs) != 0 {
				t.Errorf("listing submissions: %d %+v, %d listed, want none", resp.StatusCode, e, len(subs))
			}
		})
	}
}
