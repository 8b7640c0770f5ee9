package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/deviceconf"
	"github.com/openkyc/kyc/internal/submission"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/vault"
)

// verifyResult is the engine's report with what the device verified by
// and, on a device with a key, the signed device check.
type verifyResult struct {
	*verify.Report
	// RiskConfig is the risk configuration document applied ("" for the
	// built-in defaults); Watchlists the lists screened against.
	RiskConfig string   `json:"risk_config,omitempty"`
	Watchlists []string `json:"watchlists"`
	// Attestation is the device check signed with the device key (made by
	// `kyc enroll` or the app), carrying central's last challenge.
	Attestation *device.Attestation `json:"attestation,omitempty"`
	// SubmissionID is the id the verification was sealed under in the
	// device's vault, queued for `kyc sync` (--submit).
	SubmissionID string `json:"submission_id,omitempty"`
}

// attest signs rep with the device's key, when the device has one, with
// the challenge of the last configuration sync verified.
func attest(d deviceconf.Device, version string, rep *device.Report) (*device.Attestation, error) {
	id, err := identity.Load(d.DeviceKeyPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // not a provisioned device: nothing to attest with
	}
	if err != nil {
		return nil, Errorf(ExitInput, "device_key", "%v", err)
	}
	att, err := submission.Attest(id, d.ConfigDir(), version, rep)
	if err != nil {
		return nil, Errorf(ExitInput, "device_config", "%v", err)
	}
	return att, nil
}

// loadDevicePolicy returns the profile's default policy, or the policy in
// file when one is given (a deployment's own, e.g. one that accepts VDI).
// Bounds of the small JSON files a command is given: a FIFO or a device
// in their place is refused (atomicfile), and a file of gigabytes is not
// read whole.
const (
	maxPolicyFile = 1 << 20
	maxRiskFile   = 4 << 20 // as central's bound on a published risk configuration
	maxCAFile     = 1 << 20
)

func loadDevicePolicy(profile, file string) (device.Policy, error) {
	pol, err := device.DefaultPolicy(device.Profile(profile))
	if err != nil {
		return pol, Errorf(ExitUsage, "usage", "%v", err)
	}
	if file == "" {
		return pol, nil
	}
	b, err := atomicfile.Read(file, maxPolicyFile)
	if err != nil {
		return pol, Errorf(ExitInput, "invalid_policy", "reading device policy: %v", err)
	}
	if err := json.Unmarshal(b, &pol); err != nil {
		return pol, Errorf(ExitInput, "invalid_policy", "decoding device policy %s: %v", file, err)
	}
	if err := pol.Validate(); err != nil {
		return pol, Errorf(ExitInput, "invalid_policy", "%v", err)
	}
	return pol, nil
}

