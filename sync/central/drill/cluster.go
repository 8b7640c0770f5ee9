// Package drill runs central the way it scales out, several kyc-central
// processes on one PostgreSQL behind HAProxy terminating TLS on loopback,
// and runs the drills and measurements of issue 22 against that set:
// kill -9 of an instance during device uploads and webhook deliveries, a
// frozen instance taken out by the health checks, PostgreSQL restarted
// under load, a pg_dump backup restored into a fresh server and read by a
// new instance, the at-rest key-encryption key rotated while serving, and
// ingest and Face Match throughput with 1, 2 and 3 instances.
//
// Everything is real: the kyc-central binary (a checkout's build), Debian's
// haproxy, a private PostgreSQL (sync/internal/pgtest), TLS with a private
// CA (pki), devices uploading through the production agent.Uploader. The
// command cmd/kyc-drill prints the drills' and measurements' tables; the
// package's test runs a short version of the drills.
package drill

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// Options describe a cluster.
type Options struct {
	// Instances is how many kyc-central processes serve (1 to 3 here; any
	// number works).
	Instances int
	// CentralBin is the kyc-central binary; required.
	CentralBin string
	// HAProxyBin is the haproxy binary; "" means haproxy on PATH.
	HAProxyBin string
	// Dir holds everything the set writes (certificates, keys, logs, the
	// HAProxy configuration); required.
	Dir string
	// Models is the model folder of the Face Match API and the hosted
	// flow; "" is kyc-central's default, NoModels an empty folder (those
	// APIs answer 503, and an instance starts in a second instead of
	// loading the models).
	Models string
	// Port is HAProxy's port on 127.0.0.1; 0 picks a free one.
	Port int
	// PG is the PostgreSQL server; nil starts a private one that Close
	// stops.
	PG *pgtest.Server
	// Serve are more arguments of every instance's `kyc-central serve`
	// (e.g. --webhook-timeout 2s).
	Serve []string
}

// ProxySource is the loopback address HAProxy connects to the instances
// from, the only one they trust to say whom a request is for.
const ProxySource = "127.0.0.2"

// NoModels as Options.Models starts the instances without models.
const NoModels = "none"

// Cluster is a running set: PostgreSQL, the instances and HAProxy.
type Cluster struct {
	// URL is HAProxy's: https://127.0.0.1:port.
	URL string
	// CA is the PEM devices and clients trust; CAFile holds it.
	CA     []byte
	CAFile string
	// Admin is the admin API's bearer token; AdminFile holds it.
	Admin     string
	AdminFile string
	// DataDir is the instances' shared data folder (box, sign, partner and
	// console keys, the at-rest keyring central.keys).
	DataDir string
	PG      *pgtest.Server
	// DSN is the store's database.
	DSN string
	// DB is the database's name on PG.
	DB string

	opts      Options
	tlsCert   string
	tlsKey    string
	models    string
	ownPG     bool
	instances []*Instance
	lb        *proc
	sock      string // HAProxy's admin socket
	client    *http.Client
	// failedRequests counts the devices' failed requests (Enrol).
	failedRequests atomic.Int64
}

// Instance is one kyc-central process of the set.
type Instance struct {
	// Name is the instance's server name in HAProxy (c1, c2, ...).
	Name string
	// Addr is where it listens itself (HTTPS, 127.0.0.1).
	Addr string
	mu   sync.Mutex
	p    *proc
}

