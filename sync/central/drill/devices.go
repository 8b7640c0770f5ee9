package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/testsub"
	"github.com/openkyc/kyc/sync/loadtest"
	"github.com/openkyc/kyc/sync/vault"
)

// ImageSize is the size of the one image each drill submission carries,
// as sync/loadtest's benchmark sends.
const ImageSize = 300 << 10

// AdminJSON sends an admin API request through the load balancer and
// decodes a JSON answer into out (when not nil); a status other than
// want is an error.
func (c *Cluster) AdminJSON(ctx context.Context, method, path string, in, out any, want int) error {
	return c.call(ctx, c.URL, method, path, "Bearer "+c.Admin, in, out, want)
}

// call sends a JSON request to base+path with the Authorization header
// auth (when not empty).
func (c *Cluster) call(ctx context.Context, base, method, path, auth string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// Device is a simulated device enrolled through the load balancer, with
// the production uploader.
type Device struct {
	ID       string
	Identity *identity.Identity
	Up       *agent.Uploader
}

// Enrol enrols n devices of branch ("" for none) with enrolment tokens from
// the admin API, all through the load balancer.
func (c *Cluster) Enrol(ctx context.Context, n int, branch string) ([]Device, error) {
	devs := make([]Device, n)
	for i := range devs {
		var tr central.TokenResponse
		q := url.Values{"ttl": {"1h"}}
		if branch != "" {
			q.Set("branch", branch)
		}
		if err := c.AdminJSON(ctx, http.MethodPost, "/admin/v1/enroll-tokens?"+q.Encode(), nil, &tr, http.StatusCreated); err != nil {
			return nil, fmt.Errorf("drill: enrolment token: %w", err)
		}
		id := identity.Generate()
		enr, err := identity.EnrollWithCA(ctx, c.CA, c.URL, tr.Token, id, "kyc-drill")
		if err != nil {
			return nil, fmt.Errorf("drill: enrolling a device: %w", err)
		}
		rt, err := enr.Transport()
		if err != nil {
			return nil, err
		}
		up, err := agent.NewUploader(agent.Config{Identity: id, Enrollment: enr, Transport: &counting{rt: rt, failed: &c.failedRequests}})
		if err != nil {
			return nil, err
		}
		devs[i] = Device{ID: id.DeviceID(), Identity: id, Up: up}
	}
	return devs, nil
}

// counting counts the device requests that failed (no answer, or a 5xx
// answer): the requests the uploader then sends again.
type counting struct {
	rt     http.RoundTripper
	failed *atomic.Int64
}

func (t *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil || resp.StatusCode >= 500 {
		t.failed.Add(1)
	}
	return resp, err
}

// FailedRequests counts the device requests of the set's devices that
// failed (no answer or a 5xx) and were sent again by the uploader.
func (c *Cluster) FailedRequests() int64 { return c.failedRequests.Load() }

// Batch is the submissions each device sends, by device id.
type Batch map[string][]vault.Submission

// Total is how many submissions b holds.
func (b Batch) Total() int {
	n := 0
	for _, s := range b {
		n += len(s)
	}
	return n
}

// NewBatch makes total submissions spread over devs (numbered from first,
// so batches of one device never share ids), each with one image of
// imageSize bytes (ImageSize in the drills). The submissions share two
// distinct images: the uploads' work is central's, not the driver's
// (central seals and stores each submission's copy).
func NewBatch(devs []Device, first, total, imageSize int) (Batch, error) {
	base, err := testsub.New(identity.Generate(), 0, imageSize)
	if err != nil {
		return nil, err
	}
	imgs := base.Images
	b := Batch{}
	names := []string{"selfie", "document"}
	for k := range total {
		d := devs[k%len(devs)]
		s, err := testsub.New(d.Identity, first+k, 0)
		if err != nil {
			return nil, err
		}
		s.Images = map[string][]byte{"selfie": imgs[names[k%2]]}
		b[d.ID] = append(b[d.ID], s)
	}
	return b, nil
}

// UploadResult is what Upload did.
type UploadResult struct {
	loadtest.Result
	// Retries counts uploads that failed and were sent again, as the
	// agent's outbox does.
	Retries int
	// FailedRequests counts the devices' requests that failed (no answer
	// or a 5xx) and that the uploader sent again (Drills fills it in).
	FailedRequests int64
}

// Upload has every device send its submissions, one at a time as the
// agent does, each until central holds it complete; a failed upload is
// sent again after a short wait, as the outbox schedules it. progress,
// when not nil, is called after each completed upload with the count so
// far.
func Upload(ctx context.Context, devs []Device, b Batch, progress func(done int)) (UploadResult, error) {
	var (
		mu      sync.Mutex
		res     UploadResult
		errs    []error
		done    atomic.Int64
		retries atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	for _, d := range devs {
		wg.Go(func() {
			lat := make([]time.Duration, 0, len(b[d.ID]))
			for _, s := range b[d.ID] {
				t0 := time.Now()
				if err := uploadUntilDone(ctx, d.Up, s, &retries); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("device %s, submission %s: %w", d.ID, s.ID, err))
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
				if n := done.Add(1); progress != nil {
					progress(int(n))
				}
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Submissions = len(res.Latencies)
	res.Retries = int(retries.Load())
	slices.Sort(res.Latencies)
	return res, errors.Join(errs...)
}

// uploadUntilDone retries s (the uploader itself retries each request a
// few times) until it is complete at central, refused for good, or a
// minute and a half of failures passed.
func uploadUntilDone(ctx context.Context, up *agent.Uploader, s vault.Submission, retries *atomic.Int64) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := up.Upload(ctx, s)
		if err == nil || errors.Is(err, agent.ErrRejected) || time.Now().After(deadline) {
			return err
		}
		retries.Add(1)
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Check is what central holds of a batch.
type Check struct {
	Sent       int // submissions the devices completed
	Stored     int // distinct submissions central holds
	Lost       int // sent but not held complete
	Duplicated int // held more than once
	Altered    int // held, but not what the device sent
}

// OK reports whether central holds every submission once, intact.
func (k Check) OK() bool {
	return k.Stored == k.Sent && k.Lost == 0 && k.Duplicated == 0 && k.Altered == 0
}

func (k Check) String() string {
	return fmt.Sprintf("%d sent, %d stored, %d lost, %d duplicated, %d altered", k.Sent, k.Stored, k.Lost, k.Duplicated, k.Altered)
}

// Verify reads every submission of b back through base's admin API (the
// load balancer's, or one instance's), payload and images decrypted by
// central, and compares them with what the devices sent.
func (c *Cluster) Verify(ctx context.Context, base string, b Batch) (Check, error) {
	var (
		mu   sync.Mutex
		k    Check
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 4)
	)
	for dev, want := range b {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			one, err := c.verifyDevice(ctx, base, dev, want)
			mu.Lock()
			defer mu.Unlock()
			k.Sent += one.Sent
			k.Stored += one.Stored
			k.Lost += one.Lost
			k.Duplicated += one.Duplicated
			k.Altered += one.Altered
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return k, errors.Join(errs...)
}

func (c *Cluster) verifyDevice(ctx context.Context, base, dev string, want []vault.Submission) (Check, error) {
	k := Check{Sent: len(want)}
	var got []central.Submission
	if err := c.call(ctx, base, http.MethodGet, "/admin/v1/submissions?limit=1000&device="+url.QueryEscape(dev), "Bearer "+c.Admin, nil, &got, http.StatusOK); err != nil {
		return k, fmt.Errorf("drill: listing submissions: %w", err)
	}
	seen := map[string]int{}
	for _, s := range got {
		seen[s.ID]++
	}
	for _, n := range seen {
		k.Duplicated += n - 1
	}
	for _, w := range want {
		if seen[w.ID] == 0 {
			k.Lost++
			continue
		}
		var sub central.SubmissionDetail
		path := "/admin/v1/devices/" + url.PathEscape(dev) + "/submissions/" + url.PathEscape(w.ID)
		if err := c.call(ctx, base, http.MethodGet, path, "Bearer "+c.Admin, nil, &sub, http.StatusOK); err != nil {
			return k, fmt.Errorf("drill: reading a submission: %w", err)
		}
		if sub.CompletedAt.IsZero() {
			k.Lost++
			continue
		}
		k.Stored++
		if len(sub.ImageData) == 0 {
			sub.ImageData = nil
		}
		if testsub.Hash(sub.ID, sub.Payload, sub.ImageData) != testsub.Hash(w.ID, w.Payload, w.Images) {
			k.Altered++
		}
	}
	return k, nil
}
