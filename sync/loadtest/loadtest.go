// Package loadtest drives simulated devices against a central over real
// HTTP or HTTPS and measures ingest throughput and latency. Its benchmarks
// compare the bbolt and PostgreSQL stores, each plain, over TLS, and over
// TLS with encryption at rest; Run is the reusable driver, StartCentral
// serves a central through the production Serve path.
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/central/seal"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// Result is the outcome of a load run.
type Result struct {
	Submissions int
	Elapsed     time.Duration
	// Latencies of each submission's upload (manifest and image chunks,
	// until central reports it complete), sorted.
	Latencies []time.Duration
}

// Rate is submissions ingested per second (0 for an empty result).
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Submissions) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile latency (0 < p <= 100), nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

func (r Result) String() string {
	return fmt.Sprintf("%d submissions in %v: %.1f/s, p50 %v, p99 %v", r.Submissions, r.Elapsed.Round(time.Millisecond), r.Rate(),
		r.Percentile(50).Round(10*time.Microsecond), r.Percentile(99).Round(10*time.Microsecond))
}

// Device is one simulated device: an uploader and the submissions it sends.
type Device struct {
	ID          string
	Uploader    *agent.Uploader
	Submissions []vault.Submission
}

// Run has every device upload its submissions concurrently, each device
// one submission at a time as the agent does, and times each upload.
func Run(ctx context.Context, devices []Device) (Result, error) {
	var (
		mu   sync.Mutex
		res  Result
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for _, d := range devices {
		wg.Go(func() {
			lat := make([]time.Duration, 0, len(d.Submissions))
			for _, s := range d.Submissions {
				t0 := time.Now()
				if err := d.Uploader.Upload(ctx, s); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("submission %s: %w", s.ID, err))
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Submissions = len(res.Latencies)
	slices.Sort(res.Latencies)
	return res, errors.Join(errs...)
}

// Variant is how central runs under load.
type Variant struct {
	Name string
	// TLS serves HTTPS with a private CA's certificate (pki), as
	// production does; otherwise plain HTTP on loopback.
	TLS bool
	// Sealed keeps submissions encrypted at rest (seal.Store).
	Sealed bool
}

// SealStore wraps store in seal.Store with a new keyring in dir.
func SealStore(store central.Store, dir string) (central.Store, error) {
	kr, err := seal.LoadOrCreateKeyring(filepath.Join(dir, "central.keys"))
	if err != nil {
		return nil, err
	}
	return seal.New(store, kr, kr), nil
}

// Central is a central serving on loopback through the production
// Serve path (its timeouts, limits and TLS floor).
type Central struct {
	URL    string
	Server *central.Server
	// CA is the PEM devices trust (nil over plain HTTP).
	CA    []byte
	admin *http.Client
	stop  func()
}

// adminToken is the load centrals' admin bearer token (32 random bytes,
// base64url, as central demands).
const adminToken = "Lq4vB8nY2xT6wK0cJ5rF9sD3hG7mP1aZ4uE8iO2tQ6w"

// StartCentral serves store on a free loopback port as v says; dir holds
// its TLS files. Stop ends it.
func StartCentral(ctx context.Context, store central.Store, v Variant, dir string) (*Central, error) {
	box, err := central.GenerateBoxKey()
	if err != nil {
		return nil, err
	}
	sign, err := central.GenerateSignKey()
	if err != nil {
		return nil, err
	}
	// Simulated devices send far faster than a real one may (the
	// benchmark's -benchtime decides how many each sends): the per-device
	// budget of new submissions is not what this measures.
	cfg := central.Config{Store: store, BoxKey: box, SignKey: sign, AdminToken: adminToken, MaxInFlight: 256, InsecureHTTP: !v.TLS,
		SubmissionBurst: math.MaxInt32}
	c := &Central{}
	scheme := "http"
	if v.TLS {
		files, err := pki.Init(dir, []string{"127.0.0.1"})
		if err != nil {
			return nil, err
		}
		if cfg.TLS, err = pki.ServerConfig(files.ServerCert, files.ServerKey); err != nil {
			return nil, err
		}
		if c.CA, err = os.ReadFile(files.CACert); err != nil {
			return nil, err
		}
		scheme = "https"
	}
	if c.Server, err = central.New(cfg); err != nil {
		return nil, err
	}
	tr, err := identity.NewTransport(c.CA)
	if err != nil {
		return nil, err
	}
	c.admin = &http.Client{Transport: tr, Timeout: time.Minute}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.URL = scheme + "://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Server.ServeListener(ctx, ln, nil) }()
	c.stop = sync.OnceFunc(func() {
		cancel()
		<-done
		tr.CloseIdleConnections()
	})
	return c, nil
}

// Stop stops serving and waits for the server to end.
func (c *Central) Stop() { c.stop() }

// Enroll enrols id with a fresh token.
func (c *Central) Enroll(ctx context.Context, id *identity.Identity) (identity.Enrollment, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"/admin/v1/enroll-tokens", nil)
	if err != nil {
		return identity.Enrollment{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := c.admin.Do(req)
	if err != nil {
		return identity.Enrollment{}, fmt.Errorf("creating an enrolment token: %w", err)
	}
	defer resp.Body.Close()
	var tr central.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusCreated {
		return identity.Enrollment{}, fmt.Errorf("creating an enrolment token: status %d (%v)", resp.StatusCode, err)
	}
	return identity.EnrollWithCA(ctx, c.CA, c.URL, tr.Token, id, "loadtest")
}
