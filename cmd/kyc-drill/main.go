// Command kyc-drill runs central scaled out on this machine: several
// kyc-central instances on one PostgreSQL behind HAProxy terminating TLS
// (package sync/central/drill), for a demo, for the drills, or for the
// throughput measurements.
//
//	kyc-drill cluster [--instances 3] [--port 8443]      # start the set and keep it up until Ctrl-C
//	kyc-drill drills  [--instances 3] [--uploads 2000] [--webhooks 2000]   # the drills' table
//	kyc-drill measure [--agents 16,64] [--rounds 2]      # ingest and Face Match with 1, 2, 3 instances
//
// It runs bin/kyc-central (--central) and Debian's haproxy, and starts a
// private PostgreSQL server in a temporary folder (removed at the end
// unless --dir is given).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openkyc/kyc/sync/central/drill"
)

const usage = `usage:
  kyc-drill cluster [--instances 3] [--port 8443] [--central bin/kyc-central] [--models dir] [--dir dir]
  kyc-drill drills  [--instances 3] [--devices 16] [--uploads 2000] [--webhooks 2000] [--webhook-wait 5m] [--central ...] [--dir dir]
  kyc-drill measure [--instances 3] [--agents 16,64] [--rounds 2] [--uploads 800] [--matches 200]
                    [--selfie file --reference file] [--central ...] [--models dir] [--dir dir]`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "cluster":
		err = cluster(ctx, args[1:], stdout, stderr)
	case "drills":
		err = drills(ctx, args[1:], stdout, stderr)
	case "measure":
		err = measure(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kyc-drill:", err)
		return 1
	}
	return 0
}

// common are the flags every subcommand has.
type common struct {
	instances *int
	central   *string
	models    *string
	dir       *string
	serve     *string
}

func commonFlags(fs *flag.FlagSet, models string) common {
	return common{
		instances: fs.Int("instances", 3, "kyc-central instances behind HAProxy"),
		central:   fs.String("central", "bin/kyc-central", "the kyc-central binary"),
		models:    fs.String("models", models, `model folder of the Face Match API and the hosted flow ("" kyc-central's default; "none" starts without models)`),
		dir:       fs.String("dir", "", "folder for the set's files (certificates, keys, logs, haproxy.cfg); default a temporary one, removed at the end"),
		serve:     fs.String("serve-args", "", `more arguments of every instance's kyc-central serve, space-separated (e.g. "--webhook-timeout 2s")`),
	}
}

// start starts the set the flags describe; done stops it and removes a
// temporary folder.
func (c common) start(ctx context.Context, port int, stderr io.Writer) (cl *drill.Cluster, done func(), err error) {
	dir, temp := *c.dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kyc-drill-"); err != nil {
			return nil, nil, err
		}
		temp = true
	}
	bin, err := filepath.Abs(*c.central)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "starting PostgreSQL, %d kyc-central instances and HAProxy in %s\n", *c.instances, dir)
	t0 := time.Now()
	cl, err = drill.Start(ctx, drill.Options{Instances: *c.instances, CentralBin: bin, Dir: dir, Models: *c.models, Port: port,
		Serve: strings.Fields(*c.serve)})
	if err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "up in %v\n", time.Since(t0).Round(100*time.Millisecond))
	return cl, func() {
		if err := cl.Close(); err != nil {
			fmt.Fprintln(stderr, "kyc-drill:", err)
		}
		if temp {
			os.RemoveAll(dir)
		}
	}, nil
}

func cluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := commonFlags(fs, "")
	port := fs.Int("port", 8443, "HAProxy's port on 127.0.0.1 (0: a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl, done, err := c.start(ctx, *port, stderr)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(stdout, "central (HAProxy, TLS): %s\n", cl.URL)
	fmt.Fprintf(stdout, "  CA certificate:  %s\n  admin token:     %s\n  PostgreSQL:      %s\n  data and keys:   %s\n",
		cl.CAFile, cl.AdminFile, cl.DSN, cl.DataDir)
	for _, in := range cl.Instances() {
		fmt.Fprintf(stdout, "  instance %s:    https://%s (pid %d)\n", in.Name, in.Addr, in.PID())
	}
	fmt.Fprintf(stdout, `try:
  curl --cacert %[1]s %[2]s/healthz
  bin/kyc-central token create --central %[2]s --ca %[1]s --admin-token-file %[3]s
  bin/kyc enroll --central %[2]s --ca %[1]s --token-file TOKEN
  kill -9 %[4]d    # an instance dies: HAProxy takes it out within a second, the others carry on
Ctrl-C stops the set.
`, cl.CAFile, cl.URL, cl.AdminFile, cl.Instances()[0].PID())
	<-ctx.Done()
	return nil
}

func drills(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drills", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := commonFlags(fs, drill.NoModels)
	devices := fs.Int("devices", 16, "devices uploading in parallel")
	uploads := fs.Int("uploads", 2000, "device uploads of the kill -9 drill (the other upload drills send half)")
	webhooks := fs.Int("webhooks", 2000, "webhook deliveries of the kill -9 drill")
	wait := fs.Duration("webhook-wait", 5*time.Minute, "how long to wait for every webhook to arrive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *c.instances < 2 {
		return errors.New("the drills need at least 2 instances")
	}
	cl, done, err := c.start(ctx, 0, stderr)
	if err != nil {
		return err
	}
	defer done()
	d, err := drill.NewDrills(ctx, cl, *devices)
	if err != nil {
		return err
	}
	d.Log = func(f string, a ...any) { fmt.Fprintf(stderr, time.Now().Format("15:04:05 ")+f+"\n", a...) }
	last := len(cl.Instances()) - 1
	steps := []func() drill.Row{
		func() drill.Row { return d.FreezeTakenOut(ctx, *uploads/2, 0) },
		func() drill.Row { return d.KillDuringUploads(ctx, *uploads, last) },
		func() drill.Row { return d.RestartPostgres(ctx, *uploads/2) },
		func() drill.Row { return d.RotateKeys(ctx, *uploads/2) },
		func() drill.Row { return d.Webhooks(ctx, *webhooks, 0, *wait) },
		func() drill.Row { return d.BackupRestore(ctx) },
	}
	var rows []drill.Row
	failed := 0
	for _, step := range steps {
		if ctx.Err() != nil {
			break
		}
		r := step()
		fmt.Fprintf(stderr, "%s: %s\n", r.Result(), r.Drill)
		rows = append(rows, r)
		if !r.Passed {
			failed++
		}
	}
	fmt.Fprintf(stdout, "\n%d instances behind HAProxy (TLS), one PostgreSQL, %d devices, 300 KB images, sealed at rest; %s\n\n",
		len(cl.Instances()), *devices, loadAverage())
	fmt.Fprintln(stdout, "| drill | result | what happened |\n|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(stdout, "| %s | %s | %s |\n", r.Drill, r.Result(), strings.ReplaceAll(r.Detail, "|", "/"))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d drills failed", failed, len(rows))
	}
	return nil
}

