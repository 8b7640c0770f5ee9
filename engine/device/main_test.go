package device

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// childEnv makes the test binary act as a child process: run the checks on
// itself and print the report as JSON, so tests can observe the checks in a
// process they set up (preloaded, traced, sealed, tampered).
const childEnv = "DEVICE_TEST_CHILD"

// tamperMarker is printed by the child; tests flip its last byte inside a
// sealed copy of the binary, which still runs and prints the flipped text.
const tamperMarker = "device-test-tamper-marker:A"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	fmt.Fprintln(os.Stderr, tamperMarker)
	rep, err := Run(context.Background(), Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// writeFiles writes each content under root, creating directories.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// statusFile is a /proc/<pid>/status as the kernel writes it.
func statusFile(tracerPid string, uid string) string {
	return "Name:\tkyc\nUmask:\t0022\nState:\tR (running)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t1\n" +
		"TracerPid:\t" + tracerPid + "\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n" +
		"Gid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nThreads:\t9\n"
}

const cleanMaps = `55d0c0a00000-55d0c0c00000 r-xp 00000000 08:01 1234                       /opt/kyc/kyc
7f1c2a000000-7f1c2a028000 r--p 00000000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2a028000-7f1c2a1bd000 r-xp 00028000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2b000000-7f1c2b100000 r-xp 00000000 08:01 9999                       /usr/lib/x86_64-linux-gnu/libonnxruntime.so.1.20.0 (deleted)
7f1c2a400000-7f1c2a500000 rw-p 00000000 00:00 0 
7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          [stack]
7ffd1c1f0000-7ffd1c1f2000 r-xp 00000000 00:00 0                          [vdso]
`

// usbCamera is where a USB webcam's video4linux node lives in sysfs.
const usbCamera = "sys/devices/pci0000:00/0000:00:14.0/usb1/1-5/1-5:1.0/video4linux/video0"

// cleanTree builds the sysfs/procfs tree of an honest kiosk: real hardware,
// a USB webcam, an untraced sealed process as an ordinary user, and
// ordinary processes (including an ffmpeg that is not grabbing the screen).
func cleanTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"proc/cpuinfo":                            "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr pae sse sse2 ssse3 avx avx2\n\n",
		"sys/class/dmi/id/sys_vendor":             "Dell Inc.\n",
		"sys/class/dmi/id/product_name":           "OptiPlex 7010\n",
		"sys/class/dmi/id/board_vendor":           "Dell Inc.\n",
		"sys/class/dmi/id/bios_vendor":            "Dell Inc.\n",
		"sys/bus/pci/devices/0000:00:02.0/vendor": "0x8086\n",
		"sys/bus/pci/devices/0000:00:14.0/vendor": "0x8086\n",
		usbCamera + "/name":                       "Integrated_Webcam_HD: Integrate\n",
		"sys/module/uvcvideo/refcnt":              "1\n",
		"proc/self/status":                        statusFile("0", "1000"),
		"proc/self/environ":                       "HOME=/home/kiosk\x00PATH=/usr/bin:/bin\x00LANG=C.UTF-8\x00",
		"proc/self/maps":                          cleanMaps,
		"proc/1/comm":                             "systemd\n",
		"proc/1/cmdline":                          "/sbin/init\x00splash\x00",
		"proc/2/comm":                             "kthreadd\n",
		"proc/2/cmdline":                          "",
		"proc/812/comm":                           "firefox\n",
		"proc/812/cmdline":                        "/usr/lib/firefox/firefox\x00",
		"proc/900/comm":                           "ffmpeg\n",
		"proc/900/cmdline":                        "ffmpeg\x00-i\x00in.mp4\x00out.webm\x00",
		"proc/sys/kernel/osrelease":               "6.8.0-45-generic\n",
		"etc/os-release":                          "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n",
		"proc/self/exe":                           "\x7fELF kiosk build\n",
	})
	symlink(t, "../../devices/pci0000:00/0000:00:14.0/usb1/1-5/1-5:1.0/video4linux/video0",
		filepath.Join(root, "sys/class/video4linux/video0"))
	if err := Seal(context.Background(), filepath.Join(root, "proc/self/exe")); err != nil {
		t.Fatal(err)
	}
	return root
}

// treeOptions are options under which cleanTree passes every check.
func treeOptions(root string) Options {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return Options{
		Root:               root,
		LastCentralContact: now.Add(-time.Hour),
		Camera:             &CameraMode{Width: 1920, Height: 1080, FPS: 30},
		Now:                func() time.Time { return now },
	}
}

func mustRun(t *testing.T, opts Options) Report {
	t.Helper()
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func mustCheck(t *testing.T, rep Report, name string) Result {
	t.Helper()
	r, ok := rep.Check(name)
	if !ok {
		t.Fatalf("report has no %s check: %+v", name, rep.Checks)
	}
	return r
}
