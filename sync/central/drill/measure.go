package drill

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openkyc/kyc/sync/loadtest"
)

// Components are the parts of the set whose CPU time a measurement
// reports, in table order.
var Components = []string{"central", "postgres", "haproxy", "driver"}

// Usage is CPU time by component (the instances summed as "central"; the
// driver is this process: devices or partners and their TLS).
type Usage map[string]time.Duration

// Sub is u - v per component.
func (u Usage) Sub(v Usage) Usage {
	d := Usage{}
	for k, x := range u {
		d[k] = x - v[k]
	}
	return d
}

// Total is the CPU time of every component.
func (u Usage) Total() time.Duration {
	var t time.Duration
	for _, x := range u {
		t += x
	}
	return t
}

// clockTick is the kernel's USER_HZ, the unit of /proc's CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 100

// procCPU is a process's CPU time, its own and that of its children it
// has waited for, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces; the fields follow its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("drill: /proc/%d/stat too short", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, ppid, nil
}

// CPU reads the CPU time each component used so far.
func (c *Cluster) CPU() (Usage, error) {
	u := Usage{}
	for _, in := range c.instances {
		if pid := in.PID(); pid > 0 {
			t, _, err := procCPU(pid)
			if err != nil {
				return nil, err
			}
			u["central"] += t
		}
	}
	if c.lb != nil {
		t, _, err := procCPU(c.lb.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		u["haproxy"] = t
	}
	pm, err := c.PG.PID()
	if err != nil {
		return nil, err
	}
	// The postmaster (with the backends it has reaped) and its live
	// children.
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		t, ppid, err := procCPU(pid)
		if err == nil && (pid == pm || ppid == pm) {
			u["postgres"] += t
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return nil, err
	}
	u["driver"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return u, nil
}

// Measurement is one timed run.
type Measurement struct {
	API       string // "ingest" or "face match"
	Instances int
	Agents    int
	Round     int
	Result    loadtest.Result
	CPU       Usage
	// Failed counts uploads the device had to send again (ingest), or
	// answers other than 200 (face match).
	Failed int
}

// Rate is the run's throughput per second.
func (m Measurement) Rate() float64 { return m.Result.Rate() }

// CPUPerOp is a component's CPU time per operation.
func (m Measurement) CPUPerOp(comp string) time.Duration {
	if m.Result.Submissions == 0 {
		return 0
	}
	return m.CPU[comp] / time.Duration(m.Result.Submissions)
}

// Busy is the share of the machine's cores the set and the driver used
// during the run.
func (m Measurement) Busy(cores int) float64 {
	if m.Result.Elapsed <= 0 {
		return 0
	}
	return m.CPU.Total().Seconds() / m.Result.Elapsed.Seconds() / float64(cores)
}

// Settle checkpoints PostgreSQL so that one run's WAL is not written out
// during the next.
func (c *Cluster) Settle(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.PG.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("drill: settling PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("drill: settling PostgreSQL: %w", err)
	}
	return nil
}

// DatabaseSize is the size of the set's database on disk, in bytes.
func (c *Cluster) DatabaseSize(ctx context.Context) (int64, error) {
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		return 0, fmt.Errorf("drill: database size: %w", err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		return 0, fmt.Errorf("drill: database size: %w", err)
	}
	return n, nil
}

// timed runs fn with the first n instances in rotation and measures the
// CPU each component used.
func (c *Cluster) timed(ctx context.Context, n int, fn func() (loadtest.Result, int, error)) (Measurement, error) {
	if err := c.Enable(ctx, n); err != nil {
		return Measurement{}, err
	}
	if err := c.Settle(ctx); err != nil {
		return Measurement{}, err
	}
	before, err := c.CPU()
	if err != nil {
		return Measurement{}, err
	}
	res, failed, err := fn()
	after, cerr := c.CPU()
	if err = errors.Join(err, cerr); err != nil {
		return Measurement{}, err
	}
	return Measurement{Instances: n, Result: res, CPU: after.Sub(before), Failed: failed}, nil
}

// MeasureIngest has devs upload total submissions (one image of
// imageSize bytes each, sealed at rest, over TLS through HAProxy) with the
// first n instances in rotation.
func (c *Cluster) MeasureIngest(ctx context.Context, devs []Device, first, total, imageSize, n int) (Measurement, error) {
	b, err := NewBatch(devs, first, total, imageSize)
	if err != nil {
		return Measurement{}, err
	}
	m, err := c.timed(ctx, n, func() (loadtest.Result, int, error) {
		res, err := Upload(ctx, devs, b, nil)
		return res.Result, res.Retries, err
	})
	m.API, m.Agents = fmt.Sprintf("ingest %d KB", imageSize>>10), len(devs)
	return m, err
}

// Partner is a partner of the Face Match measurement with its token.
type Partner struct {
	Token string
}

// Partners creates n partners through the admin API and gets each a
// partner token. Each partner has its own Face Match rate limit (20 a
// second by default), so spreading the agents over enough of them keeps
// the limit from capping what is measured.
func (c *Cluster) Partners(ctx context.Context, n int) ([]Partner, error) {
	ps := make([]Partner, n)
	for i := range ps {
		var created partner
		if err := c.AdminJSON(ctx, http.MethodPost, "/admin/v1/partners", map[string]any{"name": fmt.Sprintf("measure %d", i)},
			&created, http.StatusCreated); err != nil {
			return nil, err
		}
		var tok struct {
			Token string `json:"token"`
		}
		if err := c.call(ctx, c.URL, http.MethodPost, "/api/v1/partner-token", "", map[string]string{"client_id": created.ClientID,
			"pass_key": created.PassKey}, &tok, http.StatusOK); err != nil {
			return nil, err
		}
		ps[i].Token = tok.Token
	}
	return ps, nil
}

// MeasureFaceMatch has agents concurrent callers, agent i as partner
// i mod len(ps), send total Face Match requests (selfie and reference as
// JSON base64, liveness included) with the first n instances in rotation.
func (c *Cluster) MeasureFaceMatch(ctx context.Context, ps []Partner, agents, total, n int, selfie, reference []byte) (Measurement, error) {
	body := fmt.Appendf(nil, `{"selfie_base64":%q,"reference_base64":%q}`,
		base64.StdEncoding.EncodeToString(selfie), base64.StdEncoding.EncodeToString(reference))
	m, err := c.timed(ctx, n, func() (loadtest.Result, int, error) {
		var (
			mu     sync.Mutex
			res    loadtest.Result
			failed int
			errs   []error
			wg     sync.WaitGroup
			next   = make(chan struct{}, total)
		)
		for range total {
			next <- struct{}{}
		}
		close(next)
		start := time.Now()
		for a := range agents {
			wg.Go(func() {
				for range next {
					t0 := time.Now()
					status, err := c.post(ctx, "/api/v1/face-match", ps[a%len(ps)].Token, body)
					d := time.Since(t0)
					mu.Lock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case status != http.StatusOK:
						failed++
					default:
						res.Latencies = append(res.Latencies, d)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		res.Elapsed = time.Since(start)
		res.Submissions = len(res.Latencies)
		slices.Sort(res.Latencies)
		return res, failed, errors.Join(errs...)
	})
	m.API, m.Agents = "face match", agents
	return m, err
}

// post sends a JSON body with a bearer token through the load balancer
// and returns the status.
func (c *Cluster) post(ctx context.Context, path, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
