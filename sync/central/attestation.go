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
	// madeAfter is the latest time, by central's clock or the report's,
	// the attestation is known to be made after: its challenge's issue
	// time when it signs one, else the report's time.
	madeAfter time.Time
	// issued is when central issued the challenge it signs, by central's
	// clock; zero when it signs none of this central's.
	issued time.Time
}

// checkAttestation checks the device attestation a submission payload
// carries under "attestation": present, issued for this device, signed by
// its enrolled key, and not old: its report dated neither in the future
// (beyond MaxSkew) nor older than MaxAttestationAge, unless it signs a
// challenge central issued to this device within MaxAttestationAge. The
// report's time is the device's clock, and a challenge proves by central's
// own clock that the attestation was made after it: a report dated 2000
// (a dead CMOS battery) or next week (a clock set forward) then says the
// device's clock was wrong, not that the attestation is old, and refusing
// it would lose, for good, every capture made while the clock was wrong.
// It also tells whether it is fresh: it signs such a challenge issued no
// later than the report, at most ChallengeWindow before it, and the report
// is not dated after central's clock. Refusals are 422 "attestation":
// resending cannot change them.
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
	issued, signed := s.challenge.Open(d.ID, a.Nonce)
	recent := signed && now.Sub(issued) <= s.cfg.MaxAttestationAge
	future := t.After(now.Add(s.cfg.MaxSkew))
	switch {
	case recent:
	case future:
		return checkedAttestation{}, s.reject("attestation", "the attestation is dated %s, after central's clock (%s), and signs no recent challenge of central's", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Sub(t) > s.cfg.MaxAttestationAge:
		return checkedAttestation{}, s.reject("attestation", "the attestation is dated %s, older than the %s central accepts, and signs no recent challenge of central's", t.UTC().Format(time.RFC3339), s.cfg.MaxAttestationAge)
	}
	c := checkedAttestation{att: a, hash: a.Hash(), madeAfter: t}
	if signed {
		c.issued = issued
		c.fresh = !future && !issued.After(t.Add(s.cfg.MaxSkew)) && t.Sub(issued) <= s.cfg.ChallengeWindow
		if issued.After(t) {
			c.madeAfter = issued
		}
	}
	if signed && issuedAhead(issued, now) {
		// Issued while central's clock read later than it does now (an
		// NTP step back, or a clock set years ahead and corrected): it is
		// taken as recent, as before, so no capture is lost, but proves
		// nothing of when the attestation was made, so nothing is judged
		// by its date (a rollback of the device's configuration, its
		// freshness). madeAfter keeps it: the claim and the tombstone last
		// as long as the challenge could be taken, so it is used once.
		c.issued, c.fresh = time.Time{}, false
	}
	return c, nil
}

// challengeClockSlack is how far after central's clock a challenge may be
// dated before it is taken as issued by a clock since put back: the
// clocks of instances sharing the sign key differ by less.
const challengeClockSlack = time.Minute

// issuedAhead reports whether a challenge issued at issued was issued by
// a clock since put back, judged at now.
func issuedAhead(issued, now time.Time) bool { return issued.After(now.Add(challengeClockSlack)) }

// maxClaimExpiry is the latest expiry a claim is stored with: the last
// second of year 9999, the last time RFC 3339 (so JSON, the embedded
// store's records) can write. A device's clock may date a report that late
// and a recent challenge still gets it taken; capped, its claim still
// lasts until no clock central runs on would take the report by its date.
var maxClaimExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// claimAttestation refuses (422) an attestation already used by another
// submission. The claim (Store.ClaimAttestation) is durable and binds the
// attestation to this submission's key, so a resend of the same
// submission, even after a store failure between the claim and
// BeginSubmission, is no reuse. It lasts as long as the attestation could
// be accepted at all (by its report's time or its challenge's); after that
// the age check refuses it anyway, or until maxClaimExpiry.
func (s *Server) claimAttestation(r *http.Request, deviceID, key string, c checkedAttestation) error {
	expires := c.madeAfter.Add(s.cfg.MaxAttestationAge + s.cfg.MaxSkew)
	if expires.After(maxClaimExpiry) {
		expires = maxClaimExpiry
	}
	err := s.cfg.Store.ClaimAttestation(r.Context(), deviceID, c.hash, key, expires)
	if errors.Is(err, ErrReplay) {
		return s.reject("attestation", "this attestation was already used by another submission: each submission needs its own")
	}
	if err != nil {
		return fmt.Errorf("claiming attestation: %w", err)
	}
	return nil
}
