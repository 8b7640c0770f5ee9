package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		kind      central.IdentifierKind
		in, want  string
		wantFound bool
	}{
		{central.IdentNIK, "3174 0961-1290.0001", "3174096112900001", true},
		{central.IdentNIK, "NIK: none", "", false},
		{central.IdentDocumentNumber, "a1b2-c3 d4", "A1B2C3D4", true},
		{central.IdentDocumentNumber, "--", "", false},
		{central.IdentName, "  Siti   NURHALIZA ", "nurhaliza siti", true},
		{central.IdentName, "NURHALIZA<<SITI", "nurhaliza siti", true},
		{central.IdentName, "Nurhaliza, Sití", "nurhaliza siti", true},
		{central.IdentName, "José Ångström-Müller", "angstrom jose muller", true},
		{central.IdentName, "Straße", "strasse", true},
		{central.IdentName, "<<<", "", false},
	}
	for _, c := range cases {
		got, ok := Normalize(c.kind, c.in)
		if got != c.want || ok != c.wantFound {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q, %v", c.kind, c.in, got, ok, c.want, c.wantFound)
		}
		if again, _ := Normalize(c.kind, got); again != got {
			t.Errorf("Normalize(%s) is not idempotent: %q -> %q", c.kind, got, again)
		}
	}
}

func TestIdentifiers(t *testing.T) {
	app := []byte(`{"session_id":"s","report":{"decision":"approve","document":{
		"fields":{"nik":{"value":"3174096112900001"},"name":{"value":"SITI NURHALIZA"},"surname":{"value":"NURHALIZA"},"given_names":{"value":"SITI"}},
		"nik":{"number":"3174096112900001"},
		"mrz":{"fields":{"document_number":"X1234567<","surname":"NURHALIZA","given_names":"SITI"}}},
		"screening":{"name":"Siti Nurhaliza"}}}`)
	got := Identifiers(app)
	want := map[central.IdentifierKind][]string{
		central.IdentNIK:            {"3174096112900001"},
		central.IdentDocumentNumber: {"3174096112900001", "X1234567"},
		central.IdentName:           {"nurhaliza siti"},
	}
	for kind, w := range want {
		g := slices.Clone(got[kind])
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("%s = %v, want %v", kind, g, w)
		}
	}
	flat := Identifiers([]byte(`{"name":"Budi Santoso","nik":"3201015505850002","decision":"approve"}`))
	if len(flat[central.IdentNIK]) != 1 || len(flat[central.IdentName]) != 1 {
		t.Errorf("flat payload: %v", flat)
	}
	if Identifiers([]byte("not json")) != nil {
		t.Error("identifiers of a payload that is not JSON")
	}
}

func TestDecision(t *testing.T) {
	payload := []byte(`{"session_id":"s1","attempt":2,"operator":"op","doc_type":"ktp","country":"IDN","app_version":"1.0",
		"report":{"decision":"review","score":0.4375,"next_action":"review","user_message":"Terima kasih, Siti",
			"reasons":[{"code":"watchlist_hit","detail":"SITI NURHALIZA on list X"}],
			"document":{"fields":{"nik":{"value":"3174096112900001"}}},"face":{"match":{"score":0.9}}},
		"attestation":{"device_id":"d1"},"nik":"3174096112900001","name":"SITI"}`)
	var got map[string]any
	if err := json.Unmarshal(Decision(payload), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"app_version":"1.0","attempt":2,"attestation":{"device_id":"d1"},"country":"IDN","doc_type":"ktp","operator":"op",` +
		`"report":{"decision":"review","next_action":"review","reasons":["watchlist_hit"],"score":0.4375},"session_id":"s1"}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("Decision =\n%s\nwant\n%s", b, want)
	}
	if Decision([]byte(`[1,2]`)) != nil {
		t.Error("decision of a payload that is not an object")
	}
}

