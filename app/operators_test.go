package app

import (
	"errors"
	"runtime"
	"testing"
)

// allocated is the heap bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestCheckHashesForUnknownNames: a name no account has costs the same
// Argon2id derivation as a wrong passphrase (its memory, which is what
// takes the time), so the kiosk's answer time does not tell a guesser
// which operator names exist. Memory, not time, is measured: the same on
// a loaded machine.
func TestCheckHashesForUnknownNames(t *testing.T) {
	acct, err := hashPassphrase("ana", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	ops := operators{Accounts: []operatorHash{acct}}
	const kdfBytes = argonMemory * 1024
	for _, tc := range []struct{ name, pass string }{
		{"ana", "wrong passphrase"},
		{"nobody", "wrong passphrase"},
		{"", ""},
	} {
		var err error
		n := allocated(func() { _, err = ops.check(tc.name, tc.pass) })
		if !errors.Is(err, ErrBadCredentials) {
			t.Errorf("check(%q): %v, want ErrBadCredentials", tc.name, err)
		}
		if n < kdfBytes {
			t.Errorf("check(%q) allocated %d bytes, under one derivation's %d: its answer time tells the name apart", tc.name, n, kdfBytes)
		}
	}
	if role, err := ops.check("ana", "correct horse"); err != nil || role != RoleSupervisor {
		t.Errorf("the right passphrase: %q, %v", role, err)
	}
}
