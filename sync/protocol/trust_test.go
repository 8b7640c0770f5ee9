package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// centralKeys is a central's two public keys and its signing key.
func centralKeys(t *testing.T) (box []byte, signPub ed25519.PublicKey, signKey ed25519.PrivateKey) {
	t.Helper()
	box = make([]byte, 32)
	rand.Read(box)
	signPub, signKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return box, signPub, signKey
}

func TestEnrollTokenRoundTrip(t *testing.T) {
	box, signPub, _ := centralKeys(t)
	fp := CentralFingerprint(box, signPub)
	if len(fp) != FingerprintSize {
		t.Fatalf("fingerprint of %d bytes", len(fp))
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	tok := FormatEnrollToken(secret, fp)
	for _, in := range []string{tok, "  " + tok + "\n", tok + "\r\n"} {
		got, err := ParseEnrollToken(in)
		if err != nil || !bytes.Equal(got, fp) {
			t.Errorf("ParseEnrollToken(%q) = %x, %v; want %x", in, got, err, fp)
		}
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not base64url without padding", tok)
	}
}

func TestParseEnrollTokenRefusesMalformed(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	secret, fp := b64(make([]byte, 16)), b64(make([]byte, FingerprintSize))
	for name, tok := range map[string]string{
		"empty":                  "",
		"no fingerprint":         secret,
		"empty fingerprint":      secret + ".",
		"empty secret":           "." + fp,
		"short secret":           b64(make([]byte, 15)) + "." + fp,
		"short fingerprint":      secret + "." + b64(make([]byte, FingerprintSize-1)),
		"long fingerprint":       secret + "." + b64(make([]byte, FingerprintSize+1)),
		"standard base64":        secret + "." + base64.StdEncoding.EncodeToString(make([]byte, FingerprintSize)),
		"three parts":            secret + "." + fp + "." + fp,
		"not base64":             "!!!!!!!!!!!!!!!!!!!!!!." + fp,
		"old token (no key pin)": "Xc2hUj4fY0Z8b5d2q9wA1rT7",
	} {
		if _, err := ParseEnrollToken(tok); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: ParseEnrollToken(%q) = %v, want ErrBadToken", name, tok, err)
		}
	}
}

// TestCheckFingerprint: what a man in the middle of an enrolment must not
// achieve is to have the device accept keys other than central's.
func TestCheckFingerprint(t *testing.T) {
	box, signPub, _ := centralKeys(t)
	fp := CentralFingerprint(box, signPub)
	if err := CheckFingerprint(fp, box, signPub); err != nil {
		t.Fatalf("central's own keys: %v", err)
	}
	evilBox, evilSign, _ := centralKeys(t)
	swappedBox := bytes.Clone(box)
	swappedBox[31] ^= 1
	for name, tc := range map[string]struct {
		box  []byte
		sign ed25519.PublicKey
	}{
		"box key swapped":         {evilBox, signPub},
		"sign key swapped":        {box, evilSign},
		"both swapped":            {evilBox, evilSign},
		"box key one bit off":     {swappedBox, signPub},
		"box key missing":         {nil, signPub},
		"sign key missing":        {box, nil},
		"keys given in reverse":   {signPub, ed25519.PublicKey(box)},
		"box key with extra byte": {append(bytes.Clone(box), 0), signPub},
	} {
		if err := CheckFingerprint(fp, tc.box, tc.sign); !errors.Is(err, ErrKeyMismatch) {
			t.Errorf("%s: CheckFingerprint = %v, want ErrKeyMismatch", name, err)
		}
	}
	if err := CheckFingerprint(nil, box, signPub); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("an empty fingerprint matched: %v", err)
	}
	// The length prefixes keep a shifted split from colliding.
	if bytes.Equal(CentralFingerprint(box[:31], append([]byte{box[31]}, signPub...)), fp) {
		t.Error("moving a byte from one key to the other keeps the fingerprint")
	}
}

func TestSignedConfig(t *testing.T) {
	_, signPub, signKey := centralKeys(t)
	c := Config{
		Version:   7,
		Risk:      json.RawMessage(`{"approve_below":30}`),
		IssuedAt:  time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC),
		Challenge: "challenge-abc",
		Watchlists: []Watchlist{
			{Name: "ofac", Version: 3, Size: 10, SHA256: make([]byte, sha256.Size)},
		},
	}
	sc, err := SignConfig(signKey, c)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as it travels.
	wire, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	var got SignedConfig
	if err := json.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	opened, err := got.Open(signPub)
	if err != nil {
		t.Fatal(err)
	}
	if opened.Version != 7 || opened.Challenge != "challenge-abc" || !opened.IssuedAt.Equal(c.IssuedAt) || len(opened.Watchlists) != 1 || string(opened.Risk) != `{"approve_below":30}` {
		t.Errorf("opened %+v", opened)
	}

	_, otherPub, otherKey := centralKeys(t)
	forged, _ := SignConfig(otherKey, c)
	tamper := func(f func(s *SignedConfig)) SignedConfig {
		s := SignedConfig{Config: bytes.Clone(sc.Config), Signature: bytes.Clone(sc.Signature)}
		f(&s)
		return s
	}
	for name, tc := range map[string]struct {
		s   SignedConfig
		pub ed25519.PublicKey
	}{
		"signed by another key":    {forged, signPub},
		"checked with another key": {sc, otherPub},
		"risk changed": {tamper(func(s *SignedConfig) {
			s.Config = bytes.Replace(s.Config, []byte(`30`), []byte(`99`), 1)
		}), signPub},
		"challenge changed": {tamper(func(s *SignedConfig) {
			s.Config = bytes.Replace(s.Config, []byte(`challenge-abc`), []byte(`challenge-xyz`), 1)
		}), signPub},
		"white space added":     {tamper(func(s *SignedConfig) { s.Config = append(s.Config, ' ') }), signPub},
		"signature bit flipped": {tamper(func(s *SignedConfig) { s.Signature[0] ^= 1 }), signPub},
		"signature missing":     {tamper(func(s *SignedConfig) { s.Signature = nil }), signPub},
		"no pinned key":         {sc, nil},
		// A watchlist signature must not pass as a config signature.
		"watchlist signature": {tamper(func(s *SignedConfig) {
			w := Watchlist{Name: "x"}
			SignWatchlist(signKey, &w)
			s.Signature = w.Signature
		}), signPub},
	} {
		if _, err := tc.s.Open(tc.pub); !errors.Is(err, ErrBadConfigSignature) {
			t.Errorf("%s: Open = %v, want ErrBadConfigSignature", name, err)
		}
	}
	// Signed but not a Config: refused, though not as a bad signature.
	bad := ed25519.Sign(signKey, append([]byte(configDomain), "[1,2]"...))
	if _, err := (SignedConfig{Config: json.RawMessage("[1,2]"), Signature: bad}).Open(signPub); err == nil || errors.Is(err, ErrBadConfigSignature) {
		t.Errorf("a signed non-config = %v, want a decoding error", err)
	}
}

