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
	"github.com/openkyc/kyc/sync/central/pki"
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
// file it creates, and an account made with user add signs in over HTTPS
// (password, then the TOTP enrolment with its enrolment code) and reaches
// the queue, each form posted with the Origin a browser sends. With
// --console-addr the console is served there only: --addr, where anyone
// opens the hosted flow, answers 404 for it, and a form posted from that
// origin is refused.
func TestServeConsole(t *testing.T) {
	for _, tc := range []struct {
		name string
		own  bool // --console-addr
	}{{"on --addr", false}, {"on --console-addr", true}} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			const pw = "mango tractor velvet quorum"
			code, out, errOut := userAdd(t, pw, "--name", "root", "--role", "admin", "--data", data)
			enrol := regexp.MustCompile(`enrolment code: (\S+)`).FindStringSubmatch(out)
			if code != 0 || enrol == nil {
				t.Fatalf("user add: %s %s", out, errOut)
			}
			files, err := pki.Init(t.TempDir(), []string{"127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			caPEM, err := os.ReadFile(files.CACert)
			if err != nil {
				t.Fatal(err)
			}
			tlsCfg, err := pki.ClientConfig(caPEM)
			if err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			consoleAddr := addr
			args := []string{"serve", "--addr", addr, "--data", data, "--tls-cert", files.ServerCert, "--tls-key", files.ServerKey}
			if tc.own {
				consoleAddr = freeAddr(t)
				args = append(args, "--console-addr", consoleAddr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			var logs syncBuf
			go func() { done <- run(ctx, args, &bytes.Buffer{}, &logs) }()
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			base := "https://" + consoleAddr
			waitServing(t, &logs, func() error {
				resp, err := client.Get(base + "/console/signin")
				if err == nil {
					resp.Body.Close()
				}
				return err
			})
			fi, err := os.Stat(filepath.Join(data, consoleKeyName))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("console key: %v, %v", fi, err)
			}
			if tc.own {
				if code, _, _ := consoleDo(t, client, http.MethodGet, "https://"+addr+"/console/signin", "", nil); code != http.StatusNotFound {
					t.Errorf("/console/ on --addr: %d, want 404", code)
				}
				if code, _, _ := consoleDo(t, client, http.MethodGet, "https://"+addr+"/healthz", "", nil); code != http.StatusOK {
					t.Errorf("/healthz on --addr: %d", code)
				}
				_, page, _ := consoleDo(t, client, http.MethodGet, base+"/console/signin", "", nil)
				form := url.Values{"csrf": {csrfOf(t, page)}, "name": {"root"}, "password": {pw}}
				if code, _, _ := consoleDo(t, client, http.MethodPost, base+"/console/signin", "https://"+addr, form); code != http.StatusForbidden {
					t.Errorf("a sign-in posted from --addr's origin: %d, want 403", code)
				}
			}
			consoleSignIn(t, client, base, "root", pw, enrol[1])
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exit %d: %s", code, logs.String())
			}
			if _, err := client.Get(base + "/console/signin"); err == nil {
				t.Error("the console still answers after serve ended")
			}
		})
	}
}

// consoleDo sends a request to the console (a form, when not nil, posted
// from origin, as a browser says) and returns the status, the body and
// Location.
func consoleDo(t *testing.T, c *http.Client, method, u, origin string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

var (
	consoleCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	consoleSecret = regexp.MustCompile(`id="totp-secret" class="secret">([A-Z2-7]+)<`)
	consoleSealed = regexp.MustCompile(`name="sealed" value="([^"]+)"`)
)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := consoleCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page: %s", page)
	}
	return m[1]
}

// consoleSignIn signs a new account in at the console at base, as a
// browser on the console's origin would: the password, the TOTP
// enrolment with the account's enrolment code, then the queue.
func consoleSignIn(t *testing.T, c *http.Client, base, name, password, enrolCode string) {
	t.Helper()
	_, page, _ := consoleDo(t, c, http.MethodGet, base+"/console/signin", "", nil)
	code, body, loc := consoleDo(t, c, http.MethodPost, base+"/console/signin", base,
		url.Values{"csrf": {csrfOf(t, page)}, "name": {name}, "password": {password}, "next": {"/console/queue"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/enrol") {
		t.Fatalf("password step: %d to %q: %s", code, loc, body)
	}
	_, page, _ = consoleDo(t, c, http.MethodGet, base+loc, "", nil)
	secret, sealed := consoleSecret.FindStringSubmatch(page), consoleSealed.FindStringSubmatch(page)
	if secret == nil || sealed == nil {
		t.Fatalf("enrolment page without the TOTP secret: %s", page)
	}
	totp, err := auth.Code(secret[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, body, loc = consoleDo(t, c, http.MethodPost, base+"/console/enrol", base, url.Values{"csrf": {csrfOf(t, page)},
		"sealed": {sealed[1]}, "enrol_code": {enrolCode}, "code": {totp}, "next": {"/console/queue"}})
	if code != http.StatusSeeOther || loc != "/console/queue" {
		t.Fatalf("TOTP enrolment: %d to %q: %s", code, loc, body)
	}
	if code, body, _ := consoleDo(t, c, http.MethodGet, base+loc, "", nil); code != http.StatusOK || !strings.Contains(body, name) {
		t.Fatalf("queue after sign-in: %d %.300s", code, body)
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
