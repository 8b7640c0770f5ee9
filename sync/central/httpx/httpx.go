// Package httpx is how central's handlers reach the wire: handlers return
// errors, and one function (Responder.Error) turns any error into a status,
// a public code and message (protocol.Error) with the request's id, while
// the cause goes to the log under the same id. No store or library error
// text ever reaches a client. It also holds the small HTTP helpers central
// shares: request ids, JSON answers, body deadlines and per-key limits.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/openkyc/kyc/sync/protocol"
)

// HeaderRequestID names the response header carrying the request id.
const HeaderRequestID = "X-Request-Id"

// Error is an error with its public face: the status, code and message a
// client sees. Cause, when set, is logged and never sent.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf returns an Error without a cause; the message is public.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with a public face and a private cause.
func Wrap(cause error, status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message, Cause: cause}
}

// ErrCut marks an error met after an answer began: its status and part of
// its body are on the wire, so no error answer can follow. Responder.Error
// logs the cause and aborts the connection (panic with
// http.ErrAbortHandler), so the client sees a cut answer, never a short one
// that looks complete.
var ErrCut = errors.New("httpx: the answer was cut off")

// Rule maps a sentinel error (matched with errors.Is) to its public face.
type Rule struct {
	Err     error
	Status  int
	Code    string
	Message string
}

// HandlerFunc is a handler that returns its error instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Responder writes error responses and logs their causes.
type Responder struct {
	Log *slog.Logger
	// Rules map sentinel errors that carry no public face of their own;
	// the first match wins.
	Rules []Rule
	// Observe, when set, is told of every error response (for metrics).
	Observe func(r *http.Request, status int, code string)
}

// Handle adapts h: a returned error is written with Error.
func (x *Responder) Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			x.Error(w, r, err)
		}
	})
}

// Public returns the public face of err: an *Error in its chain, else the
// first matching Rule, else a few library errors the client caused (a body
// too large or too slow), else 500 "internal".
func (x *Responder) Public(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	for _, rule := range x.Rules {
		if errors.Is(err, rule.Err) {
			return &Error{Status: rule.Status, Code: rule.Code, Message: rule.Message, Cause: err}
		}
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return Wrap(err, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return Wrap(err, http.StatusRequestTimeout, "timeout", "request body arrived too slowly")
	}
	return Wrap(err, http.StatusInternalServerError, "internal", "internal error; central's log has the cause under this request id")
}

// Error writes err as a protocol.Error with the request id, and logs it:
// 5xx at error level with the cause, others at info (debug when there is
// no cause to tell). An ErrCut is logged and the connection aborted.
func (x *Responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	e := x.Public(err)
	id := RequestID(r.Context())
	if errors.Is(err, ErrCut) {
		if x.Observe != nil {
			x.Observe(r, e.Status, e.Code)
		}
		x.log(r, e)
		panic(http.ErrAbortHandler)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (e.RetryAfter+time.Second-1)/time.Second))))
	}
	WriteJSON(w, e.Status, protocol.Error{Code: e.Code, Message: e.Message, RequestID: id})
	if x.Observe != nil {
		x.Observe(r, e.Status, e.Code)
	}
	x.log(r, e)
}

// log logs an error answer under the request's id.
func (x *Responder) log(r *http.Request, e *Error) {
	if x.Log == nil {
		return
	}
	id := RequestID(r.Context())
	attrs := []slog.Attr{
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("route", r.Pattern),
		slog.Int("status", e.Status), slog.String("code", e.Code),
	}
	lvl := slog.LevelDebug
	if e.Cause != nil {
		attrs = append(attrs, slog.String("cause", e.Cause.Error()))
		lvl = slog.LevelInfo
	}
	if e.Status >= 500 {
		lvl = slog.LevelError
	}
	x.Log.LogAttrs(r.Context(), lvl, "request failed", attrs...)
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type requestIDKey struct{}

// NewRequestID returns a fresh random request id (16 bytes, base64url).
func NewRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// WithRequestID gives every request a fresh id, in its context and in the
// X-Request-Id response header. An id the client sends is ignored: the id
// names central's log lines, so central makes it.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := NewRequestID()
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID returns the id WithRequestID gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// BodyDeadline is how long a body of n bytes may take to arrive: floor
// plus n at minRate bytes per second. A slow link gets time in proportion
// to what it sends; a client that dribbles is cut off.
func BodyDeadline(n int64, floor time.Duration, minRate int64) time.Duration {
	if n <= 0 || minRate <= 0 {
		return floor
	}
	return floor + time.Duration(float64(n)/float64(minRate)*float64(time.Second))
}

// CutOff makes the server stop reading r's body now and close the
// connection after the answer: for a request refused before its body was
// read, so that a slow body holds nothing (net/http would otherwise drain
// up to 256 KB of it to reuse the connection).
func CutOff(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}