func TestWatchlistSignature(t *testing.T) {
	_, signPub, signKey := centralKeys(t)
	data := []byte("Siti Nurhaliza,PEP\n")
	sum := sha256.Sum256(data)
	w := Watchlist{Name: "pep.list.json.gz", Version: 4, Size: int64(len(data)), SHA256: sum[:]}
	SignWatchlist(signKey, &w)
	if err := VerifyWatchlist(signPub, w); err != nil {
		t.Fatal(err)
	}
	_, otherPub, otherKey := centralKeys(t)
	forged := w
	SignWatchlist(otherKey, &forged)
	otherSum := sha256.Sum256([]byte("someone else"))
	for name, tc := range map[string]struct {
		mutate func(w *Watchlist)
		pub    ed25519.PublicKey
	}{
		"renamed":             {func(w *Watchlist) { w.Name = "ofac" }, signPub},
		"older version":       {func(w *Watchlist) { w.Version = 3 }, signPub},
		"size changed":        {func(w *Watchlist) { w.Size++ }, signPub},
		"other bytes":         {func(w *Watchlist) { w.SHA256 = otherSum[:] }, signPub},
		"no hash":             {func(w *Watchlist) { w.SHA256 = nil }, signPub},
		"signed by another":   {func(w *Watchlist) { w.Signature = forged.Signature }, signPub},
		"checked by another":  {func(*Watchlist) {}, otherPub},
		"unsigned":            {func(w *Watchlist) { w.Signature = nil }, signPub},
		"truncated signature": {func(w *Watchlist) { w.Signature = w.Signature[:32] }, signPub},
		// A config signature must not pass as a watchlist signature.
		"config signature": {func(w *Watchlist) {
			sc, _ := SignConfig(signKey, Config{})
			w.Signature = sc.Signature
		}, signPub},
	} {
		m := w
		m.SHA256 = bytes.Clone(w.SHA256)
		m.Signature = bytes.Clone(w.Signature)
		tc.mutate(&m)
		err := VerifyWatchlist(tc.pub, m)
		if !errors.Is(err, ErrBadConfigSignature) {
			t.Errorf("%s: VerifyWatchlist = %v, want ErrBadConfigSignature", name, err)
		}
	}
	// A length-prefixed name: "ab"+"c..." must not read as "a"+"bc...".
	a := Watchlist{Name: "ab", Version: 1, Size: 1, SHA256: sum[:]}
	SignWatchlist(signKey, &a)
	b := a
	b.Name = "a"
	if VerifyWatchlist(signPub, b) == nil {
		t.Error("a signature over one name verifies for another")
	}
}

func TestDeviceStatusJSON(t *testing.T) {
	s := DeviceStatus{AppVersion: "1.2", ConfigVersion: 3, Watchlists: map[string]int64{"ofac": 2}, QueueDepth: 4, Rejected: 1, ClockOffsetMS: -360000, LastError: "central is unreachable"}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("oldest_queued")) {
		t.Errorf("a zero OldestQueued is encoded: %s", data)
	}
	var back DeviceStatus
	if err := json.Unmarshal(data, &back); err != nil || back.ClockOffsetMS != s.ClockOffsetMS || back.Watchlists["ofac"] != 2 || back.LastError != s.LastError {
		t.Errorf("round trip %+v, %v", back, err)
	}
}

func TestDateOffset(t *testing.T) {
	local := time.Date(2025, 6, 1, 8, 6, 0, 250e6, time.UTC) // device 6 minutes fast
	h := http.Header{}
	h.Set("Date", time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC).Format(http.TimeFormat))
	off, ok := DateOffset(h, local)
	if want := -6*time.Minute + 250*time.Millisecond; !ok || off != want {
		t.Errorf("DateOffset = %v, %v; want %v", off, ok, want)
	}
	for _, v := range []string{"", "yesterday", "1717228800"} {
		h.Set("Date", v)
		if _, ok := DateOffset(h, local); ok {
			t.Errorf("Date %q gave an offset", v)
		}
	}
}
