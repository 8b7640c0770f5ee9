//go:build linux || darwin || freebsd || openbsd || netbsd

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// noEcho turns off the terminal's echo while the password is typed, when
// standard input is a terminal; restore puts it back. Piped input is left
// alone.
func noEcho(f *os.File) (restore func()) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return func() {}
	}
	t := *old
	t.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &t); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlSetTermios, old) }
}
