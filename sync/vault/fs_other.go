//go:build !unix

package vault

import "io/fs"

// checkKeyFileOwner cannot check POSIX ownership here: on Windows access is
// governed by ACLs, which the installer must set to the kiosk account only.
func checkKeyFileOwner(string, fs.FileInfo) error { return nil }

// syncDir is a no-op: Windows cannot fsync a directory, and NTFS journals
// renames itself.
func syncDir(string) error { return nil }

// removeLeftovers leaves the files a crash left while a vault was made:
// without flock here, one another opener is making now cannot be told
// from one left.
func removeLeftovers(string) error { return nil }
