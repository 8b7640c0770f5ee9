package drill

import (
	"bytes"
	"context"
	"encoding/json"
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
	"syscall"
	"time"

	"github.com/openkyc/kyc/sync/central/webhook"
	"github.com/openkyc/kyc/sync/internal/pgtest"
)

// Row is one drill's outcome, a row of the drills' table.
type Row struct {
	Drill  string
	Passed bool
	Detail string
}

// Result is "pass" or "FAIL".
func (r Row) Result() string {
	if r.Passed {
		return "pass"
	}
	return "FAIL"
}

// Drills runs drills against one cluster and keeps what they share: the
// store read back through, the devices, every batch sent so far.
type Drills struct {
	C *Cluster
	// Devices upload in parallel in every upload drill (16 by default).
	Devices int
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)

	devs    []Device
	sent    Batch // every submission sent by every drill so far
	next    int   // the next submission number
	partner *partner
	// kioskDevice and kioskSession name a kiosk session of partner's
	// (Webhooks): the device and its submission's id.
	kioskDevice, kioskSession string
}

// NewDrills enrols the devices.
func NewDrills(ctx context.Context, c *Cluster, devices int) (*Drills, error) {
	d := &Drills{C: c, Devices: devices, sent: Batch{}, Log: func(string, ...any) {}}
	var err error
	if d.devs, err = c.Enrol(ctx, devices, ""); err != nil {
		return nil, err
	}
	return d, nil
}

// duringUploads uploads n new submissions and runs action once after the
// at-th completed upload, beside the rest of the load; it checks every
// submission at central afterwards. The row's detail starts with the
// action's own.
func (d *Drills) duringUploads(ctx context.Context, devs []Device, n, at int, action func(ctx context.Context) (string, error)) (UploadResult, Check, string, error) {
	b, err := NewBatch(devs, d.next, n, ImageSize)
	if err != nil {
		return UploadResult{}, Check{}, "", err
	}
	d.next += n
	var (
		once     sync.Once
		wg       sync.WaitGroup
		detail   string
		actErr   error
		progress = func(done int) {
			if done >= at {
				once.Do(func() {
					wg.Go(func() { detail, actErr = action(ctx) })
				})
			}
		}
	)
	failed, lb := d.C.FailedRequests(), d.lbErrors(ctx)
	res, upErr := Upload(ctx, devs, b, progress)
	wg.Wait()
	res.FailedRequests = d.C.FailedRequests() - failed
	detailLB := lbDetail(lb, d.lbErrors(ctx))
	for id, subs := range b {
		d.sent[id] = append(d.sent[id], subs...)
	}
	k, err := d.C.Verify(ctx, d.C.URL, b)
	return res, k, detail + detailLB, errors.Join(upErr, actErr, err)
}

// lbErrors sums HAProxy's error counters of every instance: answers it
// made 5xx, responses cut, and its retries and redispatches.
func (d *Drills) lbErrors(ctx context.Context) map[string]int {
	sum := map[string]int{}
	st, err := d.C.ServerStats(ctx)
	if err != nil {
		return sum
	}
	for _, row := range st {
		for _, k := range []string{"hrsp_5xx", "eresp", "wretr", "wredis"} {
			n, _ := strconv.Atoi(row[k])
			sum[k] += n
		}
	}
	return sum
}

// lbDetail says what HAProxy counted between two lbErrors.
func lbDetail(before, after map[string]int) string {
	return fmt.Sprintf("HAProxy: %d answers 5xx, %d responses cut, %d retries, %d redispatches; ", after["hrsp_5xx"]-before["hrsp_5xx"],
		after["eresp"]-before["eresp"], after["wretr"]-before["wretr"], after["wredis"]-before["wredis"])
}

func uploadDetail(res UploadResult, k Check) string {
	return fmt.Sprintf("%d uploads (%d requests failed and were sent again, %d uploads restarted), p50 %v p99 %v; central: %v",
		res.Submissions, res.FailedRequests, res.Retries,
		res.Percentile(50).Round(time.Millisecond), res.Percentile(99).Round(time.Millisecond), k)
}

