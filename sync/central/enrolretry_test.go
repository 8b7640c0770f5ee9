package central_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestEnrolmentAnswerLost: central enrols a device, and the answer (central's
// keys) is lost on the way. The device keeps its key (identity.LoadOrCreate)
// and asks again with the same token: before, the token was spent and the
// retry was 403, and a new token 409 "enrolled", so the device could never
// learn central's keys with its key. Now the token's redemption is answered
// again to the device that redeemed it, and to nobody else: another device
// with that token, a revoked device, or the device with a new token is
// still refused.
func TestEnrolmentAnswerLost(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			var drop atomic.Bool
			// Central's answer to the enrolment is lost after central
			// handled it: the connection is cut instead of answered.
			wrap := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == protocol.PathEnroll && drop.CompareAndSwap(true, false) {
						h.ServeHTTP(httptest.NewRecorder(), r)
						panic(http.ErrAbortHandler)
					}
					h.ServeHTTP(w, r)
				})
			}
			c := synctest.StartCentral(t, st.open(t), synctest.CentralOptions{Wrap: wrap})
			ctx := context.Background()
			tok := c.Token(t)
			id := identity.Generate()
			drop.Store(true)
			if _, err := identity.Enroll(ctx, c.Client(), c.URL, tok, id, "t"); err == nil {
				t.Fatal("enrolment answered though its answer was cut off")
			}
			if _, err := c.Store.Device(ctx, id.DeviceID()); err != nil {
				t.Fatalf("central did not enrol the device before the answer was lost: %v", err)
			}
			enr, err := identity.Enroll(ctx, c.Client(), c.URL, tok, id, "t")
			if err != nil {
				t.Fatalf("asking again with the same token and key: %v", err)
			}
			if enr.DeviceID != id.DeviceID() || enr.CentralBoxKey != c.Box.Public {
				t.Errorf("second answer %+v, want the device's id and central's keys", enr)
			}
			// The enrolment works: the device delivers with it.
			enr.CentralCA = string(c.CA)
			up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr})
			if err != nil {
				t.Fatal(err)
			}
			if err := up.Upload(ctx, synctest.Submission(t, id, 1, 100)); err != nil {
				t.Errorf("uploading with the enrolment asked again: %v", err)
			}
			for _, tc := range []struct {
				name  string
				token string
				id    *identity.Identity
			}{
				{"another device with the spent token", tok, identity.Generate()},
				{"the device with a new token", c.Token(t), id},
			} {
				if _, err := identity.Enroll(ctx, c.Client(), c.URL, tc.token, tc.id, "t"); !errors.Is(err, identity.ErrEnrollRefused) {
					t.Errorf("%s: %v, want ErrEnrollRefused", tc.name, err)
				}
			}
			if code := c.Admin(t, http.MethodPost, "/admin/v1/devices/"+id.DeviceID()+"/revoke", nil, nil); code != http.StatusOK {
				t.Fatalf("revoking: %d", code)
			}
			if _, err := identity.Enroll(ctx, c.Client(), c.URL, tok, id, "t"); !errors.Is(err, identity.ErrEnrollRefused) {
				t.Errorf("the revoked device with its spent token: %v, want ErrEnrollRefused", err)
			}
		})
	}
}
