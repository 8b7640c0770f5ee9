package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFIFOArgumentsRefused: a FIFO named where a command reads a small
// file (a device policy, the lists kept on this device, a list to import,
// central's CA) is refused with the command's error for that file, not
// waited on for a writer: each of these hung before.
func TestFIFOArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	lists := filepath.Join(dir, "lists")
	if err := os.Mkdir(lists, 0o700); err != nil {
		t.Fatal(err)
	}
	listFIFO := filepath.Join(lists, "ofac.list.json.gz")
	if err := syscall.Mkfifo(listFIFO, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		exit int
		code string // the error code; "" when the command goes on
		says string // what the output says of the FIFO
	}{
		{[]string{"device-check", "--policy", fifo}, ExitInput, "invalid_policy", "not a regular file"},
		{[]string{"watchlist", "import", "--format", "un-xml", "--dir", lists, fifo}, ExitInput, "invalid_watchlist", "not a regular file"},
		{[]string{"watchlist", "list", "--dir", lists}, 0, "", "not a regular file"},
		{[]string{"enroll", "--central", "https://127.0.0.1:1", "--token-file", fifo, "--ca", fifo}, ExitInput, "", "not a regular file"},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			done := make(chan struct{})
			var exit int
			var res map[string]any
			go func() {
				defer close(done)
				exit, res = runCLI(t, tc.args...)
			}()
			select {
			case <-done:
			case <-time.After(time.Minute): // a bound on a hang, not a pace: the answer is immediate
				// Open the FIFOs for writing so the command waiting on one
				// ends, then fail.
				for _, p := range []string{fifo, listFIFO} {
					if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						f.Close()
					}
				}
				<-done
				t.Fatalf("%v waited on the FIFO", tc.args)
			}
			var says []string
			for _, v := range flatten("", res) {
				says = append(says, v)
			}
			out := strings.Join(says, " ")
			if exit == 0 && tc.exit != 0 || tc.exit != 0 && exit != tc.exit || tc.code != "" && errCode(res) != tc.code || !strings.Contains(out, tc.says) {
				t.Errorf("%v: exit %d, %v; want exit %d, code %q, saying %q", tc.args, exit, res, tc.exit, tc.code, tc.says)
			}
		})
	}
}
