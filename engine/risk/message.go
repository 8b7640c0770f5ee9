package risk

import (
	"errors"
	"fmt"
)

// ErrUnknownMessage is returned by MessageKey.Text for a key or language
// outside the catalogue.
var ErrUnknownMessage = errors.New("unknown user message")

// Language is a user-message language, a BCP 47 primary language subtag.
type Language string

const (
	// English is "en".
	English Language = "en"
	// Indonesian is "id".
	Indonesian Language = "id"
)

// Languages returns every language the catalogue is written in.
func Languages() []Language { return []Language{English, Indonesian} }

// MessageKey names a user-facing message in a fixed catalogue. The set is
// deliberately small and generic: no message names a fraud check.
type MessageKey string

const (
	// MsgVerified: approved.
	MsgVerified MessageKey = "verified"
	// MsgInReview: waiting for a person (review or escalation; the two read
	// the same so that a watchlist hit cannot be told from a routine review).
	MsgInReview MessageKey = "in_review"
	// MsgRetryDocument: retake the document photo.
	MsgRetryDocument MessageKey = "retry_document"
	// MsgRetrySelfie: retake the selfie.
	MsgRetrySelfie MessageKey = "retry_selfie"
	// MsgRetryCapture: retake both photos.
	MsgRetryCapture MessageKey = "retry_capture"
	// MsgOtherDocument: the document has expired; use another one.
	MsgOtherDocument MessageKey = "other_document"
	// MsgLivenessChallenge: one more step, an active challenge; it names
	// no check.
	MsgLivenessChallenge MessageKey = "liveness_challenge"
	// MsgAgeRequirement: the holder is younger than the service admits.
	MsgAgeRequirement MessageKey = "age_requirement"
	// MsgNotVerified: every fraud outcome, a face non-match, a low score and
	// exhausted retries. It names no check, whether or not a retry follows.
	MsgNotVerified MessageKey = "not_verified"
)

// MessageKeys returns every key of the catalogue.
func MessageKeys() []MessageKey {
	return []MessageKey{MsgVerified, MsgInReview, MsgRetryDocument, MsgRetrySelfie, MsgRetryCapture, MsgOtherDocument, MsgLivenessChallenge, MsgAgeRequirement, MsgNotVerified}
}

// Text returns the message for k in lang.
func (k MessageKey) Text(lang Language) (string, error) {
	var en, id string
	switch k {
	case MsgVerified:
		en = "Your identity has been verified."
		id = "Identitas Anda berhasil diverifikasi."
	case MsgInReview:
		en = "We're reviewing your verification. We'll let you know once it's done."
		id = "Verifikasi Anda sedang kami tinjau. Kami akan mengabari Anda setelah selesai."
	case MsgRetryDocument:
		en = "We couldn't read your document clearly. Please take the photo again in good light, without glare."
		id = "Foto dokumen Anda kurang jelas. Silakan foto ulang di tempat yang terang, tanpa pantulan cahaya."
	case MsgRetrySelfie:
		en = "We couldn't see your face clearly. Please take your selfie again in good light, with only your face in the frame."
		id = "Wajah Anda kurang terlihat jelas. Silakan ambil ulang swafoto di tempat yang terang, hanya dengan wajah Anda di dalam bingkai."
	case MsgRetryCapture:
		en = "Your photos weren't clear enough. Please take them again in good light."
		id = "Foto Anda kurang jelas. Silakan ambil ulang di tempat yang terang."
	case MsgOtherDocument:
		en = "Your document has expired. Please use another valid ID document."
		id = "Dokumen Anda sudah tidak berlaku. Silakan gunakan dokumen identitas lain yang masih berlaku."
	case MsgLivenessChallenge:
		en = "One more step: please follow the instructions shown to you."
		id = "Satu langkah lagi: silakan ikuti petunjuk yang ditampilkan."
	case MsgAgeRequirement:
		en = "You don't meet the minimum age for this service."
		id = "Anda belum memenuhi batas usia minimum untuk layanan ini."
	case MsgNotVerified:
		en = "We're unable to verify your identity at this time."
		id = "Kami belum dapat memverifikasi identitas Anda saat ini."
	default:
		return "", fmt.Errorf("%w: key %q", ErrUnknownMessage, k)
	}
	switch lang {
	case English:
		return en, nil
	case Indonesian:
		return id, nil
	}
	return "", fmt.Errorf("%w: language %q for key %q", ErrUnknownMessage, lang, k)
}
