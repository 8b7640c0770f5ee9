package agent_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// rig is one device and one central, on loopback.
type rig struct {
	central *synctest.Central
	store   *boltstore.Store
	dbPath  string
	id      *identity.Identity
	enr     identity.Enrollment
	dir     string // device state: vault, key file
}

func newRig(t *testing.T, o synctest.CentralOptions) *rig {
	t.Helper()
	r := &rig{dir: t.TempDir()}
	r.dbPath = filepath.Join(t.TempDir(), "central.db")
	var err error
	if r.store, err = boltstore.Open(r.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	r.central = synctest.StartCentral(t, r.store, o)
	if r.id, err = identity.LoadOrCreate(r.identityFile()); err != nil {
		t.Fatal(err)
	}
	r.enr = r.central.EnrollIdentity(t, r.id)
	if err := identity.SaveEnrollment(r.enrollmentFile(), r.enr); err != nil {
		t.Fatal(err)
	}
	if err := vault.GenerateKeyFile(r.keyFile()); err != nil {
		t.Fatal(err)
	}
	return r
}

// Device state files, in the layout the helper process expects.
func (r *rig) keyFile() string        { return filepath.Join(r.dir, "vault.key") }
func (r *rig) vaultPath() string      { return filepath.Join(r.dir, "vault.db") }
func (r *rig) identityFile() string   { return filepath.Join(r.dir, "device.key") }
func (r *rig) enrollmentFile() string { return filepath.Join(r.dir, "enrollment.json") }

// restartCentral stops central and serves the same store file again on the
// same address, as after a crash and restart.
func (r *rig) restartCentral(t *testing.T, o synctest.CentralOptions) {
	t.Helper()
	r.central.Stop()
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.store, err = boltstore.Open(r.dbPath); err != nil {
		t.Fatal(err)
	}
	o.Addr, o.Box, o.Sign, o.TLSDir = r.central.Addr, r.central.Box, r.central.Sign, r.central.TLSDir
	r.central = synctest.StartCentral(t, r.store, o)
}

func (r *rig) openVault(t *testing.T, o vault.Options) *vault.Vault {
	t.Helper()
	v, err := vault.Open(context.Background(), r.vaultPath(), vault.KeyFile(r.keyFile()), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func (r *rig) uploader(t *testing.T, cfg agent.Config) *agent.Uploader {
	t.Helper()
	cfg.Identity, cfg.Enrollment = r.id, r.enr
	if cfg.RetryWaitMin == 0 {
		cfg.RetryWaitMin, cfg.RetryWaitMax = 5*time.Millisecond, 50*time.Millisecond
	}
	u, err := agent.NewUploader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// capture stores n submissions in v and returns them.
func capture(t *testing.T, v *vault.Vault, id *identity.Identity, first, n, imageSize int) []vault.Submission {
	t.Helper()
	var subs []vault.Submission
	for i := first; i < first+n; i++ {
		s := synctest.Submission(t, id, i, imageSize)
		if err := v.PutSubmission(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	return subs
}

// queueOne opens the rig's vault on a test clock, stores one submission of
// 10 KiB images in it, and makes an agent over it uploading with cfg.
func (r *rig) queueOne(t *testing.T, cfg agent.Config) (*agent.Agent, *vault.Vault, *synctest.Clock, []vault.Submission) {
	t.Helper()
	clock := synctest.NewClock(time.Now())
	v := r.openVault(t, vault.Options{Now: clock.Now})
	subs := capture(t, v, r.id, 0, 1, 10<<10)
	return agent.New(r.uploader(t, cfg), v, agent.Options{Now: clock.Now}), v, clock, subs
}

// runOnce runs one pass of a, failing the test on its error.
func runOnce(t *testing.T, a *agent.Agent) {
	t.Helper()
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// stateOf is the outbox entry of the submission id in v, and the
// submission as v holds it (its images gone once shredded).
func stateOf(t *testing.T, v *vault.Vault, id string) (vault.OutboxEntry, vault.Submission) {
	t.Helper()
	ctx := context.Background()
	e, err := v.OutboxStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.GetSubmission(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}

// drain runs SyncOnce, advancing the vault clock past every backoff, until
// the outbox holds nothing queued or sending, or the attempts run out.
func drain(t *testing.T, a *agent.Agent, clock *synctest.Clock, passes int) agent.Summary {
	t.Helper()
	var total agent.Summary
	for range passes {
		s, err := a.SyncOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total.Synced += s.Synced
		total.Rejected += s.Rejected
		total.Failed += s.Failed
		if s.Failed == 0 && s.Paused.IsZero() && s.Synced == 0 && s.Rejected == 0 {
			return total
		}
		clock.Advance(2 * time.Hour)
	}
	return total
}

// faultTransport wraps a transport with a fault chosen per request.
type faultTransport struct {
	base  http.RoundTripper
	fault func(n int, req *http.Request) fault
	mu    chan struct{}
	n     int
}

type fault int

const (
	pass         fault = iota
	dropRequest        // fail before central sees the request
	dropResponse       // central processes it; the answer is lost
)

// newFaultTransport injects faults into the rig's enrolment transport
// (TLS trusting the test central's CA).
func (r *rig) newFaultTransport(t *testing.T, fn func(n int, req *http.Request) fault) *faultTransport {
	t.Helper()
	return &faultTransport{base: r.transport(t), fault: fn, mu: make(chan struct{}, 1)}
}

// transport is what the device's requests go through: TLS trusting the
// CA recorded at enrolment.
func (r *rig) transport(t *testing.T) *http.Transport {
	t.Helper()
	tr, err := r.enr.Transport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu <- struct{}{}
	n := f.n
	f.n++
	<-f.mu
	switch f.fault(n, req) {
	case dropRequest:
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errConnReset
	case dropResponse:
		resp, err := f.base.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return nil, errConnReset
	}
	return f.base.RoundTrip(req)
}

type netError string

func (e netError) Error() string { return string(e) }

const errConnReset = netError("connection reset by peer (injected)")

func protocolKey(id string) string { return protocol.SubmissionKey(id) }

func centralFilterDevice(id string) central.Filter { return central.Filter{DeviceID: id} }