func runVerify(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "verify")
	docPath := fs.String("document", "", "the document photo (front or data page)")
	backPath := fs.String("back", "", "the back of the card, when it has one")
	selfiePath := fs.String("selfie", "", "the selfie")
	attempt := fs.Int("attempt", 1, "attempt number in this session (for the retry policy)")
	challenge := fs.String("challenge", "", "the active liveness challenge's outcome: passed or failed, or unavailable where none can be run (a passive score in the band of doubt then goes to review); without it, that score answers CHALLENGE")
	var challengeFrames fileList
	fs.Var(&challengeFrames, "challenge-frame", "with --challenge passed: a frame that met one of the challenge's prompts (repeat for each); each must show the selfie's person (else FACE_CHALLENGE_IDENTITY) and no screen's or print's traces (else FACE_CHALLENGE_REPRODUCTION), or the challenge fails")
	lang := fs.String("lang", "en", "language of the user message: en or id")
	profile := fs.String("profile", string(device.ProfileField), "device policy profile: kiosk or field")
	policyFile := fs.String("device-policy", "", "a JSON device policy replacing the profile's default")
	noDevice := fs.Bool("no-device-check", false, "skip the device check (a file-based re-run on another machine)")
	riskFile := fs.String("risk-config", "", "a JSON risk configuration laid over the defaults (default the one sync installed; not with --submit)")
	wlDir := fs.String("watchlists", "", "screen against this folder's lists only (default central's synced lists and $"+WatchlistsEnv+"; not with --submit)")
	submit := fs.Bool("submit", false, "seal the verification with its images into the device's vault, queued for kyc sync, as the app does")
	session := fs.String("session", "", "--submit: the session the attempt belongs to (default a new random id)")
	docType := fs.String("doc-type", "", "--submit: the document type the operator chose (e.g. ktp, passport)")
	country := fs.String("country", "", "--submit: the issuing country the operator chose (e.g. IDN)")
	operator := fs.String("operator", "", "--submit: who ran the verification (default $USER)")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+"): its configuration, and its vault for --submit")
	keyFile := fs.String("vault-key-file", "", "vault key file ($"+envVaultKeyFile+"); else $"+envVaultPassphrase)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *docPath == "" || *selfiePath == "" || fs.NArg() > 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc verify --document F [--back F] --selfie F [--submit]")
	}
	if *lang != string(risk.English) && *lang != string(risk.Indonesian) {
		return nil, Errorf(ExitUsage, "usage", "--lang must be en or id")
	}
	if *submit && *noDevice {
		// Central accepts a submission only with a signed device check.
		return nil, Errorf(ExitUsage, "usage", "--submit needs the device check: drop --no-device-check")
	}
	if *submit && (*riskFile != "" || *wlDir != "") {
		// A sealed result reaches central as this device's decision: a risk
		// configuration or a folder of lists the operator names (one with
		// the thresholds down, an empty one) would decide it instead of
		// what central published, and the payload could not tell.
		return nil, Errorf(ExitUsage, "usage", "--submit decides with the configuration sync installed: drop --risk-config and --watchlists")
	}
	if *attempt < 1 {
		return nil, Errorf(ExitUsage, "usage", "--attempt counts from 1")
	}
	switch risk.ChallengeOutcome(*challenge) {
	case risk.ChallengeNone, risk.ChallengePassed, risk.ChallengeFailed, risk.ChallengeUnavailable:
	default:
		return nil, Errorf(ExitUsage, "usage", "--challenge must be passed, failed or unavailable")
	}
	if len(challengeFrames) > 0 && risk.ChallengeOutcome(*challenge) != risk.ChallengePassed {
		// Only a passed challenge has frames that met its prompts.
		return nil, Errorf(ExitUsage, "usage", "--challenge-frame goes with --challenge passed")
	}
	// The key file named opens the vault for its pin too, not --submit's
	// only: the environment's key may be another vault's.
	dev := deviceconf.Resolve(deviceconf.Overrides{Dir: *dir, KeyFile: *keyFile})
	// The vault opens before the models load: a locked vault or a wrong
	// key is said before a verification that could not be kept.
	var v *vault.Vault
	pins := dev.VaultPins()
	if *submit {
		var err error
		if v, err = openDeviceVault(ctx, dev.Dir, "", *keyFile, env.Stderr); err != nil {
			return nil, err
		}
		defer v.Close()
		pins = v
	}
	// The configuration the app decides with too: on an enrolled device
	// central's, checked against its signature and what the vault keeps
	// of the enrolment; one changed on disk, or older than the newest
	// sync installed, is refused.
	conf, err := loadDeviceConfig(ctx, env, dev, pins)
	if err != nil {
		return nil, err
	}
	rc := conf.Risk
	if *riskFile != "" {
		b, err := atomicfile.Read(*riskFile, maxRiskFile)
		if err != nil {
			return nil, Errorf(ExitInput, "invalid_risk_config", "%v", err)
		}
		if rc.Config, err = risk.ParseConfig(b); err != nil {
			return nil, Errorf(ExitInput, "invalid_risk_config", "%v", err)
		}
		rc.Path, rc.Version = *riskFile, nil // not a version central published
	}
	eng := &verify.Engine{Risk: rc.Config}
	// lastContact is when central last answered, as sync kept it in the
	// vault: the clock check's reference, as in the app.
	var lastContact time.Time
	if !*noDevice {
		pol, err := loadDevicePolicy(*profile, *policyFile)
		if err != nil {
			return nil, err
		}
		eng.Device = func(ctx context.Context) (device.Report, error) {
			return device.Run(ctx, device.Options{Policy: pol, LastCentralContact: lastContact})
		}
	}

	if v != nil {
		if lastContact, err = v.LastContact(ctx); err != nil {
			fmt.Fprintf(env.Stderr, "kyc verify: %v\n", err)
		}
	}

	start := time.Now()
	front, err := readDocumentImage("document", *docPath)
	if err != nil {
		return nil, err
	}
	defer front.Mat.Close()
	var back *document.Image
	if *backPath != "" {
		b, err := readDocumentImage("back", *backPath)
		if err != nil {
			return nil, err
		}
		defer b.Mat.Close()
		back = &b
	}
	selfieRaw, selfie, err := readImage("selfie", *selfiePath)
	if err != nil {
		return nil, err
	}
	defer selfie.Close()
	var frames []verify.ChallengeFrame
	defer func() {
		for _, f := range frames {
			f.Image.Close()
		}
	}()
	for _, path := range challengeFrames {
		// A camera frame like the selfie, not a document: the document's
		// least size is no bound of it (the engine judges its face).
		_, im, err := readImage("challenge frame", path)
		if err != nil {
			return nil, err
		}
		frames = append(frames, verify.ChallengeFrame{Prompt: filepath.Base(path), Image: im})
	}

	dirs, lists := dev.WatchlistDirs(), conf.Watchlists
	if *wlDir != "" {
		dirs = []string{*wlDir}
		if lists, err = loadWatchlists(ctx, env, dirs); err != nil {
			return nil, err
		}
	}
	engs, err := openEngines(ctx, "")
	if err != nil {
		return nil, screeningError(err)
	}
	defer engs.Close()
	eng.Document, eng.Face, eng.Screening = engs.Document, engs.Face, lists.Index()
	if eng.Screening == nil {
		fmt.Fprintf(env.Stderr, "kyc verify: no watchlists in %v: the sanctions signal is missing\n", dirs)
	}
	eng.ScreeningData = dev.ScreeningData(lists, time.Now())
	loaded := time.Now()

	rep, err := eng.Verify(ctx, verify.Input{Front: front, Back: back, Selfie: selfie, Attempt: *attempt, Lang: risk.Language(*lang),
		LivenessChallenge: risk.ChallengeOutcome(*challenge), ChallengeFrames: frames})
	if err != nil {
		return nil, faceError(err)
	}
	rep.TimingsMS["load"] = ms(loaded.Sub(start))
	if a := rep.Risk.Screening; a != nil && a.Stale {
		fmt.Fprintf(env.Stderr, "kyc verify: the watchlists are stale (sync with central): %s\n", a.Problem)
	}
	res := verifyResult{Report: rep, RiskConfig: rc.Path, Watchlists: lists.Names()}
	if *submit {
		// Every decision is sealed, a RETRY too, as the app seals it; the
		// images are the files as given, the bytes the engine read.
		meta := submission.Meta{Session: *session, Attempt: *attempt, Operator: *operator, DocType: *docType, Country: *country,
			LivenessChallenge: risk.ChallengeOutcome(*challenge)}
		if meta.Session == "" {
			meta.Session = submission.NewID("ses")
		}
		if meta.Operator == "" {
			meta.Operator = "operator " + envUser()
		}
		images := submission.Images{Front: front.Raw, Selfie: selfieRaw}
		if back != nil {
			images.Back = back.Raw
		}
		sealed, err := submission.Seal(ctx, v, dev, submission.Attempt{Meta: meta, AppVersion: env.Version, Report: rep,
			RiskVersion: rc.Version, Images: images})
		switch {
		case errors.Is(err, vault.ErrExists):
			return nil, Errorf(ExitInput, "submission_exists", "%s-%d is already in the vault: give the next --attempt or another --session", meta.Session, meta.Attempt)
		case err != nil:
			return nil, codedErr(ExitInternal, "vault", err)
		}
		res.SubmissionID, res.Attestation = sealed.ID, sealed.Attestation
		return res, nil
	}
	if rep.Device != nil {
		if res.Attestation, err = attest(dev, env.Version, rep.Device); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// fileList is a repeatable flag's files, in the order given.
type fileList []string

func (l *fileList) String() string { return strings.Join(*l, ",") }

func (l *fileList) Set(s string) error {
	if s == "" {
		return errors.New("empty file name")
	}
	*l = append(*l, s)
	return nil
}
