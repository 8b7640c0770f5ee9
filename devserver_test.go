package main

import (
	"strings"
	"testing"
)

// TestDevServerGuard: a dev build asked for Wails' dev server (whose
// WebSocket takes bound calls from any origin) starts only with the
// tests' opt-in and on a loopback address; a production build is never
// asked, whatever its arguments.
func TestDevServerGuard(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	optIn := env(devServerOptIn, "1")
	for _, tc := range []struct {
		name   string
		dev    bool
		args   []string
		getenv func(string) string
		refuse string // "" when allowed
	}{
		{name: "production build", args: []string{"-devserver", "0.0.0.0:34115"}, getenv: env()},
		{name: "dev build, no dev server", dev: true, args: []string{"-assetdir", "frontend/dist"}, getenv: env()},
		{name: "dev build, no opt-in", dev: true, args: []string{"-devserver", "127.0.0.1:34115"}, getenv: env(), refuse: devServerOptIn},
		{name: "flag with =", dev: true, args: []string{"--devserver=127.0.0.1:34115"}, getenv: env(), refuse: devServerOptIn},
		{name: "from the environment", dev: true, getenv: env("devserver", "127.0.0.1:34115"), refuse: devServerOptIn},
		{name: "all interfaces", dev: true, args: []string{"-devserver", "0.0.0.0:34115"}, getenv: optIn, refuse: "loopback only"},
		{name: "no host", dev: true, args: []string{"-devserver", ":34115"}, getenv: optIn, refuse: "loopback only"},
		{name: "a LAN address", dev: true, args: []string{"-devserver=192.168.1.20:34115"}, getenv: optIn, refuse: "loopback only"},
		{name: "the tests' run", dev: true, args: []string{"-devserver", "127.0.0.1:34115", "-assetdir", "frontend/dist"}, getenv: optIn},
		{name: "localhost", dev: true, args: []string{"-devserver", "localhost:34115"}, getenv: optIn},
		{name: "IPv6 loopback", dev: true, args: []string{"-devserver", "[::1]:34115"}, getenv: optIn},
	} {
		err := devServerGuard(tc.dev, tc.args, tc.getenv)
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refuse != "" && (err == nil || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: %v, want it refused (%s)", tc.name, err, tc.refuse)
		}
	}
}
