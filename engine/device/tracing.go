package device

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

// checkDebugger reads TracerPid: a debugger, strace or an injection
// framework attaching with ptrace shows up as this process's tracer.
func checkDebugger(_ context.Context, e env) Result {
	r := newResult(CheckDebugger, SeverityHigh)
	status, err := e.readFile("proc/self/status")
	if err != nil {
		r.Flag(StatusWarn, "status", "unreadable: "+err.Error())
		return r
	}
	tracer, ok := statusField(string(status), "TracerPid")
	switch {
	case !ok:
		r.Flag(StatusWarn, "tracer_pid", "missing from status")
	case tracer != "0":
		r.Flag(StatusFail, "tracer_pid", tracer)
		if comm, err := e.readLine(path.Join("proc", tracer, "comm")); err == nil {
			r.Evidence["tracer_comm"] = comm
		}
	default:
		r.Evidence["tracer_pid"] = tracer
	}
	return r
}

// statusField returns the value of key in a /proc/<pid>/status file.
func statusField(status, key string) (string, bool) {
	for line := range strings.Lines(status) {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// preloadVars make the dynamic loader load or audit extra code in every
// process it starts.
var preloadVars = []string{"LD_PRELOAD", "LD_AUDIT"}

// runtimeVars name a native library the product loads instead of the one
// the verified model store holds by its sha256 (models.RuntimeEnv): the
// code that computes every score, chosen by whoever sets the environment.
// A developer's override, so a warning the attestation carries, not a
// block.
var runtimeVars = []string{"KYC_ORT_LIB"}

// hookingMarkers are lower-case substrings of the file names of hooking and
// instrumentation frameworks (Frida agent and gadget, its Gum engine,
// Substrate, Xposed).
var hookingMarkers = []string{"frida", "libgum", "gumjs", "gadget", "substrate", "xposed"}

// checkHooking looks for code injected into this process: loader preload
// variables (in the environment the process started with, which the loader
// acted on), /etc/ld.so.preload, and suspicious mappings in
// /proc/self/maps.
func checkHooking(_ context.Context, e env) Result {
	r := newResult(CheckHooking, SeverityCritical)
	if environ, err := e.readFile("proc/self/environ"); err != nil {
		r.Flag(StatusWarn, "environ", "unreadable: "+err.Error())
	} else {
		for kv := range strings.SplitSeq(string(environ), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			for _, pv := range preloadVars {
				if k == pv && v != "" {
					r.Flag(StatusFail, "env."+k, v)
				}
			}
			if slices.Contains(runtimeVars, k) && v != "" {
				r.Flag(StatusWarn, "env."+k, v+" (ONNX Runtime from outside the verified model store)")
			}
		}
	}
	if b, err := e.readFile("etc/ld.so.preload"); err == nil {
		var libs []string
		for line := range strings.Lines(string(b)) {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				libs = append(libs, l)
			}
		}
		if len(libs) > 0 {
			r.Flag(StatusFail, "ld.so.preload", strings.Join(libs, " "))
		}
	} else if !os.IsNotExist(err) {
		r.Flag(StatusWarn, "ld.so.preload", "unreadable: "+err.Error())
	}
	maps, err := e.readFile("proc/self/maps")
	if err != nil {
		r.Flag(StatusWarn, "maps", "unreadable: "+err.Error())
		return r
	}
	writable := map[string]bool{} // directory -> world-writable, stat once each
	for m := range strings.Lines(string(maps)) {
		p := mappedPath(m)
		if p == "" {
			continue
		}
		if why := suspiciousMapping(e, p, writable); why != "" {
			r.Flag(StatusFail, "mapped:"+p, why)
		}
	}
	return r
}

// mappedPath returns the file behind one /proc/<pid>/maps line, or "" for
// anonymous and special ([heap], [vdso]) mappings. Kernel-appended
// " (deleted)" is dropped.
func mappedPath(line string) string {
	f := strings.Fields(line)
	if len(f) < 6 {
		return ""
	}
	p := strings.TrimSuffix(strings.Join(f[5:], " "), " (deleted)")
	if !strings.HasPrefix(p, "/") {
		return ""
	}
	return p
}

// suspiciousMapping says why the mapped file p looks injected, or "".
func suspiciousMapping(e env, p string, writable map[string]bool) string {
	base := strings.ToLower(path.Base(p))
	if m := matchMarker(base, hookingMarkers); m != "" {
		return fmt.Sprintf("hooking framework (%s)", m)
	}
	if !strings.HasSuffix(base, ".so") && !strings.Contains(base, ".so.") {
		return "" // the executable and data files; the executable is checked by binary_integrity
	}
	// A library held only in memory was never installed anywhere.
	if strings.HasPrefix(p, "/memfd:") {
		return "library loaded from a memory file"
	}
	dir := path.Dir(p)
	ww, seen := writable[dir]
	if !seen {
		fi, err := os.Stat(e.path(dir))
		ww = err == nil && fi.Mode().Perm()&0o002 != 0
		writable[dir] = ww
	}
	if ww {
		return "library loaded from world-writable directory " + dir
	}
	return ""
}
