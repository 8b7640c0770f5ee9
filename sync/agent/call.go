package agent

import "context"

// Call sends a signed request to central with the Uploader's clock,
// retries and errors, and returns the answer's status and body: how the
// device's other exchanges with central (the Smart QR hand-off, package
// internal/handoff) reach it. A nil body sends none; a body goes as
// application/json. An answer other than 2xx or 409 comes with the error
// the uploads get (*CentralError, *RejectionError, *RetryLaterError,
// ErrUnreachable, ...).
func (u *Uploader) Call(ctx context.Context, method, path string, body []byte) (status int, answer []byte, err error) {
	r, err := u.doType(ctx, method, path, body, "application/json")
	return r.status, r.body, err
}
