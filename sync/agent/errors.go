package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// ErrRejected means central refused a submission's content for good (a
// 422 naming why: an attestation that does not verify, bytes that do not
// match their hash, an id reused for other content), or the submission
// cannot be encoded at all. Resending the same bytes cannot help; the
// submission is marked rejected, and an operator may re-queue it. No other
// answer is final.
var ErrRejected = errors.New("agent: central rejected the submission")

// Errors central's answers and the network map to. None of them is final:
// the agent keeps the submission queued, tries again with backoff, and
// shows the operator the words of Describe. Test with errors.Is.
var (
	// ErrUnreachable means central could not be reached or did not answer
	// in time (network down, DNS, timeout, connection reset).
	ErrUnreachable = errors.New("agent: central is unreachable")
	// ErrUntrusted means central's TLS certificate does not chain to the
	// CA given at enrolment: a wrong address, or someone in between.
	ErrUntrusted = errors.New("agent: central's certificate is not trusted")
	// ErrClockWrong means central's certificate, from the CA given at
	// enrolment, is not valid at the device's clock: the date is wrong
	// (or central's certificate expired). The error carries an
	// *identity.CertificateTimeError with the dates.
	ErrClockWrong = errors.New("agent: the device clock is outside the validity of central's certificate")
	// ErrBusy means central answered 429, 503 or another 5xx.
	ErrBusy = errors.New("agent: central is busy or failing")
	// ErrClockSkew means central found the request's time too far from
	// its own (401 stale), even after the agent corrected its clock.
	ErrClockSkew = errors.New("agent: device clock too far from central's")
	// ErrUnauthenticated means central did not accept the request's
	// signature (401 unsigned, bad_signature or replayed).
	ErrUnauthenticated = errors.New("agent: central did not accept the device's signature")
	// ErrUnknownDevice means central has no record of this device (401
	// unknown_device): central restored from a backup or migrated, or a
	// different central at the enrolled address.
	ErrUnknownDevice = errors.New("agent: central does not know this device")
	// ErrRevoked means central revoked this device (403 revoked).
	ErrRevoked = errors.New("agent: central has revoked this device")
)

// RejectionError is an ErrRejected with central's answer.
type RejectionError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *RejectionError) Error() string {
	return fmt.Sprintf("central rejected the submission: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectionError) Unwrap() error { return ErrRejected }

// CentralError is an answer from central that is not final: anything but
// a success, a 409 (upload offset) or a 422. errors.Is matches it against
// ErrClockSkew, ErrUnauthenticated, ErrUnknownDevice, ErrRevoked or
// ErrBusy according to its status and code.
type CentralError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	// Op names the request ("PUT /v1/submissions/…").
	Op string
}

func (e *CentralError) Error() string {
	s := fmt.Sprintf("%s: central answered %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is maps central's answer to the package's error vocabulary.
func (e *CentralError) Is(target error) bool {
	switch target {
	case ErrClockSkew:
		return e.Status == 401 && e.Code == "stale"
	case ErrUnauthenticated:
		return e.Status == 401 && (e.Code == "unsigned" || e.Code == "bad_signature" || e.Code == "replayed")
	case ErrUnknownDevice:
		return e.Status == 401 && e.Code == "unknown_device"
	case ErrRevoked:
		return e.Status == 403 && e.Code == "revoked"
	case ErrBusy:
		return e.Status == 429 || e.Status >= 500
	}
	return false
}

// RetryLaterError means central is up but asked the device to come back
// after a delay longer than the uploader waits in one call.
type RetryLaterError struct {
	After time.Duration
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("central asked to retry after %s", e.After)
}

// Is makes errors.Is(err, ErrBusy) hold.
func (e *RetryLaterError) Is(target error) bool { return target == ErrBusy }

// deviceWide reports whether err concerns the device rather than one
// submission, so the rest of a pass would fail the same way.
func deviceWide(err error) bool {
	return errors.Is(err, ErrUnknownDevice) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrUntrusted) || errors.Is(err, ErrClockWrong) ||
		errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrClockSkew)
}

// netError wraps a failure to exchange a request with central.
func (u *Uploader) netError(op string, err error) error {
	e := u.cfg.Enrollment
	if cte, ok := identity.CertificateTime(err, []byte(e.CentralCA), e.CentralURL, u.cfg.Now()); ok {
		u.clock.markOutside()
		return fmt.Errorf("%s: %w: %w", op, ErrClockWrong, cte)
	}
	return netError(op, err)
}

// netError wraps a failure to exchange a request with central, without
// telling a clock outside the certificate's validity (Uploader.netError).
func netError(op string, err error) error {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return fmt.Errorf("%s: %w: %w", op, ErrUntrusted, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err)
}

// Describe says what err means for the operator, in words, with what the
// device does about it; "" for nil. The app and `kyc sync` show it. The
// words are printable (protocol.Printable): whatever of central's answer
// an error quotes cannot act on the terminal or forge a line of its own.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	return protocol.Printable(describe(err), 4*protocol.MaxText)
}

