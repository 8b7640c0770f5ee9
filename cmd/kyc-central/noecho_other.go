//go:build !(linux || darwin || freebsd || openbsd || netbsd)

package main

import "os"

// noEcho leaves the terminal as it is where the console's echo cannot be
// turned off this way.
func noEcho(*os.File) (restore func()) { return func() {} }
