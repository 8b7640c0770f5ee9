package identity_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/sync/central/store/boltstore"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/identity/identitytest"
	"github.com/openkyc/kyc/sync/internal/synctest"
	"github.com/openkyc/kyc/sync/protocol"
)

// TestEnrollPinsCentralsKeys enrols through a TLS-terminating proxy on
// loopback whose certificate the device trusts (as an intercepting
// middlebox's would be) and which swaps central's keys in the enrolment
// answer for its own. What it must not achieve: an enrolment that seals
// payloads to its box key or believes configuration signed by its key.
func TestEnrollPinsCentralsKeys(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "central.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := synctest.StartCentral(t, store, synctest.CentralOptions{})
	evilSign, _, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct {
		name string
		swap func(er *protocol.EnrollResponse)
	}{
		{"box key", func(er *protocol.EnrollResponse) { er.CentralBoxKey = bytes.Repeat([]byte{0x42}, 32) }},
		{"sign key", func(er *protocol.EnrollResponse) { er.CentralSignKey = evilSign }},
		{"both keys", func(er *protocol.EnrollResponse) {
			er.CentralBoxKey = bytes.Repeat([]byte{0x42}, 32)
			er.CentralSignKey = evilSign
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			swapped := 0
			mitm := startMITM(t, c, func(er *protocol.EnrollResponse) {
				tc.swap(er)
				swapped++
			})
			_, err := identity.EnrollWithCA(context.Background(), c.CA, mitm, c.Token(t), identity.Generate(), "t")
			if swapped != 1 {
				t.Fatalf("the proxy swapped %d answers; the test proves nothing", swapped)
			}
			if !errors.Is(err, protocol.ErrKeyMismatch) {
				t.Errorf("enrolment through a key-swapping proxy = %v, want ErrKeyMismatch", err)
			}
		})
	}
	// The same proxy passing the answer through untouched: enrolment works,
	// so the refusals above are the pinning's doing.
	mitm := startMITM(t, c, func(*protocol.EnrollResponse) {})
	e, err := identity.EnrollWithCA(context.Background(), c.CA, mitm, c.Token(t), identity.Generate(), "t")
	if err != nil {
		t.Fatalf("enrolment through an honest proxy: %v", err)
	}
	if e.CentralBoxKey != c.Box.Public || !bytes.Equal(e.CentralSignKey, c.Sign.Public().(ed25519.PublicKey)) || e.CentralCA != string(c.CA) {
		t.Error("the enrolment does not pin central's keys and CA")
	}
}

// startMITM is identitytest.EnrolmentProxy in front of c.
func startMITM(t *testing.T, c *synctest.Central, edit func(*protocol.EnrollResponse)) string {
	t.Helper()
	return identitytest.EnrolmentProxy(t, c.URL, c.Client().Transport, c.TLSDir, edit)
}
