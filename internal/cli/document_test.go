package cli

import (
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkyc/kyc/internal/testenv"
)

func TestDocumentCommand(t *testing.T) {
	r := kyc(t, nil, "document", "--image", testenv.Data(t, "mrz", "passporteye", "passport-td3.jpg"))
	if r.exit != 0 {
		t.Fatalf("exit %d: %s %s", r.exit, r.stdout, r.stderr)
	}
	var res struct {
		Type string `json:"type"`
		MRZ  *struct {
			Format     string `json:"format"`
			ValidScore int    `json:"valid_score"`
			Fields     struct {
				Surname        string `json:"surname"`
				DocumentNumber string `json:"document_number"`
			} `json:"fields"`
		} `json:"mrz"`
		Portrait  *struct{}          `json:"portrait"`
		TimingsMS map[string]float64 `json:"timings_ms"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Type != "passport" || res.MRZ == nil || res.MRZ.Format != "TD3" || res.MRZ.ValidScore != 100 ||
		res.MRZ.Fields.Surname != "ERIKSSON" || res.MRZ.Fields.DocumentNumber != "L898902C3" {
		t.Fatalf("ICAO specimen read as %+v", res)
	}
	if res.Portrait == nil || res.TimingsMS["total"] <= 0 {
		t.Errorf("portrait %v, timings %v", res.Portrait, res.TimingsMS)
	}

	junk := filepath.Join(t.TempDir(), "scan.jpg")
	if err := os.WriteFile(junk, []byte("%PDF-1.4 not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A 1-pixel strip, or one 11 times as long as wide, decodes but is no
	// photo of a document.
	strip, long := filepath.Join(t.TempDir(), "strip.png"), filepath.Join(t.TempDir(), "long.png")
	writePNG(t, strip, image.NewGray(image.Rect(0, 0, 600, 1)))
	writePNG(t, long, image.NewGray(image.Rect(0, 0, 64*11, 64)))
	for _, c := range []struct {
		args []string
		exit int
		code string
	}{
		{[]string{"document"}, ExitUsage, "usage"},
		{[]string{"document", "--image", strip}, ExitInput, "image_too_small"},
		{[]string{"document", "--image", long}, ExitInput, "image_too_small"},
		{[]string{"verify", "--document", strip, "--selfie", strip, "--no-device-check"}, ExitInput, "image_too_small"},
		{[]string{"document", "--image", junk}, ExitInput, "not_an_image"},
		{[]string{"document", "--image", filepath.Join(t.TempDir(), "absent.jpg")}, ExitInput, "file_not_found"},
		{[]string{"verify", "--document", junk}, ExitUsage, "usage"},
		{[]string{"verify", "--document", junk, "--selfie", junk, "--no-device-check"}, ExitInput, "not_an_image"},
		{[]string{"verify", "--document", junk, "--selfie", junk, "--lang", "fr"}, ExitUsage, "usage"},
		{[]string{"verify", "--document", junk, "--selfie", junk, "--challenge", "skipped"}, ExitUsage, "usage"},
	} {
		r := kyc(t, nil, c.args...)
		if e := decodeError(t, r); r.exit != c.exit || e.Code != c.code {
			t.Errorf("%v: exit %d %+v, want %d %s", c.args, r.exit, e, c.exit, c.code)
		}
	}
}