func describe(err error) string {
	var rej *RejectionError
	var ce *CentralError
	var later *RetryLaterError
	var cte *identity.CertificateTimeError
	switch {
	case errors.As(err, &rej):
		msg := "central refused this submission"
		if rej.Code != "" {
			msg += " (" + rej.Code + ")"
		}
		if rej.Message != "" {
			msg += ": " + rej.Message
		}
		return msg + ". It is kept on the device; an operator may re-queue it once the cause is fixed."
	case errors.Is(err, ErrRejected):
		return "this submission cannot be sent: " + err.Error() + ". It is kept on the device."
	case errors.As(err, &cte):
		return cte.Error() + ". Nothing is sent meanwhile; submissions stay queued and are sent once the clock is right."
	case errors.Is(err, ErrUntrusted):
		return "central's certificate is not from the CA given at enrolment, so nothing is sent: check the central address, or someone may be intercepting the connection. (" + rootCause(err) + ")"
	case errors.Is(err, ErrRevoked):
		return "central has revoked this device. Submissions stay on the device; ask the administrator."
	case errors.Is(err, ErrUnknownDevice):
		return "central does not know this device (restored from a backup, migrated, or another central at this address). Submissions stay queued and are retried; ask the administrator to restore or re-enrol the device."
	case errors.Is(err, ErrClockSkew):
		msg := "the device clock differs from central's by more than central accepts"
		if errors.As(err, &ce) && ce.Message != "" {
			msg += " (central: " + ce.Message + ")"
		}
		return msg + ". The device corrects up to a day from central's time and retries; further off, set the device's date and time. Submissions stay queued."
	case errors.Is(err, ErrUnauthenticated):
		return "central did not accept the device's signature (" + codeOf(ce, err) + "); retrying. If it persists, ask the administrator."
	case errors.As(err, &later):
		return fmt.Sprintf("central is busy and asked the device to come back in %s; submissions stay queued.", later.After.Round(time.Second))
	case errors.Is(err, ErrBusy):
		return "central is busy or failing (" + codeOf(ce, err) + "); retrying with backoff."
	case errors.Is(err, ErrUnreachable):
		return "central is unreachable (" + rootCause(err) + "); working offline, submissions stay queued and are retried."
	case errors.As(err, &ce):
		return "central answered " + codeOf(ce, err) + "; retrying with backoff."
	case errors.Is(err, protocol.ErrBadConfigSignature):
		return "the configuration received is not signed by the central this device enrolled with, so it was not installed (someone in between, or another central); the previous configuration stays in use."
	case errors.Is(err, ErrConfigRollback):
		return "central sent a configuration older than the one in use (a replayed answer?); it was not installed."
	case errors.Is(err, ErrNoSignKey):
		return "this device enrolled before central signed its configuration: enrol it again to receive configuration and watchlists; submissions still sync."
	case errors.Is(err, ErrRiskUnusable):
		return "central's risk configuration cannot be applied by this version of the app, so the one in use before stays (" + rootCause(err) + "); the watchlists are installed. Update the app, or correct the configuration on central."
	case errors.Is(err, ErrConfigPartial):
		return "some watchlists could not be installed and keep their previous version; the others are in use: " + strings.TrimPrefix(err.Error(), ErrConfigPartial.Error()+": ")
	case errors.Is(err, vault.ErrClosed), errors.Is(err, vault.ErrCorrupt), errors.Is(err, vault.ErrAuthentication):
		return "the device's vault failed: " + err.Error()
	}
	return err.Error()
}

func codeOf(ce *CentralError, err error) string {
	if ce == nil && !errors.As(err, &ce) {
		return rootCause(err)
	}
	s := fmt.Sprintf("%d", ce.Status)
	if ce.Code != "" {
		s += " " + ce.Code
	}
	if ce.Message != "" {
		s += ": " + ce.Message
	}
	return s
}

// rootCause is the innermost message of a wrapped error chain.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}
