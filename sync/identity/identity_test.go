package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/protocol"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	id, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	again, err := LoadOrCreate(path)
	if err != nil || again.DeviceID() != id.DeviceID() {
		t.Fatalf("reloaded identity %v, %v; want the same device", again, err)
	}
	if len(id.DeviceID()) != 32 || id.DeviceID() != protocol.DeviceID(id.Public()) {
		t.Errorf("device id %q", id.DeviceID())
	}
	if Generate().DeviceID() == id.DeviceID() {
		t.Error("two generated identities share a device id")
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if _, err := LoadOrCreate(good); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	cases := []struct {
		name string
		data []byte
		mode os.FileMode
		want error
	}{
		{"readable by others", data, 0o644, ErrInsecureKeyFile},
		{"not a key", []byte("hello"), 0o600, ErrMalformed},
		{"bad seed", []byte(keyFileMagic + "AAAA\n"), 0o600, ErrMalformed},
		{"empty", nil, 0o600, ErrMalformed},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, c.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, c.mode) // WriteFile's mode is subject to umask
		if _, err := Load(p); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestContentKeyStableAcrossLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	a, _ := LoadOrCreate(path)
	b, _ := Load(path)
	sum := sha256.Sum256([]byte("img"))
	ka, err := a.ContentKey("s1", "selfie", sum)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := b.ContentKey("s1", "selfie", sum)
	kc, _ := Generate().ContentKey("s1", "selfie", sum)
	if string(ka) != string(kb) || string(ka) == string(kc) {
		t.Error("content keys must be stable per device and differ between devices")
	}
}

func TestEnrollmentFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "enrollment.json")
	_, signKey, _ := ed25519.GenerateKey(nil)
	ca, err := pki.Init(filepath.Join(dir, "tls"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(ca.CACert)
	e := Enrollment{CentralURL: "https://central.example", DeviceID: "abc", EnrolledAt: time.Now().UTC().Truncate(time.Second),
		CentralSignKey: signKey.Public().(ed25519.PublicKey), CentralCA: string(caPEM)}
	e.CentralBoxKey[0] = 9
	if err := SaveEnrollment(path, e); err != nil {
		t.Fatal(err)
	}
	got, err := LoadEnrollment(path)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("LoadEnrollment = %+v, %v; want %+v", got, err, e)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("enrolment file %v, %v; want mode 0600", fi, err)
	}
	for name, body := range map[string]string{
		"garbage":        "{",
		"no URL":         `{"central_url":"x","device_id":"d","central_box_key":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`,
		"missing key":    `{"central_url":"x","device_id":"d"}`,
		"short sign key": `{"central_url":"https://central.example","device_id":"d","central_box_key":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"central_sign_key":"AAEC"}`,
		"bad CA":         `{"central_url":"https://central.example","device_id":"d","central_box_key":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"central_ca":"not a certificate"}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := LoadEnrollment(p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// A file grown past any enrolment (sparse here) is refused at its
	// bound, never read whole into memory.
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 64<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnrollment(huge); !errors.Is(err, atomicfile.ErrTooLarge) {
		t.Errorf("an enrolment file of 64 MB: %v, want atomicfile.ErrTooLarge", err)
	}
}

// TestEnrollmentFileAddress: an enrolment file written by hand with
// credentials in central's address (user info, a query, a fragment) is
// refused as malformed, with an error that does not carry them (the sync
// loop logs it); plain http off this machine loads, for NewUploader to
// refuse as ErrInsecureURL.
func TestEnrollmentFileAddress(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ url, why string }{
		"user info": {"https://admin:hunter2@central.example:8443/kyc", "user name"},
		"user":      {"https://hunter2@central.example:8443/kyc", "user name"},
		"query":     {"https://central.example:8443/kyc?token=hunter2", "query"},
		"fragment":  {"https://central.example:8443/kyc#hunter2", "fragment"},
		"no host":   {"https://admin:hunter2/x@central.example", "want https://"},
	} {
		path := filepath.Join(dir, name+".json")
		e := Enrollment{CentralURL: c.url, DeviceID: "abc", CentralBoxKey: [32]byte{9}}
		if err := SaveEnrollment(path, e); err != nil {
			t.Fatal(err)
		}
		_, err := LoadEnrollment(path)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.why) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want ErrMalformed saying %q without the secret", name, err, c.why)
		}
	}
	path := filepath.Join(dir, "http.json")
	if err := SaveEnrollment(path, Enrollment{CentralURL: "http://central.example", DeviceID: "abc", CentralBoxKey: [32]byte{9}}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnrollment(path); err != nil {
		t.Errorf("plain http: %v, want it loaded", err)
	}
}

// TestRedactURL: what is kept of a URL shown or logged.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@central.example:8443/kyc/?token=x#y": "https://central.example:8443/kyc/",
		"http://127.0.0.1:8080":                           "http://127.0.0.1:8080",
		"https://u@[::1]:8443/a%20b":                      "https://[::1]:8443/a%20b",
		"u:p@central.example":                             "(not shown: not a URL)",
		"https://u:p/q@central.example":                   "(not shown: not a URL)",
		"":                                                "(not shown: not a URL)",
		"https://u:1234/pass@central.example":             "(not shown: an @ outside a user name and password)",
		"https://u:1234?pass@central.example":             "(not shown: an @ outside a user name and password)",
		"https://u:1234#pass@central.example":             "(not shown: an @ outside a user name and password)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCentralURL(t *testing.T) {
	cases := map[string]string{
		"https://central.example/": "https://central.example",
		"http://127.0.0.1:8443":    "http://127.0.0.1:8443",
		"http://127.9.9.9":         "http://127.9.9.9",
		"http://[::1]:80":          "http://[::1]:80",
		"http://localhost:8080/":   "http://localhost:8080",
		"http://central.example":   "", // plain http off this machine
		"http://10.0.0.5:8443":     "",
		"http://127.0.0.1.nip.io":  "", // a name that merely looks local
		"https://user:pw@host":     "",
		"https://host/prefix/":     "https://host/prefix",
		"ftp://host":               "",
		"central.example":          "",
		"https://host/?q=1":        "",
		"":                         "",
	}
	for in, want := range cases {
		got, err := ParseCentralURL(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("ParseCentralURL(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("ParseCentralURL(%q): %v quotes the credentials", in, err)
		}
	}
}

func TestEnrollUnreachable(t *testing.T) {
	tok := protocol.FormatEnrollToken(make([]byte, 32), make([]byte, protocol.FingerprintSize))
	// A port nothing listens on, on loopback.
	_, err := Enroll(context.Background(), &http.Client{Timeout: time.Second}, "http://127.0.0.1:1", tok, Generate(), "t")
	if err == nil || errors.Is(err, ErrEnrollRefused) {
		t.Errorf("Enroll to a dead address = %v; want a network error", err)
	}
	if _, err := Enroll(context.Background(), http.DefaultClient, "http://127.0.0.1:1", " ", Generate(), "t"); err == nil {
		t.Error("Enroll accepted an empty token")
	}
	if _, err := Enroll(context.Background(), http.DefaultClient, "http://127.0.0.1:1", "no-fingerprint", Generate(), "t"); !errors.Is(err, protocol.ErrBadToken) {
		t.Errorf("Enroll with a token without a fingerprint = %v, want ErrBadToken", err)
	}
	if _, err := Enroll(context.Background(), http.DefaultClient, "http://central.example", tok, Generate(), "t"); !errors.Is(err, ErrInsecureURL) {
		t.Errorf("Enroll over plain http off loopback = %v, want ErrInsecureURL", err)
	}
}
