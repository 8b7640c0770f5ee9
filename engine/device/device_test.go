package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCleanTreeRaisesNothing(t *testing.T) {
	rep := mustRun(t, treeOptions(cleanTree(t)))
	if len(rep.Checks) != 9 {
		t.Errorf("got %d checks, want 9", len(rep.Checks))
	}
	for _, c := range rep.Checks {
		if c.Status != StatusPass {
			t.Errorf("%s: %s, evidence %v", c.Name, c.Status, c.Evidence)
		}
	}
	if rep.Verdict != VerdictOK {
		t.Errorf("verdict %s, want ok", rep.Verdict)
	}
	if rep.Profile != ProfileKiosk || rep.OS != "Ubuntu 24.04.1 LTS" || rep.Kernel != "6.8.0-45-generic" {
		t.Errorf("report header %q %q %q", rep.Profile, rep.OS, rep.Kernel)
	}
	if got := mustCheck(t, rep, CheckRemoteAccess).Evidence["processes_scanned"]; got != "4" {
		t.Errorf("scanned %s processes, want 4", got)
	}
}

// TestConditionsDetected changes one thing in a clean tree and expects
// exactly one check to notice.
func TestConditionsDetected(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, root string)
		check    string
		want     Status
		evidence string // an evidence key the finding must carry
	}{
		{"dmi qemu", files(map[string]string{
			"sys/class/dmi/id/sys_vendor": "QEMU\n", "sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
		}), CheckVirtualMachine, StatusFail, "dmi.sys_vendor"},
		{"dmi virtualbox", files(map[string]string{
			"sys/class/dmi/id/sys_vendor": "innotek GmbH\n", "sys/class/dmi/id/product_name": "VirtualBox\n",
			"sys/class/dmi/id/board_vendor": "Oracle Corporation\n", "sys/class/dmi/id/bios_vendor": "innotek GmbH\n",
		}), CheckVirtualMachine, StatusFail, "dmi.product_name"},
		{"dmi hyper-v", files(map[string]string{
			"sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "sys/class/dmi/id/product_name": "Virtual Machine\n",
		}), CheckVirtualMachine, StatusFail, "dmi.product_name"},
		{"surface laptop is hardware", files(map[string]string{
			"sys/class/dmi/id/sys_vendor": "Microsoft Corporation\n", "sys/class/dmi/id/product_name": "Surface Laptop 5\n",
		}), CheckVirtualMachine, StatusPass, ""},
		{"cpuinfo hypervisor flag", files(map[string]string{
			"proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor avx2\n",
		}), CheckVirtualMachine, StatusFail, "cpuinfo"},
		{"xen", files(map[string]string{"sys/hypervisor/type": "xen\n"}), CheckVirtualMachine, StatusFail, "sys_hypervisor_type"},
		{"virtio pci", files(map[string]string{"sys/bus/pci/devices/0000:00:03.0/vendor": "0x1af4\n"}),
			CheckVirtualMachine, StatusFail, "pci.0000:00:03.0"},
		{"hyper-v vmbus", files(map[string]string{"sys/bus/vmbus/devices/f8b3781a/class_id": "x\n"}),
			CheckVirtualMachine, StatusFail, "vmbus"},
		{"obs virtual camera", files(map[string]string{"sys/class/video4linux/video2/name": "OBS Virtual Camera\n"}),
			CheckVirtualCamera, StatusFail, "video2"},
		{"droidcam", files(map[string]string{"sys/class/video4linux/video3/name": "Droidcam\n"}),
			CheckVirtualCamera, StatusFail, "video3"},
		{"loopback renamed as a webcam", func(t *testing.T, root string) {
			writeFiles(t, root, map[string]string{"sys/devices/virtual/video4linux/video4/name": "HD Pro Webcam C920\n"})
			symlink(t, "../../devices/virtual/video4linux/video4", filepath.Join(root, "sys/class/video4linux/video4"))
		}, CheckVirtualCamera, StatusFail, "video4"},
		{"v4l2loopback module", files(map[string]string{"sys/module/v4l2loopback/parameters/devices": "1\n"}),
			CheckVirtualCamera, StatusFail, "module.v4l2loopback"},
		{"traced", files(map[string]string{"proc/self/status": statusFile("3131", "1000"), "proc/3131/comm": "gdb\n"}),
			CheckDebugger, StatusFail, "tracer_comm"},
		{"root", files(map[string]string{"proc/self/status": statusFile("0", "0")}), CheckRootUser, StatusWarn, "euid"},
		{"ld_preload", files(map[string]string{"proc/self/environ": "HOME=/root\x00LD_PRELOAD=/tmp/hook.so\x00"}),
			CheckHooking, StatusFail, "env.LD_PRELOAD"},
		{"ld_audit", files(map[string]string{"proc/self/environ": "LD_AUDIT=/opt/x/audit.so\x00"}),
			CheckHooking, StatusFail, "env.LD_AUDIT"},
		{"empty ld_preload", files(map[string]string{"proc/self/environ": "LD_PRELOAD=\x00"}), CheckHooking, StatusPass, ""},
		{"onnx runtime override", files(map[string]string{"proc/self/environ": "KYC_ORT_LIB=/tmp/libonnxruntime.so\x00"}),
			CheckHooking, StatusWarn, "env.KYC_ORT_LIB"},
		{"ld.so.preload", files(map[string]string{"etc/ld.so.preload": "# injected\n/usr/lib/libprocesshider.so\n"}),
			CheckHooking, StatusFail, "ld.so.preload"},
		{"commented ld.so.preload", files(map[string]string{"etc/ld.so.preload": "# nothing\n\n"}), CheckHooking, StatusPass, ""},
		{"frida agent from memfd", files(map[string]string{"proc/self/maps": cleanMaps +
			"7f1c30000000-7f1c30800000 r-xp 00000000 00:01 4321 /memfd:frida-agent-64.so (deleted)\n"}),
			CheckHooking, StatusFail, "mapped:/memfd:frida-agent-64.so"},
		{"frida gadget", files(map[string]string{"proc/self/maps": cleanMaps +
			"7f1c30000000-7f1c30800000 r-xp 00000000 08:01 4321 /opt/kyc/lib/libfrida-gadget.so\n"}),
			CheckHooking, StatusFail, "mapped:/opt/kyc/lib/libfrida-gadget.so"},
		{"library in memory file", files(map[string]string{"proc/self/maps": cleanMaps +
			"7f1c30000000-7f1c30800000 r-xp 00000000 00:01 4321 /memfd:libx.so (deleted)\n"}),
			CheckHooking, StatusFail, "mapped:/memfd:libx.so"},
		{"library from world-writable dir", func(t *testing.T, root string) {
			writeFiles(t, root, map[string]string{"proc/self/maps": cleanMaps +
				"7f1c30000000-7f1c30800000 r-xp 00000000 08:01 4321 /var/tmp/cache/libcodec.so.2\n"})
			dir := filepath.Join(root, "var/tmp/cache")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o1777); err != nil {
				t.Fatal(err)
			}
		}, CheckHooking, StatusFail, "mapped:/var/tmp/cache/libcodec.so.2"},
		{"tampered binary", func(t *testing.T, root string) {
			flipByte(t, filepath.Join(root, "proc/self/exe"), 2)
		}, CheckBinaryIntegrity, StatusFail, "recorded_sha256"},
		{"unsealed binary", files(map[string]string{"proc/self/exe": "\x7fELF dev build\n"}),
			CheckBinaryIntegrity, StatusWarn, "seal"},
		{"screen recorder by comm", files(map[string]string{
			"proc/4321/comm": "simplescreenrec\n", "proc/4321/cmdline": "/usr/bin/simplescreenrecorder\x00--start-hidden\x00",
		}), CheckRemoteAccess, StatusFail, "pid.4321"},
		{"obs studio", files(map[string]string{"proc/4322/comm": "obs\n", "proc/4322/cmdline": "obs\x00"}),
			CheckRemoteAccess, StatusFail, "pid.4322"},
		{"ffmpeg grabbing x11", files(map[string]string{
			"proc/4323/comm": "ffmpeg\n", "proc/4323/cmdline": "ffmpeg\x00-f\x00x11grab\x00-i\x00:0.0\x00out.mkv\x00",
		}), CheckRemoteAccess, StatusFail, "pid.4323"},
		{"x11vnc", files(map[string]string{"proc/4324/comm": "x11vnc\n", "proc/4324/cmdline": "x11vnc\x00-forever\x00"}),
			CheckRemoteAccess, StatusFail, "pid.4324"},
		{"teamviewer", files(map[string]string{
			"proc/4325/comm": "TeamViewer\n", "proc/4325/cmdline": "/opt/teamviewer/tv_bin/TeamViewer\x00",
		}), CheckRemoteAccess, StatusFail, "pid.4325"},
		{"process gone before cmdline read", files(map[string]string{"proc/4326/comm": "bash\n"}),
			CheckRemoteAccess, StatusPass, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := cleanTree(t)
			tt.setup(t, root)
			rep := mustRun(t, treeOptions(root))
			for _, c := range rep.Checks {
				want := StatusPass
				if c.Name == tt.check {
					want = tt.want
				}
				if c.Status != want {
					t.Errorf("%s: %s, want %s; evidence %v", c.Name, c.Status, want, c.Evidence)
				}
			}
			if tt.evidence != "" {
				if _, ok := mustCheck(t, rep, tt.check).Evidence[tt.evidence]; !ok {
					t.Errorf("%s evidence lacks %q: %v", tt.check, tt.evidence, mustCheck(t, rep, tt.check).Evidence)
				}
			}
		})
	}
}

