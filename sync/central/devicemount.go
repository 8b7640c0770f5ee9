package central

import (
	"net/http"
)

// DeviceHandlerFunc serves a device request authenticated by Server's
// device middleware: d is the enrolled, unrevoked device that signed it,
// body the request's body, checked against the signed hash.
type DeviceHandlerFunc func(w http.ResponseWriter, r *http.Request, d Device, body []byte) error

// MountDevice serves h for pattern (a http.ServeMux pattern with a method,
// e.g. "POST /v1/handoffs/") behind the device sync endpoints'
// authentication, request budget, slots and body deadline, with bodies of
// at most maxBody bytes (0: none): how feature packages (the hosted flow's
// kiosk hand-off) give devices an endpoint without central importing them.
// Call it before Serve.
func (s *Server) MountDevice(pattern string, maxBody int64, h DeviceHandlerFunc) {
	s.mux.Handle(pattern, s.device(maxBody, true, deviceHandler(h)))
}
