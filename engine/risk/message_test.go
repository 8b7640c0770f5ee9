package risk

import (
	"errors"
	"strings"
	"testing"
)

func TestMessageCatalogue(t *testing.T) {
	for _, k := range MessageKeys() {
		en, err := k.Text(English)
		if err != nil {
			t.Fatal(err)
		}
		id, err := k.Text(Indonesian)
		if err != nil {
			t.Fatal(err)
		}
		if en == "" || id == "" || en == id {
			t.Errorf("%s: en %q, id %q: want two different non-empty texts", k, en, id)
		}
	}
	if _, err := MsgVerified.Text("fr"); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("unknown language: err %v, want ErrUnknownMessage", err)
	}
	if _, err := MessageKey("congratulations").Text(English); !errors.Is(err, ErrUnknownMessage) {
		t.Errorf("unknown key: err %v, want ErrUnknownMessage", err)
	}
}

// TestUserMessageNeverRevealsSignal: every fraud outcome and a face
// non-match, whichever next action follows, show the user one identical
// message that names no check, and a fraud-driven retry does not point at a
// capture step. A watchlist escalation reads like a routine review.
func TestUserMessageNeverRevealsSignal(t *testing.T) {
	retryPolicy := config(mismatchPolicy(MismatchRetry))
	rejectPolicy := config(mismatchPolicy(MismatchReject))
	fraud := []struct {
		name string
		cfg  Config
		in   Input
		code ReasonCode
	}{
		{"device blocked", retryPolicy, clean(device(DeviceBlock)), DeviceBlocked},
		{"face spoof", retryPolicy, clean(set(FaceLiveness, 0.1)), FaceLivenessFailed},
		{"doc screen", retryPolicy, clean(docAttack(DocAttackScreen)), DocScreenReplay},
		{"doc print", retryPolicy, clean(docAttack(DocAttackPrint)), DocPrintedCopy},
		{"doc liveness", retryPolicy, clean(set(DocLiveness, 0.1)), DocLivenessFailed},
		{"doc tampered", retryPolicy, clean(set(DocAuthenticity, 0.1)), DocTampered},
		{"mismatch, retry", retryPolicy, clean(set(FaceMatch, 0.2)), FaceMismatch},
		{"mismatch, exhausted", retryPolicy, clean(set(FaceMatch, 0.2), attempt(3)), FaceMismatch},
		{"mismatch, reject", rejectPolicy, clean(set(FaceMatch, 0.2)), FaceMismatch},
	}
	var want map[Language]string
	for _, tt := range fraud {
		res := evaluate(t, tt.cfg, tt.in)
		if !res.HasReason(tt.code) {
			t.Fatalf("%s: reasons %v, want %s (the case does not test what it says)", tt.name, codes(res), tt.code)
		}
		if res.NextAction == Retry && res.RetryStep != RetryAll {
			t.Errorf("%s: retry step %q points at a capture", tt.name, res.RetryStep)
		}
		got := texts(t, res.Message)
		if want == nil {
			want = got
			assertNotRevealing(t, got)
			continue
		}
		for lang, text := range got {
			if text != want[lang] {
				t.Errorf("%s: %s message %q, want the same as every fraud case: %q", tt.name, lang, text, want[lang])
			}
		}
	}

	review := texts(t, evaluate(t, config(), clean(device(DeviceWarn))).Message)
	escalation := texts(t, evaluate(t, config(), clean(watchlistHits(1))).Message)
	for lang := range review {
		if escalation[lang] != review[lang] {
			t.Errorf("%s: escalation %q differs from review %q", lang, escalation[lang], review[lang])
		}
	}
	assertNotRevealing(t, escalation)
	// The band of doubt's challenge asks for a step without naming why.
	assertNotRevealing(t, texts(t, evaluate(t, config(), clean(set(FaceLiveness, 0.4))).Message))
}

// assertNotRevealing fails when a message names something an attacker could
// learn to fix.
func assertNotRevealing(t *testing.T, msgs map[Language]string) {
	t.Helper()
	revealing := []string{
		"face", "selfie", "liveness", "live", "spoof", "screen", "print", "copy", "tamper", "forg", "fake",
		"device", "match", "document", "photo", "camera", "sanction", "watchlist", "fraud", "expire", "compliance",
		"wajah", "swafoto", "dokumen", "layar", "cetak", "salinan", "foto", "perangkat", "palsu", "cocok", "kamera", "sanksi",
	}
	for lang, text := range msgs {
		for _, w := range revealing {
			if strings.Contains(strings.ToLower(text), w) {
				t.Errorf("%s message %q contains %q", lang, text, w)
			}
		}
	}
}

func texts(t *testing.T, k MessageKey) map[Language]string {
	t.Helper()
	out := map[Language]string{}
	for _, l := range Languages() {
		text, err := k.Text(l)
		if err != nil {
			t.Fatal(err)
		}
		out[l] = text
	}
	return out
}
