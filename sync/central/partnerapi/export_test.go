package partnerapi

import "time"

// SetFaceMatchTurns sets how many Face Match requests run at once and how
// long the others wait for a turn, for APIs made from now on; restore
// puts the defaults back.
func SetFaceMatchTurns(turns int, wait time.Duration) (restore func()) {
	t, w := faceMatchTurns, faceMatchWait
	faceMatchTurns, faceMatchWait = turns, wait
	return func() { faceMatchTurns, faceMatchWait = t, w }
}
