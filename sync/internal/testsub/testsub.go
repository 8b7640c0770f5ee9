// Package testsub builds the deterministic submissions sync's tests, its
// benchmarks and kyc-drill send, and sums up their content to compare what
// central holds with what was sent. It stands apart from synctest, which
// uses it, so that kyc-drill does not link the OpenAPI validator synctest
// holds test requests to (partnerapi/apitest: 3.4 MiB of the binary).
package testsub

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// Person is the personal data in submission n, for wire-capture checks.
func Person(n int) (name, nik string) {
	return fmt.Sprintf("Siti Nurhaliza Binti Test%04d", n), fmt.Sprintf("3174%012d", 96_000_000+n)
}

// New builds submission n of a device, deterministically (the same id and
// n give the same bytes, so a killed process's submissions can be
// checked): a payload with a name, a NIK and a signed attestation, and
// images of imageSize bytes (none if imageSize is 0).
func New(id *identity.Identity, n, imageSize int) (vault.Submission, error) {
	// Central refuses attestations older than its maximum age (30 days by
	// default) and ones from its future, so submissions are dated a day
	// before the start of the current 7-day period: the same in every
	// process of a test, under 9 days old, and never ahead of the clock
	// for n under 86,400.
	created := time.Now().UTC().Truncate(7 * 24 * time.Hour).Add(-24*time.Hour + time.Duration(n)*time.Second)
	att := device.Attestation{
		DeviceID: id.DeviceID(), AppVersion: "test",
		Report: device.Report{Verdict: device.VerdictOK, Profile: device.ProfileKiosk, Time: created, OS: "linux", Arch: "amd64"},
	}
	if err := att.Sign(id.Signer()); err != nil {
		return vault.Submission{}, err
	}
	name, nik := Person(n)
	payload, err := json.Marshal(map[string]any{"name": name, "nik": nik, "decision": "approve", "attestation": att})
	if err != nil {
		return vault.Submission{}, err
	}
	s := vault.Submission{ID: fmt.Sprintf("sub-%s-%05d", id.DeviceID()[:8], n), CreatedAt: created, Payload: payload}
	if imageSize > 0 {
		rng := rand.New(rand.NewPCG(uint64(n), 42))
		s.Images = map[string][]byte{}
		for _, name := range []string{"selfie", "document"} {
			img := make([]byte, imageSize)
			for i := range img {
				img[i] = byte(rng.UintN(256))
			}
			s.Images[name] = img
		}
	}
	return s, nil
}

// Hash summarises a submission's content for comparison.
func Hash(id string, payload []byte, images map[string][]byte) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s|%d:", len(id), id, len(payload))
	h.Write(payload)
	for _, n := range slices.Sorted(maps.Keys(images)) {
		sum := sha256.Sum256(images[n])
		fmt.Fprintf(h, "|%s:", n)
		h.Write(sum[:])
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
