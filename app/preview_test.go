package app

import (
	"testing"

	"github.com/openkyc/kyc/engine/capture"
)

// TestPreviewHint: the preview frames carry the guide's message and its
// hint (advice that does not hold the capture back) in the session's
// language, and an overlay without a hint clears the last one.
func TestPreviewHint(t *testing.T) {
	p := newPreview()
	for _, tc := range []struct {
		ov                capture.Overlay
		lang              capture.Lang
		wantMsg, wantHint capture.Message
	}{
		{capture.Overlay{Message: capture.Capturing, Hint: capture.BrightLighting}, capture.Indonesian, capture.Capturing, capture.BrightLighting},
		{capture.Overlay{Message: capture.NoFace, Hint: capture.HoldUpright}, capture.English, capture.NoFace, capture.HoldUpright},
		{capture.Overlay{Message: capture.HoldSteady}, capture.English, capture.HoldSteady, ""},
	} {
		p.publishOverlay(tc.ov, tc.lang)
		p.mu.Lock()
		f := p.frame
		p.mu.Unlock()
		want := ""
		if tc.wantHint != "" {
			want = tc.wantHint.Text(tc.lang)
		}
		if f.Message != tc.wantMsg.Text(tc.lang) || f.Hint != want || want == f.Message {
			t.Errorf("%s/%s in %s: message %q, hint %q; want %q, %q", tc.ov.Message, tc.ov.Hint, tc.lang, f.Message, f.Hint, tc.wantMsg.Text(tc.lang), want)
		}
	}
}
