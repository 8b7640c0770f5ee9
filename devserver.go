package main

import (
	"fmt"
	"net"
	"strings"
)

// devServerOptIn is the environment variable a dev build's dev server
// needs set to 1: the end-to-end tests set it.
const devServerOptIn = "KYC_DESKTOP_DEVSERVER"

// devServerGuard refuses to start a dev build (-tags dev, which only the
// end-to-end tests build) that is asked for Wails' dev server without
// $KYC_DESKTOP_DEVSERVER=1, or on an address that is not loopback. That
// server serves the screens over plain HTTP and every bound method over
// a WebSocket whose Origin it never checks, so any process on the
// machine, and any web page open in a browser there, could sign in, read
// the queue and open a verification's personal data. A production build
// (-tags production, the Makefile's) compiles no dev server and reads no
// such flag, and its window takes bound calls from its own page only.
func devServerGuard(dev bool, args []string, getenv func(string) string) error {
	if !dev {
		return nil
	}
	addr := getenv("devserver") // Wails' dev build reads it before the flag
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "devserver" {
			continue
		}
		switch {
		case hasValue:
			addr = value
		case i+1 < len(args):
			addr = args[i+1]
		}
	}
	if addr == "" {
		return nil
	}
	if getenv(devServerOptIn) != "1" {
		return fmt.Errorf("dev server on %s: a dev build serves its bound methods to any local process or web page; set %s=1 to run it (tests only)", addr, devServerOptIn)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dev server address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("dev server address %q: loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}
