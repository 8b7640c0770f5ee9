package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/openkyc/kyc/engine/device"
	"github.com/openkyc/kyc/engine/document"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/engine/verify"
)

// loadDevicePolicy returns the profile's default policy, or the policy in
// file when one is given (a deployment's own, e.g. one that accepts VDI).
func loadDevicePolicy(profile, file string) (device.Policy, error) {
	pol, err := device.DefaultPolicy(device.Profile(profile))
	if err != nil {
		return pol, Errorf(ExitUsage, "usage", "%v", err)
	}
	if file == "" {
		return pol, nil
	}
	b, err := os.ReadFile(file)
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
	lang := fs.String("lang", "en", "language of the user message: en or id")
	profile := fs.String("profile", string(device.ProfileField), "device policy profile: kiosk or field")
	policyFile := fs.String("device-policy", "", "a JSON device policy replacing the profile's default")
	noDevice := fs.Bool("no-device-check", false, "skip the device check (a file-based re-run on another machine)")
	riskFile := fs.String("risk-config", "", "a JSON risk configuration laid over the defaults")
	wlDir := fs.String("watchlists", "", "watchlist folder (default $"+WatchlistsEnv+" or $KYC_HOME/watchlists)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *docPath == "" || *selfiePath == "" || fs.NArg() > 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc verify --document F [--back F] --selfie F")
	}
	if *lang != string(risk.English) && *lang != string(risk.Indonesian) {
		return nil, Errorf(ExitUsage, "usage", "--lang must be en or id")
	}
	riskCfg := risk.DefaultConfig()
	if *riskFile != "" {
		b, err := os.ReadFile(*riskFile)
		if err != nil {
			return nil, Errorf(ExitInput, "invalid_risk_config", "%v", err)
		}
		if riskCfg, err = risk.ParseConfig(b); err != nil {
			return nil, Errorf(ExitInput, "invalid_risk_config", "%v", err)
		}
	}
	eng := &verify.Engine{Risk: riskCfg}
	if !*noDevice {
		pol, err := loadDevicePolicy(*profile, *policyFile)
		if err != nil {
			return nil, err
		}
		eng.Device = func(ctx context.Context) (device.Report, error) {
			return device.Run(ctx, device.Options{Policy: pol})
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
	selfie, err := readFaceImage("selfie", *selfiePath)
	if err != nil {
		return nil, err
	}
	defer selfie.Close()

	dir, err := watchlistDir(*wlDir)
	if err != nil {
		return nil, err
	}
	engs, err := openEngines(ctx, dir)
	if err != nil {
		return nil, screeningError(err)
	}
	defer engs.Close()
	eng.Document, eng.Face, eng.Screening = engs.Document, engs.Face, engs.Screening
	if eng.Screening == nil {
		fmt.Fprintf(env.Stderr, "kyc verify: no watchlists in %s: the sanctions signal is missing\n", dir)
	}
	loaded := time.Now()

	rep, err := eng.Verify(ctx, verify.Input{Front: front, Back: back, Selfie: selfie, Attempt: *attempt, Lang: risk.Language(*lang)})
	if err != nil {
		return nil, faceError(err)
	}
	rep.TimingsMS["load"] = ms(loaded.Sub(start))
	return rep, nil
}