// proc is a child process whose end is awaited once.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func start(cmd *exec.Cmd) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends sig and waits for the end, killing after a minute.
func (p *proc) stop(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts a set as o says and returns once HAProxy sees every
// instance up.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.CentralBin == "" || o.Dir == "" || o.Instances < 1 {
		return nil, errors.New("drill: Options need CentralBin, Dir and at least one instance")
	}
	if o.HAProxyBin == "" {
		if o.HAProxyBin, err = exec.LookPath("haproxy"); err != nil {
			return nil, fmt.Errorf("drill: haproxy not found (apt-get install haproxy; make setup installs it): %w", err)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("drill: creating %s: %w", o.Dir, err)
	}
	c = &Cluster{opts: o, DataDir: filepath.Join(o.Dir, "data"), PG: o.PG, models: o.Models}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	if err := c.prepare(ctx); err != nil {
		return nil, err
	}
	for i := range o.Instances {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		c.instances = append(c.instances, &Instance{Name: fmt.Sprintf("c%d", i+1), Addr: addr})
	}
	// The first instance creates the shared keys; the others read them.
	if err := c.startInstance(ctx, c.instances[0]); err != nil {
		return nil, err
	}
	for _, in := range c.instances[1:] {
		if err := c.startInstance(ctx, in); err != nil {
			return nil, err
		}
	}
	if err := c.startHAProxy(); err != nil {
		return nil, err
	}
	for _, in := range c.instances {
		if _, err := c.WaitServer(ctx, in.Name, "UP", time.Minute); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// prepare makes the certificates, the admin token and the database.
func (c *Cluster) prepare(ctx context.Context) error {
	files, err := pki.Init(filepath.Join(c.opts.Dir, "tls"), []string{"127.0.0.1", "localhost"})
	if err != nil {
		return fmt.Errorf("drill: making certificates: %w", err)
	}
	c.tlsCert, c.tlsKey, c.CAFile = files.ServerCert, files.ServerKey, files.CACert
	if c.CA, err = os.ReadFile(files.CACert); err != nil {
		return fmt.Errorf("drill: reading the CA: %w", err)
	}
	tr, err := identity.NewTransport(c.CA)
	if err != nil {
		return err
	}
	// Enough idle connections for the measurements' 64 callers: a new TLS
	// handshake per request would measure handshakes.
	tr.MaxIdleConnsPerHost = 256
	c.client = &http.Client{Transport: tr, Timeout: time.Minute}
	tok := make([]byte, 32)
	rand.Read(tok)
	c.Admin = base64.RawURLEncoding.EncodeToString(tok)
	c.AdminFile = filepath.Join(c.opts.Dir, "admin.token")
	if err := os.WriteFile(c.AdminFile, []byte(c.Admin+"\n"), 0o600); err != nil {
		return fmt.Errorf("drill: writing the admin token: %w", err)
	}
	if c.models == NoModels {
		c.models = filepath.Join(c.opts.Dir, "no-models")
		if err := os.MkdirAll(c.models, 0o700); err != nil {
			return fmt.Errorf("drill: %w", err)
		}
	}
	if c.PG == nil {
		if c.PG, err = pgtest.Start(ctx); err != nil {
			return err
		}
		c.ownPG = true
	}
	if c.DSN, err = c.PG.NewDatabase(ctx); err != nil {
		return err
	}
	c.DB = c.DSN[strings.LastIndex(c.DSN, "/")+1 : strings.Index(c.DSN, "?")]
	port := c.opts.Port
	if port == 0 {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		_, p, _ := net.SplitHostPort(addr)
		if port, err = strconv.Atoi(p); err != nil {
			return fmt.Errorf("drill: free port %q: %w", addr, err)
		}
	}
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	return nil
}

// Instances are the set's instances, in HAProxy's order.
func (c *Cluster) Instances() []*Instance { return c.instances }

// startInstance starts in's process and waits until its /healthz answers.
func (c *Cluster) startInstance(ctx context.Context, in *Instance) error {
	logf, err := os.OpenFile(filepath.Join(c.opts.Dir, in.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(c.opts.CentralBin, c.ServeArgs(in.Addr, c.DSN)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := start(cmd)
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.p = p
	in.mu.Unlock()
	return c.waitHealthy(ctx, "https://"+in.Addr, p, time.Minute)
}

// ServeArgs are the arguments of `kyc-central serve` for an instance of
// the set listening on addr over the database dsn.
func (c *Cluster) ServeArgs(addr, dsn string) []string {
	args := []string{"serve", "--addr", addr, "--data", c.DataDir, "--store", "postgres", "--dsn", dsn,
		"--tls-cert", c.tlsCert, "--tls-key", c.tlsKey, "--admin-token-file", c.AdminFile, "--public-url", c.URL,
		// HAProxy connects from an address of its own (source in
		// haproxyConfig) and says whom for: failure budgets count each
		// device and browser, not the balancer. Not 127.0.0.1, where the
		// clients are: a trusted hop is walked past, so a client there
		// could name any address.
		"--trusted-proxies", ProxySource}
	if c.models != "" {
		args = append(args, "--models", c.models)
	}
	return append(args, c.opts.Serve...)
}

// waitHealthy polls base's /healthz until it answers 200, p ends or d
// passes.
func (c *Cluster) waitHealthy(ctx context.Context, base string, p *proc, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("drill: kyc-central at %s exited: %v (log in %s)", base, p.err, c.opts.Dir)
		}
		if c.healthy(ctx, base) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drill: %s/healthz never answered 200: %w", base, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Cluster) healthy(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// haproxyConfig is the load balancer: TLS terminated with the site's
// certificate, re-encrypted to each instance (central speaks plain HTTP on
// loopback only, and a real deployment's instances are other machines);
// /healthz checked every 500 ms, two failures take an instance out, two
// successes bring it back (requests in flight to an instance marked down
// are cut: the device retries them elsewhere); a connection an instance refused is retried on
// another. Nothing an instance may have seen is retried by HAProxy: the
// device signs each request with a nonce, so the device's agent retries
// with a new one. option forwardfor appends each client to
// X-Forwarded-For, which the instances, started with --trusted-proxies
// naming HAProxy's address (ProxySource), count failure budgets by; a real
// site names its balancers' addresses instead and drops the source line.
const haproxyConfig = `global
    maxconn 4096
    stats socket {{SOCK}} mode 600 level admin
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode http
    log stdout format raw local0 err
    option httplog
    option forwardfor
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout http-request 30s
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend central
    bind 127.0.0.1:{{PORT}} ssl crt {{PEM}} alpn h2,http/1.1
    default_backend centrals

backend centrals
    balance leastconn
    source {{SOURCE}}
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions ssl verify required ca-file {{CA}} alpn http/1.1
{{SERVERS}}`

// startHAProxy writes the configuration and starts haproxy in the
// foreground.
func (c *Cluster) startHAProxy() error {
	cert, err := os.ReadFile(c.tlsCert)
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	key, err := os.ReadFile(c.tlsKey)
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	pem := filepath.Join(c.opts.Dir, "tls", "haproxy.pem")
	if err := os.WriteFile(pem, append(cert, key...), 0o600); err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	var servers strings.Builder
	for _, in := range c.instances {
		fmt.Fprintf(&servers, "    server %s %s\n", in.Name, in.Addr)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.URL, "https://"))
	c.sock = filepath.Join(c.opts.Dir, "haproxy.sock")
	cfg := strings.NewReplacer("{{SOCK}}", c.sock, "{{PORT}}", port, "{{PEM}}", pem, "{{CA}}", c.CAFile, "{{SOURCE}}", ProxySource,
		"{{SERVERS}}", servers.String()).Replace(haproxyConfig)
	cfgFile := filepath.Join(c.opts.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(c.opts.Dir, "haproxy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(c.opts.HAProxyBin, "-db", "-f", cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if c.lb, err = start(cmd); err != nil {
		return err
	}
	return nil
}

// ServerStates are HAProxy's view of each instance ("UP", "DOWN",
// "MAINT", "UP 1/2", ...) by name, from its admin socket's `show stat`.
func (c *Cluster) ServerStates(ctx context.Context) (map[string]string, error) {
	st, err := c.ServerStats(ctx)
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for name, row := range st {
		states[name] = row["status"]
	}
	return states, nil
}

// ServerStats are HAProxy's counters of each instance by name (the columns
// of `show stat`: "status", "hrsp_5xx", "eresp", "wretr", "wredis", ...).
func (c *Cluster) ServerStats(ctx context.Context) (map[string]map[string]string, error) {
	out, err := c.haproxyCommand(ctx, "show stat")
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# "))).ReadAll()
	if err != nil || len(rows) < 1 {
		return nil, fmt.Errorf("drill: reading HAProxy's stats: %v", err)
	}
	stats := map[string]map[string]string{}
	for _, r := range rows[1:] {
		row := map[string]string{}
		for i, h := range rows[0] {
			if i < len(r) {
				row[h] = r[i]
			}
		}
		if row["pxname"] == "centrals" && row["svname"] != "BACKEND" {
			stats[row["svname"]] = row
		}
	}
	return stats, nil
}

// haproxyCommand sends one command to HAProxy's admin socket and returns
// the answer.
func (c *Cluster) haproxyCommand(ctx context.Context, cmd string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.sock)
	if err != nil {
		return "", fmt.Errorf("drill: HAProxy's admin socket: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("drill: HAProxy %q: %w", cmd, err)
	}
	b, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		return "", fmt.Errorf("drill: HAProxy %q: %w", cmd, err)
	}
	return string(b), nil
}

// WaitServer waits until HAProxy reports instance name in state (a prefix
// of the status: "UP", "DOWN", "MAINT") and returns how long it took.
func (c *Cluster) WaitServer(ctx context.Context, name, state string, d time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		if c.lb != nil && c.lb.exited() {
			return 0, fmt.Errorf("drill: haproxy exited: %v (log in %s)", c.lb.err, c.opts.Dir)
		}
		st, err := c.ServerStates(ctx)
		if err == nil {
			last = st[name]
			if strings.HasPrefix(last, state) && !strings.Contains(last, "/") {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("drill: HAProxy never showed %s %s (last %q, %v)", name, state, last, err)
		case <-t.C:
		}
	}
}

// Enable puts the first n instances in rotation and the others in
// maintenance (HAProxy sends them nothing), for measuring n instances on
// one running set.
func (c *Cluster) Enable(ctx context.Context, n int) error {
	for i, in := range c.instances {
		verb, want := "enable", "UP"
		if i >= n {
			verb, want = "disable", "MAINT"
		}
		if _, err := c.haproxyCommand(ctx, verb+" server centrals/"+in.Name); err != nil {
			return err
		}
		if _, err := c.WaitServer(ctx, in.Name, want, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// Kill ends instance i with SIGKILL, as a crash would, and waits for it.
func (c *Cluster) Kill(i int) { c.instances[i].signal(syscall.SIGKILL) }

// Freeze stops instance i (SIGSTOP): it keeps its connections and answers
// nothing, as a hung process; Thaw resumes it.
func (c *Cluster) Freeze(i int) error { return c.instances[i].send(syscall.SIGSTOP) }

// Thaw resumes an instance Freeze stopped.
func (c *Cluster) Thaw(i int) error { return c.instances[i].send(syscall.SIGCONT) }

// Restart starts instance i again (after Kill) and waits until it is
// healthy and HAProxy has it up.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	in := c.instances[i]
	in.signal(syscall.SIGTERM)
	if err := c.startInstance(ctx, in); err != nil {
		return err
	}
	_, err := c.WaitServer(ctx, in.Name, "UP", time.Minute)
	return err
}

func (in *Instance) send(sig syscall.Signal) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.p == nil || in.p.exited() {
		return fmt.Errorf("drill: %s is not running", in.Name)
	}
	return in.p.cmd.Process.Signal(sig)
}

func (in *Instance) signal(sig syscall.Signal) {
	in.mu.Lock()
	p := in.p
	in.mu.Unlock()
	if p != nil && !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a frozen process ends only once resumed
		p.stop(sig)
	}
}

// PID is the instance's process id (0 when it is not running).
func (in *Instance) PID() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.p == nil || in.p.exited() {
		return 0
	}
	return in.p.cmd.Process.Pid
}

// Client is an HTTP client trusting the set's CA.
func (c *Cluster) Client() *http.Client { return c.client }

// Close stops HAProxy and the instances (SIGTERM: they drain) and the
// PostgreSQL server the set started.
func (c *Cluster) Close() error {
	if c.lb != nil {
		c.lb.stop(syscall.SIGTERM)
	}
	var wg sync.WaitGroup
	for _, in := range c.instances {
		wg.Go(func() { in.signal(syscall.SIGTERM) })
	}
	wg.Wait()
	if c.ownPG && c.PG != nil {
		return c.PG.Stop()
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("drill: finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
