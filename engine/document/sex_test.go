package document

import (
	"testing"

	"github.com/openkyc/kyc/engine/document/forensics"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/testenv"
)

// TestPortraitSexThroughAnalyze reads the Icelandic specimen (its MRZ says
// F) as it is and with a man's face pasted over the portrait, each saved
// at JPEG q90: the portrait's apparent sex passes the first and contradicts
// the MRZ on the second.
func TestPortraitSexThroughAnalyze(t *testing.T) {
	a, faces := newFaceAnalyzer(t)
	ag, err := face.NewAgeGender(testenv.Model(t, "faceapi-age-gender"), testenv.Model(t, "faceapi-age-gender-weights"), ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	a.cfg.AgeGender = ag
	page, err := imageio.ReadFile(testenv.Data(t, "mrz", "passporteye", "100_pass-isl.png"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	// A man (interfaces_cc0, CC0).
	donor, err := imageio.ReadFile(testenv.Data(t, "liveness", "interfaces_cc0", "089.jpg"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer donor.Close()
	swapped := swapFace(t, faces, page, donor)
	defer swapped.Close()
	for _, c := range []struct {
		name string
		fire bool
	}{{"genuine", false}, {"a man's face pasted", true}} {
		src := page
		if c.fire {
			src = swapped
		}
		raw := jpegBytes(t, src, 90)
		res, err := analyzeRaw(t, a, raw)
		if err != nil {
			t.Fatal(err)
		}
		var sex *forensics.Check
		for i, ch := range res.Forensics.Checks {
			if ch.Name == forensics.CheckPortraitSex {
				sex = &res.Forensics.Checks[i]
			}
		}
		t.Logf("%s: portrait %v, MRZ read %v", c.name, res.Portrait, res.MRZ != nil)
		res.Close()
		if sex == nil || !sex.Applicable {
			t.Fatalf("%s: no applicable sex check (%v)", c.name, sex)
		}
		t.Logf("%s: %v", c.name, sex.Evidence)
		if fired := sex.Score < 0.5; fired != c.fire {
			t.Errorf("%s: fired %v, want %v: %v", c.name, fired, c.fire, sex.Evidence)
		}
	}
}