func measure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := commonFlags(fs, "")
	agentsFlag := fs.String("agents", "16,64", "concurrent devices and Face Match callers, comma-separated")
	rounds := fs.Int("rounds", 2, "interleaved rounds (1, 2, 3 instances each round); the table shows every round")
	uploads := fs.Int("uploads", 800, "submissions per ingest run")
	imageKB := fs.String("image-kb", "300", "ingest image sizes in KB, comma-separated (one ingest run of each)")
	matches := fs.Int("matches", 200, "Face Match requests per run (0 skips Face Match)")
	shared := os.Getenv("KYC_SHARED_DIR")
	if shared == "" {
		shared = "../shared"
	}
	selfieFile := fs.String("selfie", filepath.Join(shared, "data/liveness/minivision_samples/image_T1.jpg"), "Face Match selfie")
	refFile := fs.String("reference", filepath.Join(shared, "data/faces/faceapi_bbt/sheldon/sheldon1.png"), "Face Match reference")
	if err := fs.Parse(args); err != nil {
		return err
	}
	agents, err := counts("--agents", *agentsFlag)
	if err != nil {
		return err
	}
	sizes, err := counts("--image-kb", *imageKB)
	if err != nil {
		return err
	}
	var selfie, ref []byte
	if *matches > 0 {
		if selfie, err = os.ReadFile(*selfieFile); err != nil {
			return err
		}
		if ref, err = os.ReadFile(*refFile); err != nil {
			return err
		}
	}
	cl, done, err := c.start(ctx, 0, stderr)
	if err != nil {
		return err
	}
	defer done()
	devs, err := cl.Enrol(ctx, slices.Max(agents), "")
	if err != nil {
		return err
	}
	var partners []drill.Partner
	if *matches > 0 {
		if partners, err = cl.Partners(ctx, 16); err != nil {
			return err
		}
	}
	var ms []drill.Measurement
	next := 0
	for round := 1; round <= *rounds; round++ {
		for _, a := range agents {
			for n := 1; n <= len(cl.Instances()); n++ {
				for _, kb := range sizes {
					m, err := cl.MeasureIngest(ctx, devs[:a], next, *uploads, kb<<10, n)
					next += *uploads
					if err != nil {
						return fmt.Errorf("ingest, %d instances, %d agents: %w", n, a, err)
					}
					m.Round = round
					fmt.Fprintf(stderr, "round %d %s %d instances %2d agents: %v\n", round, m.API, n, a, m.Result)
					ms = append(ms, m)
				}
				if *matches == 0 {
					continue
				}
				m, err := cl.MeasureFaceMatch(ctx, partners, a, *matches, n, selfie, ref)
				if err != nil {
					return fmt.Errorf("face match, %d instances, %d agents: %w", n, a, err)
				}
				m.Round = round
				fmt.Fprintf(stderr, "round %d face match %d instances %2d agents: %v (%d not 200)\n", round, n, a, m.Result, m.Failed)
				ms = append(ms, m)
			}
		}
	}
	fmt.Fprintf(stdout, "\n%d cores, %s; ingest: %d submissions a run, one image each, TLS at HAProxy and to each instance, sealed at rest; face match: %d requests a run (%s vs %s, liveness included)\n\n",
		runtime.NumCPU(), loadAverage(), *uploads, *matches, filepath.Base(*selfieFile), filepath.Base(*refFile))
	fmt.Fprint(stdout, "| API | instances | agents | round | per second | x 1 instance | p50 ms | p99 ms | retried / not 200 | CPU busy | CPU ms per op: central | postgres | haproxy | driver |\n")
	fmt.Fprint(stdout, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	base := map[string]float64{}
	for _, m := range ms {
		k := fmt.Sprintf("%s/%d/%d", m.API, m.Agents, m.Round)
		if m.Instances == 1 {
			base[k] = m.Rate()
		}
		ratio := 0.0
		if base[k] > 0 {
			ratio = m.Rate() / base[k]
		}
		ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
		fmt.Fprintf(stdout, "| %s | %d | %d | %d | %.1f | %.2f | %s | %s | %d | %.0f%% | %s | %s | %s | %s |\n",
			m.API, m.Instances, m.Agents, m.Round, m.Rate(), ratio, ms(m.Result.Percentile(50)), ms(m.Result.Percentile(99)), m.Failed,
			100*m.Busy(runtime.NumCPU()), ms(m.CPUPerOp("central")), ms(m.CPUPerOp("postgres")), ms(m.CPUPerOp("haproxy")), ms(m.CPUPerOp("driver")))
	}
	return nil
}

// counts parses a comma-separated list of positive numbers.
func counts(flagName, v string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: a comma-separated list of positive numbers", flagName, v)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// loadAverage is the machine's 1-minute load average, for the record.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	return "load average " + strings.Fields(string(b))[0]
}
