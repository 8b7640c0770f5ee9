// Package device checks the device and its environment before any capture
// (step 2 of the eKYC flow): virtual machines and emulators, virtual cameras
// and synthetic frames, debuggers and injected libraries, a tampered binary,
// root privileges, clock tampering, remote-desktop or screen-recording
// software, and camera capability.
//
// Run executes every check concurrently and a Policy for the deployment
// profile (unattended kiosk or field laptop) turns the results into a
// verdict: ok, warn or block. An Attestation signs the report with the
// device's Ed25519 key so central can verify it.
//
// Every file read, including the process's own /proc/self entries, goes
// through Options.Root, so the same checks inspect the live system or a fake
// sysfs/procfs tree.
package device

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/openkyc/kyc/attest"
)

// The report vocabulary lives in package attest, which central imports
// without the engine; these aliases keep this package's names.
type (
	// Status is the outcome of one check.
	Status = attest.Status
	// Severity ranks how much a finding matters for fraud risk.
	Severity = attest.Severity
	// Result is the outcome of one check with the evidence behind it.
	Result = attest.Result
	// Report is the outcome of Run.
	Report = attest.Report
)

// Check outcomes, from harmless to alarming.
const (
	StatusPass = attest.StatusPass
	StatusWarn = attest.StatusWarn
	StatusFail = attest.StatusFail
)

// Severities, from least to most serious.
const (
	SeverityLow      = attest.SeverityLow
	SeverityMedium   = attest.SeverityMedium
	SeverityHigh     = attest.SeverityHigh
	SeverityCritical = attest.SeverityCritical
)

// Names of the checks, as they appear in results and policy rules.
const (
	CheckVirtualMachine   = "virtual_machine"
	CheckVirtualCamera    = "virtual_camera"
	CheckFrameStatistics  = "frame_statistics"
	CheckDebugger         = "debugger"
	CheckHooking          = "hooking"
	CheckBinaryIntegrity  = "binary_integrity"
	CheckRootUser         = "root_user"
	CheckClock            = "clock"
	CheckRemoteAccess     = "remote_access"
	CheckCameraCapability = "camera_capability"
)

func newResult(name string, sev Severity) Result {
	return Result{Name: name, Status: StatusPass, Severity: sev, Evidence: map[string]string{}}
}

// CameraMode describes a camera's selected capture mode, or a minimum one.
type CameraMode struct {
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
}

// Options configures Run.
type Options struct {
	// Root is the filesystem root every read goes through; "" means "/".
	// CPUID is consulted only when Root is "/": under another root the CPU
	// running this code says nothing about the system being inspected.
	Root string
	// Policy decides the verdict and holds the thresholds. The zero Policy
	// means DefaultPolicy(ProfileKiosk), the strictest.
	Policy Policy
	// LastCentralContact is when central last answered this device, from a
	// trusted server timestamp; the zero time means never.
	LastCentralContact time.Time
	// Camera is the selected camera mode; nil means the caller did not
	// describe one, which the capability check reports as a warning.
	Camera *CameraMode
	// Frames are consecutive luma frames from the selected camera; when
	// present, CheckFrames runs on them.
	Frames []*image.Gray
	// Now returns the wall-clock time; nil means time.Now.
	Now func() time.Time
}

// env is what every check sees: the resolved options.
type env struct {
	root   string
	policy Policy
	opts   Options
	now    time.Time
}

func (e env) path(p string) string { return filepath.Join(e.root, p) }

func (e env) readFile(p string) ([]byte, error) { return os.ReadFile(e.path(p)) }

// readLine reads a one-line sysfs/procfs file, trimmed.
func (e env) readLine(p string) (string, error) {
	b, err := e.readFile(p)
	return strings.TrimSpace(string(b)), err
}

type checkFunc func(ctx context.Context, e env) Result

// Run executes the checks concurrently and decides the verdict with
// opts.Policy. It fails only on invalid options or a cancelled context;
// what a check cannot read is evidence in its result.
func Run(ctx context.Context, opts Options) (Report, error) {
	start := time.Now()
	e, err := newEnv(opts)
	if err != nil {
		return Report{}, err
	}
	checks := []checkFunc{
		checkVirtualMachine,
		checkVirtualCamera,
		checkDebugger,
		checkHooking,
		checkBinaryIntegrity,
		checkRootUser,
		checkClock,
		checkRemoteAccess,
		checkCameraCapability,
	}
	if len(opts.Frames) > 0 {
		checks = append(checks, func(context.Context, env) Result { return frameResult(opts.Frames) })
	}
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = c(ctx, e) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("running device checks: %w", err)
	}
	rep := Report{
		Checks:  results,
		Verdict: e.policy.Verdict(results),
		Profile: e.policy.Profile,
		Time:    e.now.UTC(),
		OS:      e.osName(),
		Kernel:  e.kernel(),
		Arch:    runtime.GOARCH,
	}
	rep.DurationMS = time.Since(start).Milliseconds()
	return rep, nil
}

func newEnv(opts Options) (env, error) {
	e := env{root: "/", policy: opts.Policy, opts: opts}
	if opts.Root != "" {
		e.root = filepath.Clean(opts.Root)
	}
	if e.policy.Profile == "" {
		p, err := DefaultPolicy(ProfileKiosk)
		if err != nil {
			return env{}, err
		}
		e.policy = p
	}
	if err := e.policy.Validate(); err != nil {
		return env{}, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	e.now = now()
	return e, nil
}

// osName is the distribution's PRETTY_NAME, or GOOS when there is none.
func (e env) osName() string {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := e.readFile(p)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				return strings.Trim(v, `"'`)
			}
		}
	}
	return runtime.GOOS
}

func (e env) kernel() string {
	k, _ := e.readLine("proc/sys/kernel/osrelease") // unknown kernel is reported as ""
	return k
}
