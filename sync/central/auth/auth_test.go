package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

// fastParams keep the tests quick; the format and check are the same.
var fastParams = Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPassword(t *testing.T) {
	h := HashPassword("correct horse battery staple", fastParams)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	if h2 := HashPassword("correct horse battery staple", fastParams); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if err := CheckPassword(h, "correct horse battery staple"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := CheckPassword(h, "correct horse battery stapler"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
	parts := strings.Split(h, "$")
	for _, bad := range []string{
		"", "plain", strings.Replace(h, "argon2id", "argon2i", 1), strings.Replace(h, "v=19", "v=16", 1),
		strings.Replace(h, "m=1024", "m=99999999", 1), // asks for too much memory
		strings.Join(append(parts[:4:4], "!!", parts[5]), "$"),
	} {
		if err := CheckPassword(bad, "x"); !errors.Is(err, ErrHash) {
			t.Errorf("CheckPassword(%q) = %v, want ErrHash", bad, err)
		}
	}
	// The default parameters are what sign-in uses: check one round trip.
	if err := CheckPassword(HashPassword("pw", DefaultParams), "pw"); err != nil {
		t.Error(err)
	}
}

func TestStrength(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		ok   bool
		name string
	}{
		{"short", false, "too short"},
		{"password1234", false, "dictionary word"},
		{"aaaaaaaaaaaaaaaa", false, "repeat"},
		{"qwertyuiopasdf", false, "keyboard walk"},
		{"alicealice2024", false, "the account name"},
		{strings.Repeat("x7Q!", 70), false, "too long"},
		{"mango tractor velvet quorum", true, "passphrase"},
		{"V7#kq9!Lm2@zR4", true, "random"},
	} {
		err := CheckStrength(tc.pw, "alice")
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckStrength(%q) = %v", tc.name, tc.pw, err)
		}
		if err != nil && !errors.Is(err, ErrWeak) {
			t.Errorf("%s: error %v is not ErrWeak", tc.name, err)
		}
	}
}

