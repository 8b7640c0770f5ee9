package console

import (
	"strings"

	"github.com/openkyc/kyc/sync/central"
)

// sameOwner reports whether two cases of one device and session id are of
// one owner. A device's sessions are its own; the hosted flow stores every
// partner's attempts under one pseudo-device (central.HostedDevice) with
// the session id the partner chose, so two partners' sessions may share
// it: their attempts' ids, "<partner>:<session>-<attempt>", name the
// partner before the first ':' (partner ids hold none).
func sameOwner(a, b central.Case) bool {
	if !central.IsHostedDevice(a.Ref.DeviceID) {
		return true
	}
	pa, _, okA := strings.Cut(a.ID, ":")
	pb, _, okB := strings.Cut(b.ID, ":")
	return okA && okB && pa == pb
}
