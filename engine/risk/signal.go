package risk

// SignalName identifies one input to the risk score. Names are stable: they are
// the JSON keys of Config.Weights and Input.Signals.
type SignalName string

// The signals, each a value in [0,1] where 1 means fully trustworthy. The
// thresholds in Config.Thresholds apply to these values as given, so a caller
// must hand over calibrated values (for example a face-match cosine similarity
// clamped to [0,1]), not raw model logits.
const (
	// FaceLiveness is the selfie presentation-attack score: the probability
	// that the face is live rather than a print, screen, mask or deepfake.
	FaceLiveness SignalName = "face_liveness"
	// FaceMatch is the similarity of the selfie to the document portrait.
	FaceMatch SignalName = "face_match"
	// DocAuthenticity is the document forensics score: no digital tampering,
	// copy-move, splicing or font replacement found.
	DocAuthenticity SignalName = "doc_authenticity"
	// DocLiveness is the probability that the capture shows a physical
	// document rather than a screen, photocopy or printed reproduction.
	DocLiveness SignalName = "doc_liveness"
	// DataChecks is the fraction of the applicable data checks that passed:
	// MRZ check digits, visual zone against MRZ, NIK against birth date and
	// sex, well-formed dates.
	DataChecks SignalName = "data_checks"
	// Sanctions is the sanctions/PEP screening signal: 1 when no candidate
	// was found, lower as the strongest candidate gets closer. Confirmed and
	// potential hits are reported separately in Input.
	Sanctions SignalName = "sanctions"
	// DeviceIntegrity is the device and environment score: no root,
	// emulator, virtual camera, hooking or debugger found.
	DeviceIntegrity SignalName = "device_integrity"
)

// Signals returns every signal in canonical order, the order of
// Result.Contributions.
func Signals() []SignalName {
	return []SignalName{FaceLiveness, FaceMatch, DocAuthenticity, DocLiveness, DataChecks, Sanctions, DeviceIntegrity}
}

// missingCode returns the reason code reported when s is absent, and false
// when s is not a known signal.
func (s SignalName) missingCode() (ReasonCode, bool) {
	switch s {
	case FaceLiveness:
		return SignalMissingFaceLiveness, true
	case FaceMatch:
		return SignalMissingFaceMatch, true
	case DocAuthenticity:
		return SignalMissingDocAuthenticity, true
	case DocLiveness:
		return SignalMissingDocLiveness, true
	case DataChecks:
		return SignalMissingDataChecks, true
	case Sanctions:
		return SignalMissingSanctions, true
	case DeviceIntegrity:
		return SignalMissingDeviceIntegrity, true
	}
	return "", false
}

func (s SignalName) known() bool {
	_, ok := s.missingCode()
	return ok
}