func TestTOTP(t *testing.T) {
	e, err := NewTOTP("OpenKYC central", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/") || !strings.Contains(e.URL, e.Secret) {
		t.Errorf("URL %q", e.URL)
	}
	png, err := e.QRPNG(200)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("QR code: %d bytes, %v", len(png), err)
	}
	again, err := EnrolmentFor("OpenKYC central", "alice", e.Secret)
	if err != nil || again.Secret != e.Secret {
		t.Fatalf("EnrolmentFor = %+v, %v", again, err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 10, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := Code(e.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	step, ok := CheckTOTP(e.Secret, code(now), now, 0)
	if !ok || step != Step(now) {
		t.Fatalf("current code: step %d, %v", step, ok)
	}
	if _, ok := CheckTOTP(e.Secret, code(now), now, step); ok {
		t.Error("a code was accepted twice")
	}
	if !ReusedTOTP(e.Secret, code(now), now, step) {
		t.Error("a code used once is not told reused")
	}
	if ReusedTOTP(e.Secret, code(now.Add(30*time.Second)), now, step) || ReusedTOTP(e.Secret, "12345", now, step) {
		t.Error("a code not used yet, or no code, is told reused")
	}
	if ReusedTOTP(e.Secret, code(now), now.Add(90*time.Second), step) {
		t.Error("a code out of the window is told reused")
	}
	if _, ok := CheckTOTP(e.Secret, code(now.Add(-30*time.Second)), now, 0); !ok {
		t.Error("the previous step's code (clock skew) was refused")
	}
	if _, ok := CheckTOTP(e.Secret, code(now.Add(-90*time.Second)), now, 0); ok {
		t.Error("a code three steps old was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := CheckTOTP(e.Secret, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
}

func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("JBSWY3DPEHPK3PXP"), "alice")
	if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatal("the secret shows in its sealed form")
	}
	if got, err := s.Open(sealed, "alice"); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "bob"); !errors.Is(err, ErrSealed) {
		t.Errorf("opened for another account: %v", err)
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, "alice"); !errors.Is(err, ErrSealed) {
		t.Errorf("opened under another key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s.Open(sealed, "alice"); !errors.Is(err, ErrSealed) {
		t.Errorf("opened changed bytes: %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestSessionsAndLockout(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tok, s := NewSession("alice", now, false)
	tok2, s2 := NewSession("alice", now, false)
	if tok == tok2 || !bytes.Equal(s.Hash, HashToken(tok)) || s.CSRF == "" || bytes.Contains(s.Hash, []byte(tok)) {
		t.Fatalf("session %+v for token %q", s, tok)
	}
	// The id the account page shows is neither the token, nor part of
	// it, nor its hash.
	if len(s.ID) != 22 || s.ID == s2.ID || strings.Contains(tok, s.ID) || strings.Contains(base64.RawURLEncoding.EncodeToString(s.Hash), s.ID) {
		t.Errorf("session id %q of token %q", s.ID, tok)
	}
	for _, tc := range []struct {
		name string
		seen time.Duration // since creation, last use
		at   time.Duration
		live bool
	}{
		{"fresh", 0, time.Minute, true},
		{"idle too long", 0, IdleTimeout + time.Second, false},
		{"used, under the absolute end", 11 * time.Hour, 11*time.Hour + 10*time.Minute, true},
		{"past the absolute end", 12*time.Hour - time.Minute, 12*time.Hour + time.Second, false},
	} {
		s2 := s
		s2.SeenAt = now.Add(tc.seen)
		if got := Live(s2, now.Add(tc.at)); got != tc.live {
			t.Errorf("%s: Live = %v", tc.name, got)
		}
	}
	_, p := NewSession("alice", now, true)
	if !p.Pending || Live(p, now.Add(PendingTimeout+time.Second)) {
		t.Errorf("pending session %+v lives past PendingTimeout", p)
	}

	u := central.User{Name: "alice"}
	for range AccountMaxFailures - 1 {
		Fail(&u, now)
	}
	if Locked(u, now) {
		t.Fatal("locked before AccountMaxFailures")
	}
	Fail(&u, now)
	if !Locked(u, now) || !Locked(u, now.Add(LockDuration-time.Second)) || Locked(u, now.Add(LockDuration)) {
		t.Errorf("lock after %d failures: until %v", AccountMaxFailures, u.LockedUntil)
	}
	Unlock(&u)
	if u.FailedLogins != 0 || Locked(u, now) {
		t.Errorf("after unlocking: %+v", u)
	}
	// Failures older than the window no longer count.
	for i := range AccountMaxFailures - 1 {
		Fail(&u, now.Add(time.Duration(i)*time.Second))
	}
	Fail(&u, now.Add(AccountWindow))
	if Locked(u, now.Add(AccountWindow)) || u.FailedLogins != 1 {
		t.Errorf("failures of a past window counted: %+v", u)
	}
}

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		have, min central.Role
		ok        bool
	}{
		{central.RoleAdmin, central.RoleReviewer, true},
		{central.RoleReviewer, central.RoleReviewer, true},
		{central.RoleAuditor, central.RoleReviewer, false},
		{central.RoleReviewer, central.RoleAdmin, false},
		{"root", central.RoleAuditor, false},
	} {
		if got := AtLeast(tc.have, tc.min); got != tc.ok {
			t.Errorf("AtLeast(%s, %s) = %v", tc.have, tc.min, got)
		}
	}
}

func TestEnrolCode(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var u central.User
	if !CheckEnrolCode(u, "", now) {
		t.Fatal("an account without an enrolment code was refused")
	}
	code := SetEnrolCode(&u, now)
	if len(code) != 14 || strings.Count(code, "-") != 2 || strings.ContainsAny(code, "01ILO") {
		t.Fatalf("code %q", code)
	}
	other := u
	if SetEnrolCode(&other, now) == code {
		t.Fatal("two codes are equal")
	}
	for _, tc := range []struct {
		name string
		code string
		at   time.Time
		want bool
	}{
		{"as printed", code, now, true},
		{"typed loosely", strings.ToLower(strings.ReplaceAll(code, "-", " ")), now.Add(time.Hour), true},
		{"empty", "", now, false},
		{"another", "ABCD-EFGH-JKMN", now, false},
		{"expired", code, now.Add(EnrolCodeTTL + time.Second), false},
		{"made by an instance whose clock is 30s ahead", code, now.Add(-30 * time.Second), true},
		// Made while the clock read five years later than after its
		// correction: valid no longer than a code made now.
		{"made with the clock five years ahead", code, now.Add(-5 * 365 * 24 * time.Hour), false},
	} {
		if got := CheckEnrolCode(u, tc.code, tc.at); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSecondFactorLockout: wrong codes in a row lock the account for
// ever longer, a lock's expiry does not forgive them, a complete sign-in
// does, and SecondFactorMaxFailures of them block the account until a new
// password (Unlock).
func TestSecondFactorLockout(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var u central.User
	var locks []time.Duration
	for i := 1; i < SecondFactorMaxFailures; i++ {
		if Locked(u, now) {
			t.Fatalf("failure %d: tried while locked until %v", i, u.LockedUntil)
		}
		lock, blocked := FailSecondFactor(&u, now)
		if blocked {
			t.Fatalf("blocked at failure %d", i)
		}
		if (lock > 0) != (i%SecondFactorLockEvery == 0) {
			t.Fatalf("failure %d: lock %v", i, lock)
		}
		if lock > 0 {
			locks = append(locks, lock)
			if !Locked(u, now.Add(lock-time.Second)) {
				t.Fatalf("failure %d: not locked for %v", i, lock)
			}
			now = now.Add(lock) // the attacker waits the lock out
		}
	}
	want := []time.Duration{LockDuration, 2 * LockDuration, 4 * LockDuration, 8 * LockDuration, 16 * LockDuration,
		32 * LockDuration, 64 * LockDuration}
	for len(want) < len(locks) {
		want = append(want, SecondFactorMaxLock)
	}
	if !slices.Equal(locks, want) {
		t.Errorf("locks %v, want %v", locks, want)
	}
	if _, blocked := FailSecondFactor(&u, now); !blocked || !Locked(u, now.Add(365*24*time.Hour)) {
		t.Fatalf("after %d wrong codes in a row: blocked %v, %+v", SecondFactorMaxFailures, blocked, u)
	}
	if _, blocked := FailSecondFactor(&u, now); blocked {
		t.Error("the block reported twice")
	}
	Unlock(&u)
	if Locked(u, now) || u.SecondFactorFailures != 0 {
		t.Errorf("after a new password: %+v", u)
	}

	// A complete sign-in forgives the codes before it.
	for range SecondFactorLockEvery - 1 {
		FailSecondFactor(&u, now)
	}
	SignedIn(&u)
	if lock, _ := FailSecondFactor(&u, now); lock != 0 || Locked(u, now) {
		t.Errorf("codes before a sign-in counted: %+v", u)
	}
}

// TestDescribeClient: common User-Agents get their browser family and
// system, in the order that tells Edge from Chrome and Android from
// Linux; anything else, or an absurdly long header, gets nothing.
func TestDescribeClient(t *testing.T) {
	for _, tc := range []struct{ ua, browser, os string }{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge", "Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari", "macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome", "iOS"},
		{"Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome", "Android"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome", "Linux"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera", "ChromeOS"},
		{"curl/8.5.0", "", ""},
		{"", "", ""},
		{"Firefox/1 Linux" + strings.Repeat("x", maxUserAgent), "", ""},
	} {
		if b, o := DescribeClient(tc.ua); b != tc.browser || o != tc.os {
			t.Errorf("DescribeClient(%.60q) = %q, %q; want %q, %q", tc.ua, b, o, tc.browser, tc.os)
		}
	}
}

// TestClockPutBack: what was set while central's clock read five years
// (or an hour) later than it does after a correction. A session made then
// is not live (its ends were reckoned by that clock, its idle time would
// be negative for years); a lock set then does not lock the account for
// as long as the clock was off, and the next lock is set by the corrected
// clock; failures counted then start a new window.
func TestClockPutBack(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, ahead := range []time.Duration{time.Hour, 5 * 365 * 24 * time.Hour} {
		_, s := NewSession("alice", now.Add(ahead), false)
		if Live(s, now) {
			t.Errorf("a session made with the clock %v ahead is live after it was put back", ahead)
		}
		_, p := NewSession("alice", now.Add(ahead), true)
		if Live(p, now) {
			t.Errorf("a pending session made with the clock %v ahead is live after it was put back", ahead)
		}
	}
	if _, s := NewSession("alice", now.Add(30*time.Second), false); !Live(s, now) {
		t.Error("a session made by an instance whose clock is 30s ahead is not live")
	}

	ahead := 5 * 365 * 24 * time.Hour
	var u central.User
	for range SecondFactorLockEvery {
		FailSecondFactor(&u, now.Add(ahead))
	}
	if !Locked(u, now.Add(ahead)) {
		t.Fatal("not locked after wrong codes")
	}
	if Locked(u, now) {
		t.Errorf("locked until %v after the clock was put back %v", u.LockedUntil, ahead)
	}
	for range SecondFactorLockEvery {
		FailSecondFactor(&u, now)
	}
	if !Locked(u, now) || Locked(u, now.Add(2*LockDuration)) {
		t.Errorf("the lock after the clock was put back: until %v; want %v", u.LockedUntil, now.Add(2*LockDuration))
	}

	var v central.User
	for range AccountMaxFailures - 1 {
		Fail(&v, now.Add(ahead))
	}
	if Locked(v, now) {
		t.Fatal("locked before AccountMaxFailures")
	}
	Fail(&v, now)
	if v.FailedLogins != 1 || Locked(v, now) {
		t.Errorf("failures counted with the clock %v ahead still count after it was put back: %+v", ahead, v)
	}
	for range AccountMaxFailures - 1 {
		Fail(&v, now.Add(ahead))
	}
	Fail(&v, now.Add(ahead))
	if Locked(v, now) {
		t.Errorf("a lock set with the clock %v ahead locks after it was put back: until %v", ahead, v.LockedUntil)
	}
}
