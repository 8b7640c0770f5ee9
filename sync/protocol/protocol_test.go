package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	body := []byte("sealed manifest")
	now := time.UnixMilli(1_750_000_000_123)
	req, _ := http.NewRequest(http.MethodPut, "http://central"+ImagePath(SubmissionKey("s1"), "selfie", 1024), nil)
	Sign(req, sha256.Sum256(body), DeviceID(pub), key, now)
	s, err := ParseSigned(req.Header)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Timestamp.Equal(now) || s.DeviceID != DeviceID(pub) {
		t.Errorf("parsed %+v", s)
	}
	uri := req.URL.RequestURI()
	cases := []struct {
		name   string
		pub    ed25519.PublicKey
		method string
		uri    string
		body   []byte
		ok     bool
	}{
		{"valid", pub, "PUT", uri, body, true},
		{"other key", otherPub, "PUT", uri, body, false},
		{"other method", pub, "POST", uri, body, false},
		{"other offset", pub, "PUT", strings.Replace(uri, "1024", "0", 1), body, false},
		{"other body", pub, "PUT", uri, []byte("sealed manifesT"), false},
		{"short key", pub[:16], "PUT", uri, body, false},
	}
	for _, c := range cases {
		err := s.Verify(c.pub, c.method, c.uri, c.body)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrBadSignature)) {
			t.Errorf("%s: Verify = %v", c.name, err)
		}
	}
	// Resign keeps the body hash and changes nonce and signature.
	old := req.Header.Get(HeaderNonce)
	if err := Resign(req, key, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	s2, _ := ParseSigned(req.Header)
	if s2.Nonce == old || s2.Verify(pub, "PUT", uri, body) != nil {
		t.Error("resigned request: same nonce or invalid signature")
	}
}

