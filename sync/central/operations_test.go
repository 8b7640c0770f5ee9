package central_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/identity"
)

// TestOperationsAudited: the bootstrap admin API goes through the same
// operations as the console, so its changes land in the audit trail too,
// with the admin credential as the actor, or for a proposal the token's
// owner with the credential it came with; an enrolment token carries its
// branch to the device it enrols.
func TestOperationsAudited(t *testing.T) {
	store := openBolt(t)
	c := start(t, central.Config{Store: store, AdminTokenOwner: addTokenOwner(t, store)})
	ctx := context.Background()

	var tr central.TokenResponse
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/enroll-tokens?branch=JKT-Selatan&ttl=1h", nil, &tr); resp.StatusCode != http.StatusCreated {
		t.Fatalf("token: %d %+v", resp.StatusCode, e)
	}
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/enroll-tokens?branch=a%0Ab", nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a branch with a newline: %d %+v, want 400", resp.StatusCode, e)
	}
	id := identity.Generate()
	if _, err := identity.Enroll(ctx, c.Client, c.URL, tr.Token, id, "test"); err != nil {
		t.Fatal(err)
	}
	d, err := store.Device(ctx, id.DeviceID())
	if err != nil || d.Branch != "JKT-Selatan" {
		t.Errorf("the enrolled device: %+v, %v; want branch JKT-Selatan", d, err)
	}
	if resp, e := c.admin(t, http.MethodPost, "/admin/v1/devices/"+id.DeviceID()+"/revoke", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %+v", resp.StatusCode, e)
	}
	if resp, e := c.admin(t, http.MethodPut, "/admin/v1/config/risk", []byte(`{"max_retries":2}`), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("risk: %d %+v", resp.StatusCode, e)
	}
	// A new list is published; its next version is proposed.
	for _, want := range []int{http.StatusOK, http.StatusAccepted} {
		if resp, e := c.admin(t, http.MethodPut, "/admin/v1/watchlists/pep.list.json.gz", []byte("list\n"), nil); resp.StatusCode != want {
			t.Fatalf("watchlist: %d %+v, want %d", resp.StatusCode, e, want)
		}
	}
	const token, owner = "admin:bootstrap-token:", "user:" + tokenOwner
	for _, w := range []struct {
		action, subject string
		n               int
		before, after   string
		actor           string // its prefix
	}{
		{central.AuditEnrollToken, "branch:JKT-Selatan", 1, "", `"branch":"JKT-Selatan"`, token},
		{central.AuditDeviceRevoke, "device:" + id.DeviceID(), 1, `"branch":"JKT-Selatan"}`, `"revoked_at"`, token},
		{central.AuditRiskProposed, "risk", 1, `{"version":0}`, `"via":"` + token, owner},
		{central.AuditWatchlistPublish, "watchlist:pep.list.json.gz", 1, "", `"version":1`, token},
		{central.AuditWatchlistProposed, "watchlist:pep.list.json.gz", 1, `"version":1`, `"via":"` + token, owner},
	} {
		evs, err := store.Audit(ctx, central.AuditFilter{Action: w.action})
		if err != nil || len(evs) != w.n {
			t.Errorf("%s: %d events, want %d (%v)", w.action, len(evs), w.n, err)
			continue
		}
		e := evs[len(evs)-1]
		if !strings.HasPrefix(e.Actor, w.actor) || e.Subject != w.subject ||
			!strings.Contains(string(e.Before), w.before) || !strings.Contains(string(e.After), w.after) {
			t.Errorf("%s: %+v (before %s, after %s)", w.action, e, e.Before, e.After)
		}
		if strings.Contains(string(e.Before)+string(e.After), tr.Token) {
			t.Errorf("%s: the audit trail holds the enrolment token", w.action)
		}
	}

	// Called from Go: input errors are public errors, with their status.
	srv := c.Server
	for _, op := range []struct {
		name string
		err  error
		want int
	}{
		{"revoke unknown", second(srv.RevokeDevice(ctx, "user:ada", "nope")), http.StatusNotFound},
		{"branch unknown", second(srv.SetDeviceBranch(ctx, "user:ada", "nope", "x")), http.StatusNotFound},
		{"token ttl", second(srv.CreateEnrollToken(ctx, "user:ada", "x", -1)), http.StatusBadRequest},
		{"risk not JSON", second(srv.ProposeRisk(ctx, "user:ada", []byte("{"), "")), http.StatusBadRequest},
		{"watchlist name", func() error {
			_, _, err := srv.PublishWatchlist(ctx, "user:ada", "../x", "", strings.NewReader("x"))
			return err
		}(), http.StatusBadRequest},
		{"erasure of nobody", second(srv.Erase(ctx, "user:ada", central.ErasureRequest{})), http.StatusBadRequest},
		{"erasure without index", second(srv.Erase(ctx, "user:ada", central.ErasureRequest{NIK: "3174096112900001"})), http.StatusNotImplemented},
	} {
		var he *httpx.Error
		if !errors.As(op.err, &he) || he.Status != op.want {
			t.Errorf("%s: %v, want status %d", op.name, op.err, op.want)
		}
	}
	res, err := srv.Erase(ctx, "user:ada", central.ErasureRequest{DeviceID: id.DeviceID(), SubmissionID: "none", DryRun: true})
	if err != nil || res.Erased != 0 || !res.DryRun {
		t.Errorf("dry run: %+v, %v", res, err)
	}
	if evs, _ := store.Audit(ctx, central.AuditFilter{Action: central.AuditErasureDryRun}); len(evs) != 1 || evs[0].Actor != "user:ada" {
		t.Errorf("dry-run audit: %+v", evs)
	}
	if srv.HasIndex() {
		t.Error("a plain bbolt store claims a blind index")
	}
}

func second[T any](_ T, err error) error { return err }
