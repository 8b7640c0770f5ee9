package hostedflow_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// TestSelfiePixelBound: the selfie, which goes to the face engine whole,
// is held to the Face Match API's bound (partnerapi.MaxFaceMatchPixels,
// 4096x4096, judged from the header): one pixel wider is refused 413
// too_many_pixels, for the page to tell the person, and exactly the bound
// is taken. The document keeps its own, larger bound (its pipeline reads
// its text at the resolution it was taken).
func TestSelfiePixelBound(t *testing.T) {
	if partnerapi.MaxFaceMatchPixels != 4096*4096 {
		t.Fatalf("the Face Match bound is %d pixels, want 4096x4096", partnerapi.MaxFaceMatchPixels)
	}
	e := newEnv(t, true)
	over, at := bigJPEG(t, 4097, 4096), bigJPEG(t, 4096, 4096)
	_, fc := e.initiate(nil)
	b := e.browser()
	b.open(fc.LaunchURL)
	upload := func(step string, img []byte) answer {
		t.Helper()
		return b.do("POST", "/flow/api/capture?step="+step+"&source=upload", "image/jpeg", img, nil)
	}
	must(t, http.StatusOK, upload("document", over))
	a := upload("selfie", over)
	var body struct{ Code string }
	json.Unmarshal(a.body, &body)
	if a.status != http.StatusRequestEntityTooLarge || body.Code != "too_many_pixels" {
		t.Errorf("a 4097x4096 selfie: %d %s, want 413 too_many_pixels", a.status, a.body)
	}
	must(t, http.StatusOK, upload("selfie", at))
}
