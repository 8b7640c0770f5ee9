package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks test vector (the spec repository's reference
// libraries all test it).
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSpecVector(t *testing.T) {
	key, err := DecodeSecret(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Sign([][]byte{key}, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Fatalf("signature %q, the spec's %q", got, vectorSig)
	}
	// keyOf takes the secret as shown or the raw key alike.
	for _, opened := range [][]byte{[]byte(vectorSecret), key} {
		k, err := keyOf(opened)
		if err != nil || string(k) != string(key) {
			t.Fatalf("keyOf(%q) = %x, %v", opened, k, err)
		}
	}
}

func headers(t *testing.T, secrets []string, id string, ts time.Time, body string) http.Header {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		k, err := DecodeSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	h := http.Header{}
	if err := SetHeaders(h, keys, id, ts, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerify(t *testing.T) {
	cur, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	old, _ := NewSecret()
	other, _ := NewSecret()
	if !strings.HasPrefix(cur, SecretPrefix) || cur == old {
		t.Fatalf("secrets %q %q", cur, old)
	}
	now := time.Now()
	body := `{"type":"submission.completed","timestamp":"2026-12-01T10:00:00Z","data":{"session_id":"s1"}}`
	for _, tc := range []struct {
		name    string
		secret  string // the receiver's
		signers []string
		ts      time.Time
		body    string
		edit    func(h http.Header)
		want    error
	}{
		{name: "good", secret: cur, signers: []string{cur}, ts: now, body: body},
		{name: "rotation: the old secret", secret: old, signers: []string{cur, old}, ts: now, body: body},
		{name: "rotation: the new secret", secret: cur, signers: []string{cur, old}, ts: now, body: body},
		{name: "wrong secret", secret: other, signers: []string{cur}, ts: now, body: body, want: ErrBadSignature},
		{name: "body changed", secret: cur, signers: []string{cur}, ts: now, body: body + " ", want: ErrBadSignature},
		{name: "stale timestamp", secret: cur, signers: []string{cur}, ts: now.Add(-6 * time.Minute), body: body, want: ErrTooOld},
		{name: "future timestamp", secret: cur, signers: []string{cur}, ts: now.Add(6 * time.Minute), body: body, want: ErrTooNew},
		{name: "just within tolerance", secret: cur, signers: []string{cur}, ts: now.Add(-4 * time.Minute), body: body},
		{name: "id changed", secret: cur, signers: []string{cur}, ts: now, body: body,
			edit: func(h http.Header) { h.Set(HeaderID, "evt_other") }, want: ErrBadSignature},
		{name: "timestamp changed", secret: cur, signers: []string{cur}, ts: now, body: body,
			edit: func(h http.Header) { h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)) }, want: ErrBadSignature},
		{name: "no signature", secret: cur, signers: []string{cur}, ts: now, body: body,
			edit: func(h http.Header) { h.Del(HeaderSignature) }, want: ErrMissingHeaders},
		{name: "other version only", secret: cur, signers: []string{cur}, ts: now, body: body,
			edit: func(h http.Header) { h.Set(HeaderSignature, strings.Replace(h.Get(HeaderSignature), "v1,", "v1a,", 1)) }, want: ErrBadSignature},
		{name: "receiver secret malformed", secret: "whsec_***", signers: []string{cur}, ts: now, body: body, want: ErrBadSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := headers(t, tc.signers, "evt_1", tc.ts, body)
			if tc.edit != nil {
				tc.edit(h)
			}
			err := Verify(tc.secret, h, []byte(tc.body))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignatureHeaderHasOneSignaturePerKey(t *testing.T) {
	a, _ := NewSecret()
	b, _ := NewSecret()
	h := headers(t, []string{a, b}, "evt_1", time.Now(), "{}")
	parts := strings.Split(h.Get(HeaderSignature), " ")
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") || parts[0] == parts[1] {
		t.Fatalf("webhook-signature %q", h.Get(HeaderSignature))
	}
}