// KillDuringUploads kills instance victim with SIGKILL after a third of n
// uploads, lets the load finish through the others, checks central holds
// each submission once and intact, and restarts the instance.
func (d *Drills) KillDuringUploads(ctx context.Context, n, victim int) Row {
	row := Row{Drill: fmt.Sprintf("kill -9 one of %d instances during %d device uploads", len(d.C.Instances()), n)}
	name := d.C.Instances()[victim].Name
	res, k, detail, err := d.duringUploads(ctx, d.devs, n, n/3, func(ctx context.Context) (string, error) {
		d.Log("kill -9 %s", name)
		d.C.Kill(victim)
		down, err := d.C.WaitServer(ctx, name, "DOWN", time.Minute)
		return fmt.Sprintf("%s killed after %d uploads, HAProxy marked it DOWN %v later; ", name, n/3, down.Round(10*time.Millisecond)), err
	})
	row.Detail = detail + uploadDetail(res, k)
	t0 := time.Now()
	rerr := d.C.Restart(ctx, victim)
	if rerr == nil {
		row.Detail += fmt.Sprintf("; restarted, back in rotation in %v", time.Since(t0).Round(10*time.Millisecond))
	}
	row.Passed = err == nil && rerr == nil && k.OK() && k.Sent == n
	if err = errors.Join(err, rerr); err != nil {
		row.Detail += "; error: " + err.Error()
	}
	return row
}

// FreezeTakenOut stops instance victim (SIGSTOP: a hung process that
// keeps its port) under load: HAProxy's health checks must take it out
// and, once it is resumed, bring it back, with no upload lost.
func (d *Drills) FreezeTakenOut(ctx context.Context, n, victim int) Row {
	row := Row{Drill: "a hung instance (SIGSTOP) taken out by the health checks, then back"}
	name := d.C.Instances()[victim].Name
	res, k, detail, err := d.duringUploads(ctx, d.devs, n, n/4, func(ctx context.Context) (string, error) {
		d.Log("SIGSTOP %s", name)
		if err := d.C.Freeze(victim); err != nil {
			return "", err
		}
		down, err := d.C.WaitServer(ctx, name, "DOWN", time.Minute)
		if err != nil {
			return "", errors.Join(err, d.C.Thaw(victim))
		}
		d.Log("SIGCONT %s", name)
		if err := d.C.Thaw(victim); err != nil {
			return "", err
		}
		up, err := d.C.WaitServer(ctx, name, "UP", time.Minute)
		return fmt.Sprintf("%s frozen: DOWN after %v; resumed: UP again after %v; ", name,
			down.Round(10*time.Millisecond), up.Round(10*time.Millisecond)), err
	})
	row.Detail = detail + uploadDetail(res, k)
	row.Passed = err == nil && k.OK() && k.Sent == n
	if err != nil {
		row.Detail += "; error: " + err.Error()
	}
	return row
}

// RestartPostgres restarts PostgreSQL (fast shutdown: every connection
// cut) a third into n uploads; the instances must carry on without being
// restarted themselves: same processes, each answering a request that
// reads the database, and no upload lost.
func (d *Drills) RestartPostgres(ctx context.Context, n int) Row {
	row := Row{Drill: fmt.Sprintf("PostgreSQL restarted during %d device uploads", n)}
	pids := map[string]int{}
	for _, in := range d.C.Instances() {
		pids[in.Name] = in.PID()
	}
	res, k, detail, err := d.duringUploads(ctx, d.devs, n, n/3, func(ctx context.Context) (string, error) {
		d.Log("restarting PostgreSQL")
		t0 := time.Now()
		if err := d.C.PG.Restart(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("PostgreSQL down and up again in %v; ", time.Since(t0).Round(10*time.Millisecond)), nil
	})
	row.Detail = detail + uploadDetail(res, k)
	same := true
	for _, in := range d.C.Instances() {
		if in.PID() != pids[in.Name] {
			same = false
			err = errors.Join(err, fmt.Errorf("%s was restarted (pid %d, was %d)", in.Name, in.PID(), pids[in.Name]))
		}
		// Straight to the instance, not through HAProxy: each must read
		// the database again on its own.
		var list []json.RawMessage
		if cerr := d.C.call(ctx, "https://"+in.Addr, http.MethodGet, "/admin/v1/devices", "Bearer "+d.C.Admin, nil, &list, http.StatusOK); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s after the restart: %w", in.Name, cerr))
		}
	}
	if same {
		row.Detail += "; every instance the same process, each reading the database directly afterwards"
	}
	row.Passed = err == nil && k.OK() && k.Sent == n
	if err != nil {
		row.Detail += "; error: " + err.Error()
	}
	return row
}