func TestParseSignedRejectsGarbage(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	req, _ := http.NewRequest("GET", "http://c/v1/config", nil)
	Sign(req, sha256.Sum256(nil), DeviceID(pub), key, time.Now())
	good := req.Header
	cases := []struct {
		name, header, value string
		want                error
	}{
		{"missing nonce", HeaderNonce, "", ErrUnsigned},
		{"bad timestamp", HeaderTimestamp, "yesterday", ErrBadSignature},
		{"bad hash", HeaderBodyHash, "zz", ErrBadSignature},
		{"bad signature", HeaderSignature, "!!!", ErrBadSignature},
		{"short signature", HeaderSignature, "AAAA", ErrBadSignature},
		{"huge nonce", HeaderNonce, strings.Repeat("n", 100), ErrBadSignature},
		{"nonce not base64url (invalid UTF-8)", HeaderNonce, "\xff\xfeabc", ErrBadSignature},
		{"nonce with a NUL", HeaderNonce, "abc\x00def", ErrBadSignature},
	}
	if _, err := ParseSigned(good); err != nil {
		t.Fatalf("the signed request itself: %v", err)
	}
	for _, c := range cases {
		h := good.Clone()
		h.Set(c.header, c.value)
		if _, err := ParseSigned(h); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestChunkSealing(t *testing.T) {
	img := bytes.Repeat([]byte("image bytes "), 1000)
	sum := sha256.Sum256(img)
	key, err := ContentKey([]byte("device secret"), "sub-1", "selfie", sum)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ContentKey([]byte("device secret"), "sub-1", "selfie", sum)
	if !bytes.Equal(key, again) {
		t.Fatal("content key is not deterministic")
	}
	other := sha256.Sum256([]byte("other image"))
	for _, k := range [][]byte{
		must(ContentKey([]byte("device secret"), "sub-2", "selfie", sum)),
		must(ContentKey([]byte("device secret"), "sub-1", "document", sum)),
		must(ContentKey([]byte("device secret"), "sub-1", "selfie", other)),
		must(ContentKey([]byte("other secret"), "sub-1", "selfie", sum)),
	} {
		if bytes.Equal(k, key) {
			t.Error("content keys collide across submissions, images or contents")
		}
	}
	sealed, err := SealChunk(key, "selfie", 4096, img[4096:8192])
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := SealChunk(key, "selfie", 4096, img[4096:8192]); !bytes.Equal(sealed, again) {
		t.Error("chunk sealing is not deterministic; a resumed upload would not match")
	}
	if bytes.Contains(sealed, []byte("image bytes")) {
		t.Error("sealed chunk contains plaintext")
	}
	pt, err := OpenChunk(key, "selfie", 4096, sealed)
	if err != nil || !bytes.Equal(pt, img[4096:8192]) {
		t.Fatalf("OpenChunk = %v", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[10] ^= 1
	cases := []struct {
		name   string
		key    []byte
		image  string
		offset int64
		sealed []byte
	}{
		{"moved offset", key, "selfie", 0, sealed},
		{"moved image", key, "document", 4096, sealed},
		{"wrong key", must(ContentKey([]byte("x"), "sub-1", "selfie", sum)), "selfie", 4096, sealed},
		{"tampered", key, "selfie", 4096, tampered},
		{"truncated", key, "selfie", 4096, sealed[:len(sealed)-1]},
		{"empty", key, "selfie", 4096, nil},
	}
	for _, c := range cases {
		if _, err := OpenChunk(c.key, c.image, c.offset, c.sealed); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", c.name, err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestManifestSealing(t *testing.T) {
	var priv [32]byte
	copy(priv[:], bytes.Repeat([]byte{3}, 32))
	pub, err := curve25519Base(priv)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealManifest(&pub, []byte(`{"name":"Siti"}`))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("Siti")) {
		t.Error("sealed manifest contains plaintext")
	}
	pt, err := OpenManifest(&pub, &priv, sealed)
	if err != nil || string(pt) != `{"name":"Siti"}` {
		t.Fatalf("OpenManifest = %q, %v", pt, err)
	}
	var otherPriv [32]byte
	if _, err := OpenManifest(&pub, &otherPriv, sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong key: %v, want ErrOpen", err)
	}
}

func TestManifestValidate(t *testing.T) {
	img := ImageMeta{Name: "selfie", Size: 10, SHA256: make([]byte, 32), Key: make([]byte, 32)}
	good := Manifest{ID: "s1", Payload: json.RawMessage(`{}`), Images: []ImageMeta{img}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(m *Manifest){
		"empty id":       func(m *Manifest) { m.ID = "" },
		"payload":        func(m *Manifest) { m.Payload = json.RawMessage(`{`) },
		"image name":     func(m *Manifest) { m.Images[0].Name = "../etc" },
		"duplicate":      func(m *Manifest) { m.Images = append(m.Images, img) },
		"size":           func(m *Manifest) { m.Images[0].Size = 0 },
		"too big":        func(m *Manifest) { m.Images[0].Size = MaxImageSize + 1 },
		"no hash":        func(m *Manifest) { m.Images[0].SHA256 = nil },
		"no content key": func(m *Manifest) { m.Images[0].Key = []byte{1} },
	}
	for name, mutate := range cases {
		m := good
		m.Images = []ImageMeta{img}
		mutate(&m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

func TestValidKeyAndName(t *testing.T) {
	if !ValidKey(SubmissionKey("x")) || ValidKey("abc") || ValidKey(strings.Repeat("g", 64)) {
		t.Error("ValidKey misjudges")
	}
	for name, ok := range map[string]bool{"selfie": true, "doc-front_1.jpg": true, "": false, "..": false, "a/b": false, "naïve": false, strings.Repeat("a", 65): false} {
		if ValidName(name) != ok {
			t.Errorf("ValidName(%q) = %v", name, !ok)
		}
	}
}

func curve25519Base(priv [32]byte) ([32]byte, error) {
	var out [32]byte
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	copy(out[:], p)
	return out, err
}
