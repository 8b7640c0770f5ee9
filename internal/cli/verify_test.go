package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/testenv"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// TestVerifyAttestsWithTheChallenge: on a device with a key, `kyc verify`
// signs its device check with central's last challenge in it; a device
// without a key attests nothing rather than making a key.
func TestVerifyAttestsWithTheChallenge(t *testing.T) {
	d := deviceconf.Device{Dir: t.TempDir()}
	rep := &device.Report{Verdict: device.VerdictOK, Profile: device.ProfileField, Time: time.Now()}
	if att, err := attest(d, "v-test", rep); err != nil || att != nil {
		t.Fatalf("without a device key: %+v %v", att, err)
	}
	if _, err := os.Stat(d.DeviceKeyPath()); err == nil {
		t.Fatal("attesting made a device key")
	}
	id, err := identity.LoadOrCreate(d.DeviceKeyPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(protocol.Config{Version: 4, Challenge: "challenge-7"})
	if err := os.WriteFile(filepath.Join(d.ConfigDir(), agent.ConfigFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	att, err := attest(d, "v-test", rep)
	if err != nil || att == nil {
		t.Fatalf("attest: %+v %v", att, err)
	}
	if att.Nonce != "challenge-7" || att.DeviceID != id.DeviceID() {
		t.Errorf("attestation %+v, want central's challenge and the device's id", att)
	}
	if err := device.Verify(id.Public(), *att); err != nil {
		t.Errorf("the attestation does not verify: %v", err)
	}
	att.Nonce = "challenge-8"
	if err := device.Verify(id.Public(), *att); err == nil {
		t.Error("a changed challenge still verifies")
	}
}

// TestVerifyChallengeOutcome: `kyc verify --challenge` hands the outcome
// to the risk engine. The selfie's passive liveness is in doubt (a
// greyscale face, never accepted passively): without the flag a challenge
// is asked for, told that none can be run the doubt goes to review, and a
// passed challenge lifts it, unless a frame given as having met its
// prompts (--challenge-frame) shows another person than the selfie: then
// it failed, FACE_CHALLENGE_IDENTITY. (The photo given as the document is
// no document, so a document retry leads the route: the path is what
// counts.)
func TestVerifyChallengeOutcome(t *testing.T) {
	bbt := testenv.Data(t, "faces", "faceapi_bbt")
	doc, selfie := filepath.Join(bbt, "leonard", "leonard1.png"), filepath.Join(bbt, "leonard", "leonard2.png")
	turned, other := filepath.Join(bbt, "leonard", "leonard3.png"), filepath.Join(bbt, "sheldon", "sheldon3.png")
	for _, c := range []struct {
		challenge string
		frames    []string
		path      risk.LivenessPath
		doubt     bool
		lead      risk.ReasonCode // the liveness's reason; "" for none to check
	}{
		{challenge: "", path: risk.LivenessChallengeRequested, doubt: true},
		{challenge: "unavailable", path: risk.LivenessDoubtReview, doubt: true},
		{challenge: "passed", path: risk.LivenessChallengePassed, lead: risk.FaceChallengePassed},
		{challenge: "passed", frames: []string{turned}, path: risk.LivenessChallengePassed, lead: risk.FaceChallengePassed},
		{challenge: "passed", frames: []string{turned, other}, path: risk.LivenessChallengeFailed, lead: risk.FaceChallengeIdentity},
	} {
		args := []string{"verify", "--document", doc, "--selfie", selfie, "--no-device-check", "--challenge", c.challenge}
		for _, f := range c.frames {
			args = append(args, "--challenge-frame", f)
		}
		r := kyc(t, nil, args...)
		var out struct {
			Risk risk.Result `json:"risk"`
			Face struct {
				Challenge *struct {
					SamePerson bool `json:"same_person"`
					Frames     []struct {
						Similarity float64 `json:"similarity"`
					} `json:"frames"`
				} `json:"challenge"`
			} `json:"face"`
		}
		if r.exit != ExitOK || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("--challenge %q %v: exit %d %s %s", c.challenge, c.frames, r.exit, r.stdout, r.stderr)
		}
		has := func(code risk.ReasonCode) bool {
			return slices.ContainsFunc(out.Risk.Reasons, func(r risk.Reason) bool { return r.Code == code })
		}
		if out.Risk.LivenessPath != c.path || has(risk.FaceLivenessDoubt) != c.doubt || c.lead != "" && !has(c.lead) {
			t.Errorf("--challenge %q %v: path %q, doubt %v; want %q, %v, %s (reasons %v)", c.challenge, c.frames,
				out.Risk.LivenessPath, has(risk.FaceLivenessDoubt), c.path, c.doubt, c.lead, out.Risk.Reasons)
		}
		if ch := out.Face.Challenge; (ch != nil) != (len(c.frames) > 0) || ch != nil && len(ch.Frames) != len(c.frames) {
			t.Errorf("--challenge-frame %v: report %+v", c.frames, ch)
		}
	}
	// A frame is a camera's picture, not a document: one under the
	// document's least size is judged, not refused as an input, and fails
	// the challenge: too small to look for a screen's or a print's traces.
	small := filepath.Join(t.TempDir(), "small.png")
	writeScaled(t, turned, small, 48)
	if r := kyc(t, nil, "verify", "--document", doc, "--selfie", selfie, "--no-device-check", "--challenge", "passed", "--challenge-frame", small); r.exit != ExitOK || !strings.Contains(r.stdout, string(risk.FaceChallengeReproduction)) {
		t.Errorf("a 48-pixel challenge frame: exit %d %s %s; want it judged, FACE_CHALLENGE_REPRODUCTION", r.exit, r.stdout, r.stderr)
	}
	if r := kyc(t, nil, "verify", "--document", doc, "--selfie", selfie, "--challenge", "failed", "--challenge-frame", other); r.exit != ExitUsage {
		t.Errorf("frames of a failed challenge: exit %d, want a usage error", r.exit)
	}
}

// TestVerifyReadsThePinWithTheKeyFileNamed: without --submit, `kyc verify`
// reads the vault's enrolment pin with the key --vault-key-file names, not
// the environment's: the pin of a device whose enrolment file is gone
// refuses the verification before any image is read.
func TestVerifyReadsThePinWithTheKeyFileNamed(t *testing.T) {
	dir, keyFile := deviceEnv(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := vault.Open(ctx, filepath.Join(dir, vaultFile), vault.KeyFile(keyFile), vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = v.SetPin(ctx, vault.Pin{CentralURL: "https://central.example.org", DeviceID: "dev-1", Keys: []byte("keys")})
	v.Close()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if err := vault.GenerateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envVaultKeyFile, other)
	absent := filepath.Join(t.TempDir(), "absent.jpg")
	code, res := runCLI(t, "verify", "--document", absent, "--selfie", absent, "--no-device-check", "--vault-key-file", keyFile)
	if code != ExitRejected || errCode(res) != "enrollment_removed" {
		t.Fatalf("verify with the vault's key file named: exit %d, %v; want enrollment_removed", code, res)
	}
}

// TestVaultAndEnrollmentCodes: a vault file that is not one and an
// enrolment file that is not one are said so with their own codes, not
// internal, by the commands that read them.
func TestVaultAndEnrollmentCodes(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent.jpg")
	verify := []string{"verify", "--document", absent, "--selfie", absent, "--no-device-check"}
	for _, tc := range []struct {
		name, file, content string
		args                []string
		exit                int
		code                string
	}{
		{"verify, vault damaged", vaultFile, strings.Repeat("not a vault ", 1000), verify, ExitRejected, "vault_corrupt"},
		{"sync --list, vault damaged", vaultFile, strings.Repeat("not a vault ", 1000), []string{"sync", "--list"}, ExitRejected, "vault_corrupt"},
		{"verify, enrolment malformed", enrollmentFile, "{not json", verify, ExitInput, "enrollment_invalid"},
		{"sync, enrolment malformed", enrollmentFile, "{not json", []string{"sync", "--once"}, ExitInput, "enrollment_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := deviceEnv(t)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			// The device key, which sync reads before the enrolment.
			if _, err := identity.LoadOrCreate(filepath.Join(dir, deviceconf.DeviceKeyFile)); err != nil {
				t.Fatal(err)
			}
			// An enrolled device has its vault (made before the
			// enrolment): without it the vault is what is missing.
			if tc.file == enrollmentFile {
				if code, res := runCLI(t, "sync", "--list"); code != ExitOK {
					t.Fatalf("making the vault: exit %d %v", code, res)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if code, res := runCLI(t, tc.args...); code != tc.exit || errCode(res) != tc.code {
				t.Errorf("exit %d, %v; want %d, %s", code, res, tc.exit, tc.code)
			}
		})
	}
}

// TestDamagedPageMessage: what a damaged page did to the read (Go's text
// of a recovered panic) goes to stderr, not into the message.
func TestDamagedPageMessage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := fmt.Errorf("reading the outbox: %w", &vault.DamagedError{Cause: "runtime error: invalid memory address or nil pointer dereference"})
	code := fail(&Env{Stdout: &stdout, Stderr: &stderr}, err)
	var res map[string]map[string]string
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("output %q: %v", stdout.String(), jerr)
	}
	if code != ExitRejected || res["error"]["code"] != "vault_corrupt" || strings.Contains(res["error"]["message"], "nil pointer") {
		t.Errorf("exit %d, %v; want vault_corrupt without Go's panic text", code, res)
	}
	if !strings.Contains(stderr.String(), "nil pointer dereference") {
		t.Errorf("stderr %q does not keep the cause", stderr.String())
	}
}

// writeScaled writes the picture at src to dst (PNG) scaled to side
// pixels wide.
func writeScaled(t *testing.T, src, dst string, side int) {
	t.Helper()
	m := gocv.IMRead(src, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() {
		t.Fatalf("reading %s", src)
	}
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(m, &small, image.Pt(side, side*m.Rows()/m.Cols()), 0, 0, gocv.InterpolationArea)
	if !gocv.IMWrite(dst, small) {
		t.Fatalf("writing %s", dst)
	}
}