// rotation is `kyc-central keys rotate`'s answer.
type rotation struct {
	KeyID     string   `json:"key_id"`
	Rewrapped int      `json:"rewrapped"`
	Retired   []string `json:"retired"`
}

// RotateKeys runs `kyc-central keys rotate` against the running set a
// third into n uploads: every submission of every drill so far must read
// back intact under the new key, and the old key must be retired.
func (d *Drills) RotateKeys(ctx context.Context, n int) Row {
	row := Row{Drill: fmt.Sprintf("at-rest key-encryption key rotated during %d device uploads", n)}
	var rot rotation
	res, k, detail, err := d.duringUploads(ctx, d.devs, n, n/3, func(ctx context.Context) (string, error) {
		d.Log("kyc-central keys rotate")
		t0 := time.Now()
		out, err := d.C.Central(ctx, "keys", "rotate", "--store", "postgres", "--dsn", d.C.DSN, "--data", d.C.DataDir, "--grace", "2s")
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(out, &rot); err != nil {
			return "", fmt.Errorf("keys rotate printed %q: %w", out, err)
		}
		return fmt.Sprintf("keys rotate (grace 2 s) took %v: %d data keys rewrapped, retired %v; ", time.Since(t0).Round(10*time.Millisecond),
			rot.Rewrapped, rot.Retired), nil
	})
	row.Detail = detail + uploadDetail(res, k)
	var status struct {
		Current string         `json:"current"`
		KEKs    []string       `json:"keks"`
		Usage   map[string]int `json:"data_keys_by_kek"`
	}
	out, serr := d.C.Central(ctx, "keys", "status", "--store", "postgres", "--dsn", d.C.DSN, "--data", d.C.DataDir)
	if serr == nil {
		serr = json.Unmarshal(out, &status)
	}
	all, verr := d.C.Verify(ctx, d.C.URL, d.sent)
	row.Detail += fmt.Sprintf("; afterwards: keys %v, data keys by key %v; every drill's submissions read back: %v", status.KEKs, status.Usage, all)
	err = errors.Join(err, serr, verr)
	onlyNew := status.Current == rot.KeyID && len(status.KEKs) == 1 && len(status.Usage) == 1 && status.Usage[rot.KeyID] > 0
	row.Passed = err == nil && k.OK() && k.Sent == n && len(rot.Retired) > 0 && onlyNew && all.OK()
	if err != nil {
		row.Detail += "; error: " + err.Error()
	}
	return row
}

