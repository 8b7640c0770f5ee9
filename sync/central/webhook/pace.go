package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// An attempt's requests are bounded by their size, not by one Timeout for
// the whole: a push carries the submission's images (10 MB and more), and
// within a fixed 10 s it would need 8 Mbit/s to the partner, failing every
// attempt on a slower link until the event is dead. So a request gets
// Timeout for its connection (until the body starts to go) and, once the
// body goes, Timeout + size/MinRate from its start (the body's share at
// most MaxTransfer) in all. The answer's headers then come by that bound,
// or within Timeout of the body's last byte if later: that byte was only
// handed to the socket, whose send buffer (megabytes, on a long fat link)
// the receiver has still to read, so the end of the write says little
// about a slow receiver. A stalled receiver still fails within about
// Timeout after a small body, and within the size's bound after a large
// one; a small event's bound is about Timeout, as before.

// Pacing defaults.
const (
	// DefaultMinRate is the slowest body transfer an attempt allows, in
	// bytes a second: 64 KiB/s (about 0.5 Mbit/s) takes a 10 MB push in
	// under three minutes.
	DefaultMinRate = 64 << 10
	// DefaultMaxTransfer caps the time a body adds to Timeout: at
	// DefaultMinRate a body of up to about 56 MiB gets its full share.
	DefaultMaxTransfer = 15 * time.Minute
)

// pace is what bounds an attempt's requests (Config.Timeout, MinRate,
// MaxTransfer); the worker gives it to its requests in their context.
type pace struct {
	timeout     time.Duration
	minRate     int64
	maxTransfer time.Duration
}

// request is the bound of a request with an n-byte body.
func (p pace) request(n int64) time.Duration {
	if n <= 0 {
		return p.timeout
	}
	return p.timeout + min(time.Duration(float64(n)/float64(p.minRate)*float64(time.Second)), p.maxTransfer)
}

// attempt bounds one attempt in all, a backstop to its requests' own
// bounds: two requests of the largest body and two small ones (a push's
// token, and its retry with a fresh token after a 401).
func (p pace) attempt() time.Duration {
	return 6*p.timeout + 2*p.maxTransfer
}

type paceKey struct{}

// withPace bounds the requests made with ctx through a paced client
// (PacedClient), and the attempt as a whole.
func withPace(ctx context.Context, p pace) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithValue(ctx, paceKey{}, p), p.attempt())
}

// PacedClient returns c (nil: http.DefaultClient) with its requests bounded
// as the worker's attempt that makes them says (a Sender's ctx): by the
// request's size rather than one Timeout. Requests made with another
// context go as they would through c.
func PacedClient(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cp := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cp.Transport = pacedTransport{base}
	return &cp
}

type pacedTransport struct{ base http.RoundTripper }

// timeoutError is a paced request's error when one of its bounds ran out.
type timeoutError struct{ what string }

func (e *timeoutError) Error() string        { return "timed out " + e.what }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

func (t pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, ok := req.Context().Value(paceKey{}).(pace)
	if !ok {
		return t.base.RoundTrip(req)
	}
	start := time.Now()
	ctx, cancel := context.WithCancelCause(req.Context())
	d := &phases{cancel: cancel}
	d.set(start.Add(p.timeout), &timeoutError{"connecting"})
	r := req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		end := start.Add(p.request(req.ContentLength))
		rate := &timeoutError{fmt.Sprintf("sending the body (%d bytes, slower than %d KiB/s)", req.ContentLength, p.minRate>>10)}
		answer := &timeoutError{"waiting for the answer"}
		wrap := func(b io.ReadCloser) io.ReadCloser {
			return &phaseBody{ReadCloser: b, first: func() { d.set(end, rate) }, eof: func() {
				d.set(latest(end, time.Now().Add(p.timeout)), answer)
			}}
		}
		r.Body = wrap(req.Body)
		if req.GetBody != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return wrap(b), nil
			}
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		d.stop()
		if cause := context.Cause(ctx); errors.As(cause, new(*timeoutError)) {
			err = cause
		}
		cancel(nil)
		return nil, err
	}
	// The answer's body is read within Timeout of its headers.
	d.set(earliest(d.at(), time.Now().Add(p.timeout)), &timeoutError{"reading the answer"})
	resp.Body = &doneBody{ReadCloser: resp.Body, done: func() { d.stop(); cancel(nil) }}
	return resp, nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// phases is a request's deadline, moved as it goes from phase to phase;
// when it passes, the request's context is cancelled with the phase's
// timeoutError.
type phases struct {
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	timer   *time.Timer
	when    time.Time
	stopped bool
}

func (d *phases) set(at time.Time, cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
	}
	d.when = at
	d.timer = time.AfterFunc(time.Until(at), func() { d.cancel(cause) })
}

func (d *phases) at() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.when
}

func (d *phases) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// phaseBody is a request body telling when the transport first reads it
// and when it has read it all.
type phaseBody struct {
	io.ReadCloser
	first, eof    func()
	started, done bool
}

func (b *phaseBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		b.first()
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.eof()
	}
	return n, err
}

// doneBody is an answer's body that ends its request's deadline when
// closed.
type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