// TestSealedValuesStayPut: a sealed value opens only for what and where
// it was sealed: another purpose, submission, image or offset refuses it,
// as does any altered byte.
func TestSealedValuesStayPut(t *testing.T) {
	a, err := newAEAD(random(32))
	if err != nil {
		t.Fatal(err)
	}
	ref := central.SubmissionRef{DeviceID: "d1", Key: "k1"}
	chunk := encrypt(a, []byte("image bytes"), aad(purposeChunk, ref, "selfie", "0"))
	if got, err := decrypt(a, chunk, aad(purposeChunk, ref, "selfie", "0")); err != nil || string(got) != "image bytes" {
		t.Fatalf("decrypt = %q, %v", got, err)
	}
	elsewhere := map[string][]byte{
		"other offset":     aad(purposeChunk, ref, "selfie", "1048576"),
		"other image":      aad(purposeChunk, ref, "front", "0"),
		"other submission": aad(purposeChunk, central.SubmissionRef{DeviceID: "d1", Key: "k2"}, "selfie", "0"),
		"other device":     aad(purposeChunk, central.SubmissionRef{DeviceID: "d2", Key: "k1"}, "selfie", "0"),
		"other purpose":    aad(purposePayload, ref, "selfie", "0"),
	}
	for name, ad := range elsewhere {
		if _, err := decrypt(a, chunk, ad); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: %v, want ErrTampered", name, err)
		}
	}
	for i := range chunk {
		bad := bytes.Clone(chunk)
		bad[i] ^= 1
		if _, err := decrypt(a, bad, aad(purposeChunk, ref, "selfie", "0")); !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d altered: %v, want ErrTampered", i, err)
		}
	}
	if _, err := decrypt(a, chunk[:10], nil); !errors.Is(err, ErrTampered) {
		t.Errorf("truncated: %v", err)
	}
}

func TestKeyringFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "central.keys")
	kr, err := LoadOrCreateKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	id, wrapped, err := kr.Wrap(ctx, []byte("0123456789abcdef0123456789abcdef"), []byte("row 1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if dek, err := again.Unwrap(ctx, id, wrapped, []byte("row 1")); err != nil || string(dek) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("the keyring read again does not unwrap: %v", err)
	}
	if _, err := again.Unwrap(ctx, id, wrapped, []byte("row 2")); err == nil {
		t.Error("a wrapped key opened for another row")
	}
	tokA, _ := kr.Token(central.IdentNIK, "3174096112900001")
	tokB, _ := again.Token(central.IdentNIK, "3174-0961-1290-0001")
	other, err := LoadOrCreateKeyring(filepath.Join(t.TempDir(), "other.keys"))
	if err != nil {
		t.Fatal(err)
	}
	tokC, _ := other.Token(central.IdentNIK, "3174096112900001")
	if !bytes.Equal(tokA, tokB) || bytes.Equal(tokA, tokC) || bytes.Contains(tokA, []byte("3174")) {
		t.Error("tokens must match for one keyring and value, and differ across keyrings")
	}

	// Rotation in one process is seen by another reading the same file.
	newID, err := kr.AddKey(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := again.CurrentKeyID(ctx); err != nil || cur != newID {
		t.Errorf("the other reader's current key = %q, %v; want %q", cur, err, newID)
	}
	if retired, err := kr.Retire(); err != nil || !slices.Equal(retired, []string{id}) {
		t.Errorf("Retire = %v, %v; want [%s]", retired, err, id)
	}
	if _, err := again.Unwrap(ctx, id, wrapped, []byte("row 1")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a retired key still unwraps in the other reader: %v", err)
	}

	// A keyring others can read is refused, as is a damaged one.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyring(path); !errors.Is(err, ErrBadKeyring) {
		t.Errorf("a world-readable keyring = %v, want ErrBadKeyring", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.keys")
	if err := os.WriteFile(bad, []byte(`{"format":"openkyc-central-keyring-v1","current":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyring(bad); !errors.Is(err, ErrBadKeyring) {
		t.Errorf("a keyring without keys = %v, want ErrBadKeyring", err)
	}
}
