package central

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/openkyc/kyc/attest"
)

// TestChallengeIssuedWhileTheClockRanAhead: a challenge central issued
// while its clock read five years ahead, signed by an attestation after
// the clock was put back, is still taken (refusing it would lose the
// capture) and used once (its claim lasts as long as it could be taken),
// but says nothing of when the attestation was made: the approval is not
// taken for one made after the device reported a newer configuration
// (ReasonConfigRolledBack), and the case view does not call the device's
// clock five years behind.
func TestChallengeIssuedWhileTheClockRanAhead(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, sign, _ := ed25519.GenerateKey(nil)
	s := &Server{challenge: newChallenger(sign), cfg: Config{MaxAttestationAge: 7 * 24 * time.Hour, MaxSkew: 5 * time.Minute, ChallengeWindow: time.Hour}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	const years = 5 * 365 * 24 * time.Hour
	d := Device{ID: "dev-a", PublicKey: pub, NewestConfig: &ConfigReported{Version: 2, Since: now.Add(-time.Hour)}}
	for _, ahead := range []time.Duration{years, 0} {
		a := attest.Attestation{DeviceID: d.ID, Nonce: s.challenge.Issue(d.ID, now.Add(ahead)), Report: attest.Report{Time: now.Add(-2 * time.Hour)}}
		if err := a.Sign(priv); err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"attestation": a})
		c, err := s.checkAttestation(d, payload, now)
		if err != nil {
			t.Fatalf("an attestation signing a challenge issued %v ahead: %v; want it taken", ahead, err)
		}
		if !c.madeAfter.Equal(now.Add(ahead)) {
			t.Errorf("its claim and tombstone age from %v, want the challenge's date %v", c.madeAfter, now.Add(ahead))
		}
		v := int64(1)
		rolled := doubtRollback(d, c, &decisionDoubt{DeviceVersion: &v, VersionFrom: versionFromDecision}) != nil
		if want := ahead == 0; rolled != want {
			t.Errorf("challenge %v ahead, approval under v1 made before v2 was reported: rollback doubted %v, want %v", ahead, rolled, want)
		}
		issued, _ := s.ChallengeIssued(d.ID, a.Nonce)
		if skew := ClockSkew(a.Report.Time, now, issued); ahead > 0 && skew != 0 {
			t.Errorf("the case view calls the device's clock %v off, for a challenge issued by central's clock ahead", skew)
		}
	}
}
