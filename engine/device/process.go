package device

import (
	"context"
	"os"
	"path"
	"strconv"
	"strings"
)

// checkRootUser warns when the process runs with effective uid 0: a
// capture app needs no such privilege, and a root process is what malware
// on the device would want to hijack. CI and containers commonly run as
// root, so it is a warning, not a failure.
func checkRootUser(_ context.Context, e env) Result {
	r := newResult(CheckRootUser, SeverityMedium)
	status, err := e.readFile("proc/self/status")
	if err != nil {
		r.Flag(StatusWarn, "status", "unreadable: "+err.Error())
		return r
	}
	uids, ok := statusField(string(status), "Uid")
	f := strings.Fields(uids)
	if !ok || len(f) < 2 {
		r.Flag(StatusWarn, "uid", "missing from status")
		return r
	}
	// Uid: real, effective, saved, filesystem.
	if f[1] == "0" {
		r.Flag(StatusWarn, "euid", "0")
	} else {
		r.Evidence["euid"] = f[1]
	}
	return r
}

// procKind says what a recognised process can do to a capture session.
type procKind string

const (
	kindRemote   procKind = "remote desktop"
	kindRecorder procKind = "screen recorder"
)

// watchedPrograms are executable names (lower case) of remote-desktop and
// screen-recording software on Linux.
var watchedPrograms = []struct {
	kind  procKind
	names []string
}{
	{kindRemote, []string{
		"x11vnc", "vino-server", "xvnc", "xtigervnc", "x0vncserver", "x0tigervncserver",
		"vncserver", "wayvnc", "xrdp", "xrdp-sesman", "teamviewer", "teamviewerd",
		"anydesk", "rustdesk", "gnome-remote-desktop-daemon", "krfb", "krdpserver",
		"nxserver", "nxnode", "x2goagent", "chrome-remote-desktop-host",
		"remoting_me2me_host", "meshagent", "dwagent", "srstreamer",
	}},
	{kindRecorder, []string{
		"obs", "simplescreenrecorder", "kazam", "vokoscreen", "vokoscreenng",
		"recordmydesktop", "peek", "byzanz-record", "gpu-screen-recorder", "wf-recorder",
		"green-recorder", "kooha", "blue-recorder",
	}},
}

// programKind returns what the watched program called name is. A comm name
// is compared with the kernel's truncation applied to the watched names.
func programKind(name string, isComm bool) (procKind, bool) {
	for _, g := range watchedPrograms {
		for _, n := range g.names {
			if isComm {
				n = n[:min(len(n), taskCommLen-1)]
			}
			if n == name {
				return g.kind, true
			}
		}
	}
	return "", false
}

// grabbers are general media tools that record the screen only when told
// to: program name and the arguments that make it do so.
var grabbers = map[string][]string{
	"ffmpeg":         {"x11grab", "kmsgrab"},
	"gst-launch-1.0": {"ximagesrc"},
	"vlc":            {"screen://"},
	"cvlc":           {"screen://"},
	"gjs":            {"org.gnome.Shell.Screencast"}, // GNOME's built-in recorder
}

// taskCommLen is the kernel's limit on /proc/<pid>/comm, terminator included.
const taskCommLen = 16

// checkRemoteAccess scans the process table for remote-desktop and
// screen-recording software, which lets someone else drive or record the
// session.
func checkRemoteAccess(ctx context.Context, e env) Result {
	r := newResult(CheckRemoteAccess, SeverityHigh)
	ents, err := os.ReadDir(e.path("proc"))
	if err != nil {
		r.Flag(StatusWarn, "proc", "unreadable: "+err.Error())
		return r
	}
	scanned := 0
	for _, d := range ents {
		if ctx.Err() != nil {
			break
		}
		pid := d.Name()
		if strings.Trim(pid, "0123456789") != "" {
			continue
		}
		// Processes exit during the scan and hidepid hides others: skip them.
		comm, err := e.readLine(path.Join("proc", pid, "comm"))
		if err != nil {
			continue
		}
		scanned++
		cmdline, _ := e.readFile(path.Join("proc", pid, "cmdline")) // kernel threads have none
		if why := watchedProcess(strings.ToLower(comm), strings.Split(string(cmdline), "\x00")); why != "" {
			r.Flag(StatusFail, "pid."+pid, comm+": "+why)
		}
	}
	r.Evidence["processes_scanned"] = strconv.Itoa(scanned)
	return r
}

// watchedProcess says which watched software the process is, or "".
func watchedProcess(comm string, argv []string) string {
	prog := comm
	if len(argv) > 0 && argv[0] != "" {
		prog = strings.ToLower(path.Base(argv[0]))
	}
	if k, ok := programKind(prog, false); ok {
		return string(k)
	}
	if k, ok := programKind(comm, true); ok {
		return string(k)
	}
	args := argv[min(1, len(argv)):]
	for _, p := range []string{prog, comm} {
		for _, marker := range grabbers[p] {
			for _, a := range args {
				if strings.Contains(a, marker) {
					return string(kindRecorder) + " (" + marker + ")"
				}
			}
		}
	}
	return ""
}