// Central runs the set's kyc-central binary with args and returns its
// standard output.
func (c *Cluster) Central(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.opts.CentralBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kyc-central %v: %w: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// partner is what the admin API answers to a partner's creation (the
// fields of partnerapi.Created the drills use).
type partner struct {
	ClientID      string `json:"client_id"`
	PassKey       string `json:"pass_key"`
	WebhookSecret string `json:"webhook_secret"`
}

// receiver is a partner's webhook endpoint that verifies each delivery's
// signature and dedupes on webhook-id, as the Standard Webhooks receiver
// of examples/partner does.
type receiver struct {
	secret string
	mu     sync.Mutex
	seen   map[string]int // deliveries by webhook-id
	bad    int            // deliveries whose signature failed
	more   chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify(r.secret, req.Header, body); err != nil {
		r.bad++
		http.Error(w, "signature", http.StatusUnauthorized)
		return
	}
	r.seen[req.Header.Get(webhook.HeaderID)]++
	select {
	case r.more <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// counts are distinct events and deliveries beyond the first of each.
func (r *receiver) counts() (distinct, repeated, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		repeated += n - 1
	}
	return len(r.seen), repeated, r.bad
}

// Webhooks has devices of a branch a partner owns upload n submissions
// (each a kiosk session completed: one submission.completed event each),
// kills instance victim with SIGKILL once a third of the events reached
// the partner's receiver (victim < 0: none), and waits up to wait for
// every event to arrive. An event whose delivery the killed instance held
// waits for the job queue to take it back from the dead instance.
func (d *Drills) Webhooks(ctx context.Context, n, victim int, wait time.Duration) Row {
	row := Row{Drill: fmt.Sprintf("kill -9 one of %d instances during %d webhook deliveries", len(d.C.Instances()), n)}
	if victim < 0 {
		row.Drill = fmt.Sprintf("%d webhook deliveries from %d instances", n, len(d.C.Instances()))
	}
	fail := func(err error) Row { row.Detail += "error: " + err.Error(); return row }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	rcv := &receiver{seen: map[string]int{}, more: make(chan struct{}, 1)}
	hs := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	const branch = "DRILL-WEBHOOKS"
	var created partner
	if err := d.C.AdminJSON(ctx, http.MethodPost, "/admin/v1/partners", map[string]any{"name": "drill partner",
		"branches": []string{branch}, "webhook_url": "http://" + ln.Addr().String() + "/webhooks"}, &created, http.StatusCreated); err != nil {
		return fail(err)
	}
	d.partner = &created
	rcv.secret = created.WebhookSecret
	devs, err := d.C.Enrol(ctx, d.Devices, branch)
	if err != nil {
		return fail(err)
	}
	b, err := NewBatch(devs, d.next, n, ImageSize)
	if err != nil {
		return fail(err)
	}
	d.next += n
	d.kioskDevice, d.kioskSession = devs[0].ID, b[devs[0].ID][0].ID
	name := ""
	if victim >= 0 {
		name = d.C.Instances()[victim].Name
	}
	upDone := make(chan error, 1)
	go func() {
		_, err := Upload(ctx, devs, b, nil)
		upDone <- err
	}()
	start := time.Now()
	killed, deadline := false, time.NewTimer(wait)
	defer deadline.Stop()
	var (
		upErr     error
		uploading = true
		most      time.Duration // until 99% of the events arrived
	)
	for {
		got, _, _ := rcv.counts()
		if most == 0 && got >= n*99/100 {
			most = time.Since(start)
		}
		if !killed && victim >= 0 && got >= n/3 {
			d.Log("kill -9 %s after %d webhook deliveries", name, got)
			d.C.Kill(victim)
			killed = true
			row.Detail += fmt.Sprintf("%s killed after %d of %d events arrived; ", name, got, n)
		}
		if got >= n && !uploading {
			break
		}
		select {
		case upErr = <-upDone:
			uploading = false
		case <-rcv.more:
		case <-deadline.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || time.Since(start) >= wait {
			break
		}
	}
	if uploading {
		upErr = errors.Join(upErr, <-upDone)
	}
	for id, subs := range b {
		d.sent[id] = append(d.sent[id], subs...)
	}
	got, repeated, bad := rcv.counts()
	k, verr := d.C.Verify(ctx, d.C.URL, b)
	var rerr error
	if killed {
		rerr = d.C.Restart(ctx, victim)
	}
	if !killed && victim >= 0 {
		row.Detail += fmt.Sprintf("never killed: only %d events arrived; ", got)
	}
	if most > 0 {
		row.Detail += fmt.Sprintf("99%% of the events delivered in %v; ", most.Round(time.Second))
	}
	row.Detail += fmt.Sprintf("%d of %d delivered in %v (%d delivered again, deduped by webhook-id; %d bad signatures); uploads: %v",
		got, n, time.Since(start).Round(time.Second), repeated, bad, k)
	err = errors.Join(upErr, verr, rerr)
	row.Passed = err == nil && killed == (victim >= 0) && got == n && bad == 0 && k.OK()
	if err != nil {
		row.Detail += "; error: " + err.Error()
	}
	return row
}

// BackupRestore dumps the set's database with pg_dump while it serves,
// restores it into a fresh PostgreSQL server and starts an instance of
// its own on it (the same key files, as a restored site has them): its
// admin API must list what the original held and the partner API must
// read a kiosk session's submission details (needs the partner of
// Webhooks), and an auditor must sign in to the review console and see the
// devices.
func (d *Drills) BackupRestore(ctx context.Context) Row {
	row := Row{Drill: "pg_dump backup restored into a fresh server, read by a new instance"}
	fail := func(err error) Row { row.Detail += "error: " + err.Error(); return row }
	size, err := d.C.DatabaseSize(ctx)
	if err != nil {
		return fail(err)
	}
	row.Detail += fmt.Sprintf("database %d MB for %d submissions (%d KB each); ", size>>20, d.sent.Total(), size/int64(max(d.sent.Total(), 1))>>10)
	dump := filepath.Join(d.C.opts.Dir, "backup.dump")
	t0 := time.Now()
	if err := d.C.PG.Dump(ctx, d.C.DB, dump); err != nil {
		return fail(err)
	}
	fi, err := os.Stat(dump)
	if err != nil {
		return fail(err)
	}
	row.Detail += fmt.Sprintf("pg_dump while serving: %d MB in %v; ", fi.Size()>>20, time.Since(t0).Round(100*time.Millisecond))
	t0 = time.Now()
	pg2, err := pgtest.Start(ctx)
	if err != nil {
		return fail(err)
	}
	defer pg2.Stop()
	dsn2, err := pg2.Restore(ctx, dump)
	if err != nil {
		return fail(err)
	}
	row.Detail += fmt.Sprintf("fresh server started and restored in %v; ", time.Since(t0).Round(100*time.Millisecond))
	addr, err := freeAddr()
	if err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(d.C.opts.Dir, "restored.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	cmd := exec.Command(d.C.opts.CentralBin, d.C.ServeArgs(addr, dsn2)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := start(cmd)
	if err != nil {
		return fail(err)
	}
	defer p.stop(syscall.SIGTERM)
	base := "https://" + addr
	if err := d.C.waitHealthy(ctx, base, p, time.Minute); err != nil {
		return fail(err)
	}
	// Every device's submissions, as the original holds them.
	k, err := d.C.Verify(ctx, base, d.sent)
	if err != nil {
		return fail(err)
	}
	row.Detail += fmt.Sprintf("restored instance holds every submission sent: %v; ", k)
	var devices []json.RawMessage
	if err := d.C.call(ctx, base, http.MethodGet, "/admin/v1/devices", "Bearer "+d.C.Admin, nil, &devices, http.StatusOK); err != nil {
		return fail(err)
	}
	row.Detail += fmt.Sprintf("admin API: %d devices; ", len(devices))
	okPartner := false
	if d.partner != nil && d.kioskSession != "" {
		if err := d.readDetails(ctx, base); err != nil {
			return fail(err)
		}
		okPartner = true
		row.Detail += "partner API: token and a kiosk session's submission details read; "
	}
	page, err := d.C.consolePage(ctx, base, dsn2, "/console/devices")
	if err != nil {
		return fail(err)
	}
	shown := 0
	for _, dev := range d.devs {
		if strings.Contains(page, dev.ID) {
			shown++
		}
	}
	row.Detail += fmt.Sprintf("console: an auditor added with kyc-central user add signed in (password, TOTP enrolment), the devices page lists %d of the %d upload devices", shown, len(d.devs))
	row.Passed = k.OK() && k.Sent > 0 && len(devices) > 0 && okPartner && shown == len(d.devs)
	return row
}

// readDetails reads, as the drill's partner, the submission details of
// one of its kiosk sessions from base.
func (d *Drills) readDetails(ctx context.Context, base string) error {
	var tok struct {
		Token string `json:"token"`
	}
	if err := d.C.call(ctx, base, http.MethodPost, "/api/v1/partner-token", "", map[string]string{"client_id": d.partner.ClientID,
		"pass_key": d.partner.PassKey}, &tok, http.StatusOK); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/submission-details", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("X-Partner-Session-Id", d.kioskSession)
	req.Header.Set("X-Partner-User-Id", d.kioskDevice)
	req.Header.Set("X-Partner-User-Id-Type", webhook.KioskUserIDType)
	resp, err := d.C.client.Do(req)
	if err != nil {
		return fmt.Errorf("submission details: %w", err)
	}
	defer resp.Body.Close()
	var det struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&det); err != nil || resp.StatusCode != http.StatusOK || len(det.Result) == 0 {
		return fmt.Errorf("submission details of session %s: %s, %v, result %q", d.kioskSession, resp.Status, err, det.Result)
	}
	return nil
}
