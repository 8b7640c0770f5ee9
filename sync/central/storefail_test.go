package central_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// flakyWrites fails every other write of an upload, alternately before
// the write (nothing stored) and after it (stored, yet central is told
// it failed: a connection lost at the commit).
type flakyWrites struct {
	central.Store
	n atomic.Int64
}

var errFlaky = errors.New("injected store failure")

// fail runs write unless this call fails before it, and reports whether
// the call fails.
func (f *flakyWrites) fail(write func() error) error {
	switch f.n.Add(1) % 4 {
	case 1:
		return errFlaky
	case 3:
		if err := write(); err != nil {
			return err
		}
		return errFlaky
	}
	return write()
}

func (f *flakyWrites) BeginSubmission(ctx context.Context, s central.Submission) (st protocol.UploadState, created bool, err error) {
	err = f.fail(func() (err error) {
		st, created, err = f.Store.BeginSubmission(ctx, s)
		return err
	})
	return st, created, err
}

func (f *flakyWrites) AppendChunk(ctx context.Context, c central.Chunk) (st protocol.UploadState, err error) {
	err = f.fail(func() (err error) {
		st, err = f.Store.AppendChunk(ctx, c)
		return err
	})
	return st, err
}

func (f *flakyWrites) ClaimAttestation(ctx context.Context, deviceID string, h [sha256.Size]byte, key string, expires time.Time) error {
	return f.fail(func() error { return f.Store.ClaimAttestation(ctx, deviceID, h, key, expires) })
}

// TestStoreFailingMidWrite: central's store fails half its writes of
// uploads, before or after storing. The agent tries each submission again
// until it reports delivery; every one it takes as delivered is held by
// central whole, once, and none is rejected.
func TestStoreFailingMidWrite(t *testing.T) {
	for _, st := range sealedStores {
		t.Run(st.name, func(t *testing.T) {
			inner := st.open(t)
			flaky := &flakyWrites{Store: inner}
			c := synctest.StartCentral(t, flaky, synctest.CentralOptions{})
			id, enr := c.Enroll(t)
			up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, ChunkSize: 4096, RetryMax: -1, RetryWaitMin: time.Millisecond, RetryWaitMax: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var sent []vault.Submission
			for n := range 6 {
				s := synctest.Submission(t, id, n+1, []int{0, 100, 5000, 20000, 9000, 4096}[n])
				delivered := false
				for try := 0; try < 40 && !delivered; try++ {
					err := up.Upload(context.Background(), s)
					if errors.Is(err, agent.ErrRejected) {
						t.Fatalf("submission %d rejected: %v", n+1, err)
					}
					delivered = err == nil
				}
				if !delivered {
					t.Fatalf("submission %d not delivered in 40 tries", n+1)
				}
				sent = append(sent, s)
			}
			if n := flaky.n.Load(); n < 8 {
				t.Errorf("only %d writes went through the failing store", n)
			}
			synctest.CheckDelivered(t, inner, id.DeviceID(), sent)
		})
	}
}
