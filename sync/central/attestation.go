package central

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openkyc/kyc/attest"
)

// checkedAttestation is a submission's attestation that passed the checks.
type checkedAttestation struct {
	att   attest.Attestation
	hash  [sha256.Size]byte
	fresh bool
}

// checkAttestation checks the device attestation a submission payload
// carries under "attestation": present, issued for this device, signed by
// its enrolled key, its report dated neither in the future (beyond
// MaxSkew) nor older than MaxAttestationAge. It also tells whether it is
// fresh: it signs a challenge central issued to this device no later than
// the report, and at most ChallengeWindow before it. Refusals are 422
// "attestation": resending cannot change them.
func (s *Server) checkAttestation(d Device, payload json.RawMessage, now time.Time) (checkedAttestation, error) {
	var p struct {
		Attestation *attest.Attestation `json:"attestation"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.Attestation == nil {
		return checkedAttestation{}, s.reject("attestation", "the payload carries no device attestation")
	}
	a := *p.Attestation
	if a.DeviceID != d.ID {
		return checkedAttestation{}, s.reject("attestation", "the attestation was issued for another device")
	}
	if err := attest.Verify(d.PublicKey, a); err != nil {
		return checkedAttestation{}, s.reject("attestation", "the attestation's signature does not verify with the device's key")
	}
	t := a.Report.Time
	switch {
	case t.After(now.Add(s.cfg.MaxSkew)):
		return checkedAttestation{}, s.reject("attestation", "the attestation is dated %s, after central's clock (%s)", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Sub(t) > s.cfg.MaxAttestationAge:
		return checkedAttestation{}, s.reject("attestation", "the attestation is dated %s, older than the %s central accepts", t.UTC().Format(time.RFC3339), s.cfg.MaxAttestationAge)
	}
	c := checkedAttestation{att: a, hash: a.Hash()}
	if issued, ok := s.challenge.Open(d.ID, a.Nonce); ok {
		c.fresh = !issued.After(t.Add(s.cfg.MaxSkew)) && t.Sub(issued) <= s.cfg.ChallengeWindow
	}
	return c, nil
}

// claimAttestation refuses (422) an attestation already used by another
// submission. The claim (Store.ClaimAttestation) is durable and binds the
// attestation to this submission's key, so a resend of the same
// submission, even after a store failure between the claim and
// BeginSubmission, is no reuse. It lasts as long as the attestation could
// be accepted at all; after that the age check refuses it anyway.
func (s *Server) claimAttestation(r *http.Request, deviceID, key string, c checkedAttestation) error {
	expires := c.att.Report.Time.Add(s.cfg.MaxAttestationAge + s.cfg.MaxSkew)
	err := s.cfg.Store.ClaimAttestation(r.Context(), deviceID, c.hash, key, expires)
	if errors.Is(err, ErrReplay) {
		return s.reject("attestation", "this attestation was already used by another submission: each submission needs its own")
	}
	if err != nil {
		return fmt.Errorf("claiming attestation: %w", err)
	}
	return nil
}
