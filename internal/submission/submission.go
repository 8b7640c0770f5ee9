// Package submission is the sealed record of one verification attempt: the
// payload the desktop app and `kyc verify --submit` both put into the
// device's vault for sync (the session context, the engine's report and the
// device check signed with the device key), its images, and the sealing
// itself. Both go through this package, so what central receives from a
// kiosk and from a headless device cannot drift apart; central reads the
// same JSON (central.Summarize).
package submission

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// Image names of a sealed attempt, as central and its console read them.
const (
	ImageFront  = "front"
	ImageBack   = "back"
	ImageSelfie = "selfie"
)

// Meta is the session context sealed with the engine's report.
type Meta struct {
	Session  string `json:"session_id"`
	Attempt  int    `json:"attempt"`
	Operator string `json:"operator"`
	DocType  string `json:"doc_type"`
	Country  string `json:"country"`
	// LivenessChallenge is the outcome of the attempt's active challenge
	// (Challenges, in order), empty when there was none, unavailable when
	// the client could run none; ChallengeAfter is
	// the submission whose CHALLENGE asked for it, when the risk engine
	// did (this submission is then that one's ID + "-challenge").
	LivenessChallenge risk.ChallengeOutcome `json:"liveness_challenge,omitempty"`
	Challenges        []string              `json:"challenges,omitempty"`
	ChallengeAfter    string                `json:"challenge_after,omitempty"`
}

// ID is the attempt's submission id: SESSION-ATTEMPT, or the id of the
// submission whose CHALLENGE asked for this attempt followed by
// "-challenge".
func (m Meta) ID() string {
	if m.ChallengeAfter != "" {
		return m.ChallengeAfter + "-challenge"
	}
	return fmt.Sprintf("%s-%d", m.Session, m.Attempt)
}

// Payload is the sealed payload of one attempt.
type Payload struct {
	Meta
	App    string         `json:"app_version"`
	Report *verify.Report `json:"report"`
	// RiskVersion is central's version of the risk configuration the
	// report was decided under (0: the built-in defaults): central judges
	// the decision by that version's bands, however late it syncs.
	// Absent when the device cannot tell (a configuration not from sync),
	// and from devices older than it: central then goes by the device's
	// last status.
	RiskVersion *int64 `json:"risk_version,omitempty"`
	// Attestation is the device check of this attempt, signed with the
	// device key: central refuses a submission without a valid one.
	Attestation *device.Attestation `json:"attestation"`
}

// Images are an attempt's pictures as sealed: the encoded bytes the engine
// read (Back may be nil).
type Images struct {
	Front, Back, Selfie []byte
}

func (im Images) vault() (map[string][]byte, error) {
	if len(im.Front) == 0 || len(im.Selfie) == 0 {
		return nil, errors.New("an attempt is sealed with its document front and its selfie")
	}
	m := map[string][]byte{ImageFront: im.Front, ImageSelfie: im.Selfie}
	if len(im.Back) > 0 {
		m[ImageBack] = im.Back
	}
	return m, nil
}

// Attest signs rep with id, with the challenge of the last configuration
// sync verified (in configDir) as its nonce: that shows central the
// attestation was made after the challenge was issued.
func Attest(id *identity.Identity, configDir, appVersion string, rep *device.Report) (*device.Attestation, error) {
	if rep == nil {
		return nil, errors.New("attesting: no device report")
	}
	nonce, err := deviceconf.Challenge(configDir)
	if err != nil {
		return nil, fmt.Errorf("attesting: %w", err)
	}
	att := &device.Attestation{DeviceID: id.DeviceID(), AppVersion: appVersion, Nonce: nonce, Report: *rep}
	if err := att.Sign(id.Signer()); err != nil {
		return nil, fmt.Errorf("attesting: %w", err)
	}
	return att, nil
}

// AttestDevice is Attest with the device's key, created on first use (the
// same key `kyc enroll` registers with central, so an attempt sealed
// before the enrolment is accepted after it).
func AttestDevice(dev deviceconf.Device, appVersion string, rep *device.Report) (*device.Attestation, error) {
	if rep == nil {
		return nil, errors.New("attesting: no device report")
	}
	id, err := identity.LoadOrCreate(dev.DeviceKeyPath())
	if err != nil {
		return nil, fmt.Errorf("attesting: loading the device key: %w", err)
	}
	return Attest(id, dev.ConfigDir(), appVersion, rep)
}

// Attempt is one verification attempt to seal.
type Attempt struct {
	Meta       Meta
	AppVersion string
	Report     *verify.Report
	// RiskVersion is the version of the risk configuration Report was
	// decided under (deviceconf.Risk.Version), nil when unknown.
	RiskVersion *int64
	Images      Images
}

// Sealed is what Seal put into the vault.
type Sealed struct {
	ID          string
	Attestation *device.Attestation
}

// Seal signs the attempt's device check with the device key, encodes the
// payload and puts it with its images into v, queued for sync, in one
// vault transaction: once it returns nil the attempt survives a crash and
// will reach central. Every result of the engine is sealed, a RETRY too
// (a face that was not found is a decision, and central's console shows
// the attempt history); a failure here seals nothing.
func Seal(ctx context.Context, v *vault.Vault, dev deviceconf.Device, a Attempt) (Sealed, error) {
	if v == nil {
		return Sealed{}, errors.New("sealing the submission: the vault is not open")
	}
	if a.Report == nil {
		return Sealed{}, errors.New("sealing the submission: no report")
	}
	images, err := a.Images.vault()
	if err != nil {
		return Sealed{}, fmt.Errorf("sealing the submission: %w", err)
	}
	att, err := AttestDevice(dev, a.AppVersion, a.Report.Device)
	if err != nil {
		return Sealed{}, err
	}
	payload, err := json.Marshal(Payload{Meta: a.Meta, App: a.AppVersion, Report: a.Report, RiskVersion: a.RiskVersion, Attestation: att})
	if err != nil {
		return Sealed{}, fmt.Errorf("encoding the submission: %w", err)
	}
	defer clear(payload)
	id := a.Meta.ID()
	if err := v.PutSubmission(ctx, vault.Submission{ID: id, Payload: payload, Images: images}); err != nil {
		return Sealed{}, fmt.Errorf("sealing the submission: %w", err)
	}
	return Sealed{ID: id, Attestation: att}, nil
}

// NewID returns a fresh random id: prefix, the UTC time to the second and
// 64 random bits ("ses-20261201T173143-0f3a...").
func NewID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return prefix + "-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}
