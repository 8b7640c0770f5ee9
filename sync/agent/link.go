package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkyc/kyc/sync/protocol"
)

// Link estimation bounds. A field agent's link may be a 50 KB/s mobile
// connection that drops now and then, a kiosk's a LAN: the uploader
// measures the rate its requests actually achieve and sizes chunks and
// timeouts from it, instead of one fixed timeout that a slow link never
// meets.
const (
	// MinChunkSize and MaxChunkSize bound an adaptive chunk.
	MinChunkSize = 64 << 10
	MaxChunkSize = protocol.MaxChunkSize
	// initialRate is the guess before the first measurement: modest, so
	// a slow link's first chunk does not take minutes.
	initialRate = 64 << 10
	// minRate is the floor of the estimate (4 KB/s): below it, timeouts
	// would run to hours.
	minRate = 4 << 10
	// sampleMin is the smallest body worth a rate sample; below it the
	// round trip dominates.
	sampleMin = 16 << 10
	// timeoutFactor is how much longer than the estimate a transfer may
	// take before it counts as failed.
	timeoutFactor = 3
)

// link estimates the upload rate to central and derives chunk sizes and
// timeouts from it. It also keeps a ceiling on chunk sizes that follows
// losses: a connection that dies every megabyte never carries a chunk of
// four, whatever the rate, so each lost transfer halves the ceiling and
// each completed one raises it by half. It is safe for concurrent use.
type link struct {
	mu      sync.Mutex
	rate    float64 // bytes per second
	ceiling float64 // bytes
	samples int
}

func newLink() *link { return &link{rate: initialRate, ceiling: MaxChunkSize} }

// Rate is the current estimate in bytes per second.
func (l *link) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// observe records a body of n bytes that reached central in d (until its
// answer's headers).
func (l *link) observe(n int64, d time.Duration) {
	if n < sampleMin || d <= 0 {
		return
	}
	r := float64(n) / d.Seconds()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.samples == 0 {
		l.rate = r
	} else {
		// An even blend follows a link that changes within a few chunks.
		l.rate = (l.rate + r) / 2
	}
	l.rate = max(l.rate, minRate)
	l.samples++
	l.ceiling = min(l.ceiling*1.5, MaxChunkSize)
}

// lost records a transfer of n bytes that broke (reset or timed out):
// the chunk ceiling halves from it.
func (l *link) lost(n int64) {
	if n < sampleMin {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ceiling = max(min(l.ceiling, float64(n))/2, MinChunkSize)
}

// failed records a transfer that timed out or broke after sent bytes of
// its body were taken in d: the estimate halves, and falls to what the
// broken transfer achieved if that is lower.
func (l *link) failed(sent int64, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rate / 2
	if sent > 0 && d > 0 {
		r = min(r, float64(sent)/d.Seconds())
	}
	l.rate = max(r, minRate)
}

// chunkSize is the chunk that takes about target at the estimated rate,
// between MinChunkSize and MaxChunkSize.
func (l *link) chunkSize(target time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int(min(l.rate*target.Seconds(), l.ceiling))
	return min(max(n, MinChunkSize), MaxChunkSize)
}

// timeout is how long a request with a body of n bytes may take: floor
// (the round trip and central's work) plus timeoutFactor times the
// transfer at the estimated rate.
func (l *link) timeout(n int64, floor time.Duration) time.Duration {
	if n <= 0 {
		return floor
	}
	return floor + time.Duration(timeoutFactor*float64(n)/l.Rate()*float64(time.Second))
}

// noNetRetryKey marks a request whose network failures the caller
// retries itself (an image chunk: re-sliced to the link after a loss).
type noNetRetryKey struct{}

func withoutNetRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noNetRetryKey{}, true)
}

// streamKey marks a request whose answer is streamed (a watchlist): its
// body gets an idle timeout rather than a total one.
type streamKey struct{}

func withStream(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey{}, true)
}

// linkTransport applies link-derived timeouts to each attempt and feeds
// the link estimate. go-retryablehttp sends each attempt through it.
type linkTransport struct {
	base  http.RoundTripper
	link  *link
	floor time.Duration
	// contact is when central last answered anything (Unix nanoseconds).
	contact atomic.Int64
	// answers counts central's answers, to tell whether it answered
	// during a pass.
	answers atomic.Int64
	now     func() time.Time
}

func (t *linkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	size := max(req.ContentLength, 0)
	limit := t.link.timeout(size, t.floor)
	ctx, cancel := context.WithCancel(req.Context())
	var fired atomic.Bool
	timer := time.AfterFunc(limit, func() { fired.Store(true); cancel() })
	// A RoundTripper must not modify the caller's request: send a copy.
	out := req.WithContext(ctx)
	body := &countingBody{}
	if req.Body != nil {
		body.r = req.Body
		out.Body = body
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(out)
	elapsed := time.Since(start)
	if err != nil {
		timer.Stop()
		cancel()
		if req.Context().Err() != nil {
			return nil, err
		}
		t.link.lost(size)
		if fired.Load() {
			// Too slow for the estimate: a reset or a refused connection
			// says nothing about the rate, a timeout does.
			if size >= sampleMin {
				t.link.failed(body.n.Load(), elapsed)
			}
			return nil, fmt.Errorf("no answer within %s (%d bytes sent at an estimated %.0f KB/s): %w", limit.Round(time.Millisecond), size, t.link.Rate()/1024, err)
		}
		return nil, err
	}
	t.contact.Store(t.now().UnixNano())
	t.answers.Add(1)
	if resp.StatusCode < 500 {
		t.link.observe(size, elapsed)
	}
	if req.Context().Value(streamKey{}) != nil {
		// Streamed: the body must keep flowing, however long it is.
		timer.Stop()
		timer = time.AfterFunc(t.floor, cancel)
		resp.Body = &idleBody{ReadCloser: resp.Body, timer: timer, idle: t.floor, cancel: cancel}
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, timer: timer, cancel: cancel, fired: &fired, limit: limit}
	return resp, nil
}

// lastContact is when central last answered.
func (t *linkTransport) lastContact() time.Time {
	n := t.contact.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// countingBody counts the bytes of a request body the transport took.
type countingBody struct {
	r io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

// cancelBody ends the attempt's context when the answer is closed.
type cancelBody struct {
	io.ReadCloser
	timer  *time.Timer
	cancel context.CancelFunc
	fired  *atomic.Bool
	limit  time.Duration
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.fired.Load() {
		// Said as what happened, an answer too slow rather than none: the
		// error itself would be "context canceled".
		err = fmt.Errorf("its answer did not arrive whole within %s (%v)", b.limit.Round(time.Millisecond), err)
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.timer.Stop()
	b.cancel()
	return err
}

// idleBody cancels a streamed answer that stalls for idle.
type idleBody struct {
	io.ReadCloser
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelFunc
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	err := b.ReadCloser.Close()
	b.timer.Stop()
	b.cancel()
	return err
}