func files(m map[string]string) func(t *testing.T, root string) {
	return func(t *testing.T, root string) {
		t.Helper()
		writeFiles(t, root, m)
	}
}

// flipByte inverts the byte at offset off of the file at path.
func flipByte(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestRealMachine runs every check on this machine: nothing here is traced,
// preloaded, hooked, recording or fed by a virtual camera, and what it
// reports about virtualisation and root must match the machine.
func TestRealMachine(t *testing.T) {
	rep := mustRun(t, Options{
		Camera:             &CameraMode{Width: 1280, Height: 720, FPS: 30},
		LastCentralContact: time.Now().Add(-time.Minute),
	})
	for _, name := range []string{CheckDebugger, CheckHooking, CheckVirtualCamera, CheckClock, CheckCameraCapability} {
		if c := mustCheck(t, rep, name); c.Status != StatusPass {
			t.Errorf("false alarm: %s %s, evidence %v", name, c.Status, c.Evidence)
		}
	}
	// Other tests of the suite may really be grabbing a screen right now
	// (the desktop screenshot runs ffmpeg x11grab): a finding is only a
	// false alarm if the process it names is not what it says.
	if c := mustCheck(t, rep, CheckRemoteAccess); c.Status != StatusPass {
		for k, v := range c.Evidence {
			pid, ok := strings.CutPrefix(k, "pid.")
			if !ok {
				continue
			}
			comm, err := os.ReadFile("/proc/" + pid + "/comm")
			if err == nil && !strings.HasPrefix(v, strings.TrimSpace(string(comm))) {
				t.Errorf("false alarm: pid %s is %q, reported as %q", pid, strings.TrimSpace(string(comm)), v)
			}
		}
	}
	integrity := mustCheck(t, rep, CheckBinaryIntegrity)
	if integrity.Status != StatusWarn || integrity.Evidence["seal"] != string(SealAbsent) {
		t.Errorf("go test binaries are unsealed; got %s %v", integrity.Status, integrity.Evidence)
	}

	wantRoot := StatusPass
	if os.Geteuid() == 0 {
		wantRoot = StatusWarn
	}
	if c := mustCheck(t, rep, CheckRootUser); c.Status != wantRoot {
		t.Errorf("root_user %s with euid %d", c.Status, os.Geteuid())
	}

	vm := mustCheck(t, rep, CheckVirtualMachine)
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	flag := strings.Contains(string(cpuinfo), " hypervisor")
	if flag && vm.Status != StatusFail {
		t.Errorf("/proc/cpuinfo has the hypervisor flag but virtual_machine is %s: %v", vm.Status, vm.Evidence)
	}
	// The kernel derives the flag from CPUID, so the two sources must agree.
	if runtime.GOARCH == "amd64" && strings.HasPrefix(vm.Evidence["cpuid"], "hypervisor bit set") != flag {
		t.Errorf("CPUID evidence %q disagrees with /proc/cpuinfo flag %v", vm.Evidence["cpuid"], flag)
	}
	if rep.Verdict != mustPolicy(t, rep.Profile).Verdict(rep.Checks) {
		t.Errorf("verdict %s does not follow the policy", rep.Verdict)
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("report on this machine:\n%s", out)
}

func mustPolicy(t *testing.T, p Profile) Policy {
	t.Helper()
	pol, err := DefaultPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

func TestRunRejectsInvalidOptions(t *testing.T) {
	_, err := Run(context.Background(), Options{Root: t.TempDir(), Policy: Policy{Profile: "kiosk", MaxOffline: -1}})
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("negative max offline: got %v, want ErrInvalidPolicy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{Root: cleanTree(t)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

// TestEmptyRootWarnsNotPanics runs on a tree with nothing in it: checks
// that need a file they cannot read warn instead of passing silently.
func TestEmptyRootWarnsNotPanics(t *testing.T) {
	rep := mustRun(t, Options{Root: t.TempDir()})
	for _, name := range []string{CheckDebugger, CheckHooking, CheckBinaryIntegrity, CheckRootUser, CheckRemoteAccess} {
		if c := mustCheck(t, rep, name); c.Status != StatusWarn {
			t.Errorf("%s on empty tree: %s, want warn (%v)", name, c.Status, c.Evidence)
		}
	}
}

func TestRunWithFrames(t *testing.T) {
	opts := treeOptions(cleanTree(t))
	opts.Frames = renderedFrames(4, 0)
	rep := mustRun(t, opts)
	if c := mustCheck(t, rep, CheckFrameStatistics); c.Status != StatusFail {
		t.Errorf("rendered frames: %s %v", c.Status, c.Evidence)
	}
	if rep.Verdict != VerdictBlock {
		t.Errorf("verdict %s, want block", rep.Verdict)
	}
	opts.Frames = []*image.Gray{nil}
	if c := mustCheck(t, mustRun(t, opts), CheckFrameStatistics); c.Status != StatusWarn {
		t.Errorf("bad frames in Run: %s, want warn", c.Status)
	}
}

// BenchmarkRun runs every check on this machine, alone and with five
// 720p frames to analyse; the target is 200 ms per run.
func BenchmarkRun(b *testing.B) {
	for _, frames := range []int{0, 5} {
		b.Run(fmt.Sprintf("frames=%d", frames), func(b *testing.B) {
			opts := Options{
				Camera:             &CameraMode{Width: 1280, Height: 720, FPS: 30},
				LastCentralContact: time.Now(),
				Frames:             noisyFrames720p(frames),
			}
			ctx := context.Background()
			for b.Loop() {
				if _, err := Run(ctx, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
