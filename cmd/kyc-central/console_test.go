package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/auth"
	"github.com/openkyc/kyc/sync/central/store/boltstore"
)

// userAdd runs `kyc-central user add` with password as standard input.
func userAdd(t *testing.T, password string, args ...string) (int, string, string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(password + "\n")
	defer func() { stdin = old }()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"user", "add"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestUserAdd: the password comes from standard input and a weak one is
// refused; the account is stored with an argon2id hash, its role and
// scopes, and an audit event; a second account of that name is refused.
func TestUserAdd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data") // not made yet: the first admin comes before serve
	const pw = "mango tractor velvet quorum"
	for _, tc := range []struct {
		name, password string
		args           []string
		want           string
	}{
		{"weak password", "password123", []string{"--name", "ana", "--role", "admin"}, "too weak"},
		{"bad role", pw, []string{"--name", "ana", "--role", "root"}, "--role"},
		{"bad name", pw, []string{"--name", "a b", "--role", "admin"}, "--name"},
		{"no name", pw, []string{"--role", "admin"}, "--name"},
	} {
		code, _, errOut := userAdd(t, tc.password, append(tc.args, "--data", data)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d: %q, want 1 saying %q", tc.name, code, errOut, tc.want)
		}
	}
	code, out, errOut := userAdd(t, pw, "--name", "ana", "--role", "reviewer", "--scope", "north", "--scope", "east", "--data", data)
	if code != 0 || !strings.Contains(out, "first sign-in") {
		t.Fatalf("user add: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := userAdd(t, pw, "--name", "ana", "--role", "admin", "--data", data); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("second ana: exit %d: %s", code, errOut)
	}
	s, err := boltstore.Open(filepath.Join(data, "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // the last store opened
	u, err := s.User(context.Background(), "ana")
	if err != nil || u.Role != central.RoleReviewer || strings.Join(u.Scopes, ",") != "north,east" ||
		!strings.HasPrefix(u.PasswordHash, "$argon2id$") || strings.Contains(u.PasswordHash, "mango") || len(u.TOTPSecret) != 0 {
		t.Fatalf("stored account %+v, %v", u, err)
	}
	// The printed one-time enrolment code is the one stored (as a hash).
	m := regexp.MustCompile(`enrolment code: (\S+)`).FindStringSubmatch(out)
	if m == nil || !auth.CheckEnrolCode(u, m[1], time.Now()) || auth.CheckEnrolCode(u, "ABCD-EFGH-JKMN", time.Now()) {
		t.Fatalf("user add printed no usable enrolment code: %q", out)
	}
	if _, err := s.UpdateUser(context.Background(), "ana", func(u *central.User) error { u.TOTPSecret = []byte("sealed"); return nil }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var out2, errOut2 bytes.Buffer
	if code := run(context.Background(), []string{"user", "reset-totp", "--name", "ana", "--data", data}, &out2, &errOut2); code != 0 {
		t.Fatalf("reset-totp: %s", errOut2.String())
	}
	if code := run(context.Background(), []string{"user", "reset-totp", "--name", "nobody", "--data", data}, &out2, &errOut2); code != 1 {
		t.Error("reset-totp of an unknown account succeeded")
	}
	if s, err = boltstore.Open(filepath.Join(data, "central.db")); err != nil {
		t.Fatal(err)
	}
	if u, err := s.User(context.Background(), "ana"); err != nil || len(u.TOTPSecret) != 0 {
		t.Errorf("after reset-totp: %+v, %v", u, err)
	}
	evs, err := s.Audit(context.Background(), central.AuditFilter{Subject: "user:ana"})
	if err != nil || len(evs) != 2 || evs[0].Action != "user_add" || evs[1].Action != "totp_reset" {
		t.Errorf("audit %+v, %v", evs, err)
	}
}

// TestServeConsole: serve mounts the console, keeps its key in a 0600
// file it creates, and an account made with user add signs in with its
// password and is sent to the TOTP enrolment.
func TestServeConsole(t *testing.T) {
	data := t.TempDir()
	const pw = "mango tractor velvet quorum"
	if code, _, errOut := userAdd(t, pw, "--name", "root", "--role", "admin", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs syncBuf
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", data, "--insecure-http"}, &bytes.Buffer{}, &logs)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d: %s", code, logs.String())
		}
	}()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + addr
	var page string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/console/signin")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in page: %d", resp.StatusCode)
			}
			page = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, logs.String())
		}
		// Paces a poll of the condition above, bounded by the deadline: the
		// outcome never depends on how long the sleep lasts.
		time.Sleep(50 * time.Millisecond)
	}
	fi, err := os.Stat(filepath.Join(data, consoleKeyName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("console key: %v, %v", fi, err)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page: %s", page)
	}
	resp, err := client.PostForm(base+"/console/signin", url.Values{"csrf": {m[1]}, "name": {"root"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/enrol") {
		t.Errorf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestConsoleKey: the key file is created once and read back the same; a
// file readable by others or malformed is refused.
func TestConsoleKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.key")
	k1, err := loadOrCreateConsoleKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateConsoleKey(path)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatalf("read back %x, %v", k2, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateConsoleKey(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a 0644 key: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateConsoleKey(path); err == nil {
		t.Error("a malformed key was read")
	}
}

// TestUserPasswdDisable: passwd sets a new (strong) password and clears a
// lockout, disable and enable flip the account, and each ends every
// session the account has and is audited.
func TestUserPasswdDisable(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	const pw = "mango tractor velvet quorum"
	if code, _, errOut := userAdd(t, pw, "--name", "ana", "--role", "reviewer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	ctx := context.Background()
	// withStore opens the store (bbolt: one opener at a time) for fn.
	withStore := func(fn func(s *boltstore.Store)) {
		t.Helper()
		s, err := boltstore.Open(filepath.Join(data, "central.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(s)
	}
	session := func(s *boltstore.Store, tok string) {
		t.Helper()
		_, sess := auth.NewSession("ana", time.Now(), false)
		sess.Hash = auth.HashToken(tok)
		if err := s.PutSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	userCmd := func(input string, args ...string) (int, string) {
		t.Helper()
		old := stdin
		stdin = strings.NewReader(input)
		defer func() { stdin = old }()
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"user"}, append(args, "--data", data)...), &out, &errOut)
		return code, errOut.String()
	}
	var oldHash string
	withStore(func(s *boltstore.Store) {
		session(s, "tok-1")
		u, _ := s.UpdateUser(ctx, "ana", func(u *central.User) error {
			u.FailedLogins, u.LockedUntil = 3, time.Now().Add(time.Hour)
			return nil
		})
		oldHash = u.PasswordHash
	})
	if code, errOut := userCmd("password123\n", "passwd", "--name", "ana"); code != 1 || !strings.Contains(errOut, "too weak") {
		t.Errorf("passwd with a weak password: exit %d %q", code, errOut)
	}
	if code, errOut := userCmd("orbit lantern cobalt meadow\n", "passwd", "--name", "ana"); code != 0 {
		t.Fatalf("passwd: %s", errOut)
	}
	if code, _ := userCmd("", "disable", "--name", "nobody"); code != 1 {
		t.Error("disable of an unknown account succeeded")
	}
	withStore(func(s *boltstore.Store) {
		u, err := s.User(ctx, "ana")
		if err != nil || u.PasswordHash == oldHash || auth.CheckPassword(u.PasswordHash, "orbit lantern cobalt meadow") != nil ||
			auth.Locked(u, time.Now()) || u.FailedLogins != 0 {
			t.Errorf("after passwd: %+v, %v", u, err)
		}
		if _, err := s.Session(ctx, auth.HashToken("tok-1"), time.Now()); err == nil {
			t.Error("a session survived the password change")
		}
		session(s, "tok-2")
	})
	if code, errOut := userCmd("", "disable", "--name", "ana"); code != 0 {
		t.Fatalf("disable: %s", errOut)
	}
	withStore(func(s *boltstore.Store) {
		if u, _ := s.User(ctx, "ana"); !u.Disabled {
			t.Error("not disabled")
		}
		if _, err := s.Session(ctx, auth.HashToken("tok-2"), time.Now()); err == nil {
			t.Error("a session survived disabling the account")
		}
	})
	if code, errOut := userCmd("", "enable", "--name", "ana"); code != 0 {
		t.Fatalf("enable: %s", errOut)
	}
	withStore(func(s *boltstore.Store) {
		if u, _ := s.User(ctx, "ana"); u.Disabled {
			t.Error("still disabled after enable")
		}
		evs, err := s.Audit(ctx, central.AuditFilter{Subject: "user:ana"})
		var acts []string
		for _, e := range evs {
			acts = append(acts, e.Action)
		}
		if err != nil || strings.Join(acts, ",") != "user_add,user_password,user_disable,user_enable" {
			t.Errorf("audit of ana = %v, %v", acts, err)
		}
	})
}
