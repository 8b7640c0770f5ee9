// Package agent is the device side of sync: an Uploader that sends one
// submission to central (signed requests, manifest sealed to central's key,
// images in resumable encrypted chunks, retries through go-retryablehttp
// with jittered exponential backoff and Retry-After), and an Agent that
// drains the vault's outbox with it, recording each submission's state
// (queued, sending, synced, rejected) in the vault, and down-syncs
// configuration and watchlists.
//
// Delivery is at least once: a crash at any point leaves the submission
// queued or sending (its lease lapses), and it is sent again. Central
// dedupes by the submission's idempotency key and continues partial image
// uploads, so the effect is exactly once.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// ErrRejected means central refused a request for good (a 4xx other than
// 408, 409 and 429): a bad signature, a revoked device, a malformed or
// conflicting submission. Retrying cannot help.
var ErrRejected = errors.New("agent: central rejected the request")

// RejectionError is an ErrRejected with central's answer.
type RejectionError struct {
	Status  int
	Code    string
	Message string
}

func (e *RejectionError) Error() string {
	return fmt.Sprintf("central rejected the request: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectionError) Unwrap() error { return ErrRejected }

// RetryLaterError means central is up but asked the device to come back
// after a delay longer than the uploader waits in one call.
type RetryLaterError struct {
	After time.Duration
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("central asked to retry after %s", e.After)
}

// Config configures an Uploader.
type Config struct {
	Identity   *identity.Identity
	Enrollment identity.Enrollment
	// Transport carries the requests; nil means a pooled default. Tests
	// put fault injection here.
	Transport http.RoundTripper
	// Timeout bounds one HTTP attempt; zero means 60 seconds.
	Timeout time.Duration
	// RetryMax is how many times one request is retried within a call
	// before the call fails (the outbox then schedules the submission
	// again); zero means 4, negative means no retries.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff between retries;
	// zero means 500 ms and 30 s. A Retry-After beyond RetryWaitMax ends
	// the call with a RetryLaterError.
	RetryWaitMin, RetryWaitMax time.Duration
	// ChunkSize is the plaintext size of image chunks; zero means
	// protocol.DefaultChunkSize.
	ChunkSize int
	// Now is the clock used to sign requests; nil means time.Now.
	Now func() time.Time
}

// Uploader sends submissions to central. It is safe for concurrent use.
type Uploader struct {
	cfg    Config
	client *retryablehttp.Client
}

// NewUploader checks cfg and builds an Uploader.
func NewUploader(cfg Config) (*Uploader, error) {
	if cfg.Identity == nil {
		return nil, errors.New("agent: no device identity")
	}
	if cfg.Enrollment.DeviceID != cfg.Identity.DeviceID() {
		return nil, fmt.Errorf("agent: enrolment is for device %s, key is device %s", cfg.Enrollment.DeviceID, cfg.Identity.DeviceID())
	}
	if _, err := identity.ParseCentralURL(cfg.Enrollment.CentralURL); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	switch {
	case cfg.RetryMax == 0:
		cfg.RetryMax = 4
	case cfg.RetryMax < 0:
		cfg.RetryMax = 0
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = 500 * time.Millisecond
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = 30 * time.Second
	}
	if cfg.ChunkSize <= 0 || cfg.ChunkSize > protocol.MaxChunkSize {
		cfg.ChunkSize = protocol.DefaultChunkSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout}
	c.Logger = nil
	c.RetryMax = cfg.RetryMax
	c.RetryWaitMin, c.RetryWaitMax = cfg.RetryWaitMin, cfg.RetryWaitMax
	c.Backoff = Backoff
	c.CheckRetry = checkRetry(cfg.RetryWaitMax)
	// Every attempt gets a fresh timestamp and nonce: central refuses a
	// nonce it has seen, and a retry may follow a request that arrived.
	c.PrepareRetry = func(req *http.Request) error { return cfg.Identity.ResignRequest(req, cfg.Now()) }
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return &Uploader{cfg: cfg, client: c}, nil
}

// Backoff is the retry delay for go-retryablehttp: the Retry-After of a 429
// or 503 when central sent one, else exponential from min, capped at max,
// with equal jitter (a uniform draw from the upper half) so that devices
// cut off together do not come back together.
func Backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp); ok {
		return d
	}
	d := lo
	for range attempt {
		if d >= hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	d = max(lo, min(d, hi))
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads the Retry-After of a 429 or 503 (seconds or HTTP date).
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// checkRetry is go-retryablehttp's default policy (network errors, 429 and
// 5xx retry; other statuses do not), except that a Retry-After longer than
// the longest wait ends the call so the outbox can reschedule.
func checkRetry(maxWait time.Duration) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if d, ok := retryAfter(resp); ok && d > maxWait {
			return false, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
}

// response is a finished exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a signed request and returns central's answer. Network errors
// and 5xx/429 after the retries come back as plain errors (retry later);
// 2xx and 409 come back as responses; other 4xx as *RejectionError.
func (u *Uploader) do(ctx context.Context, method, path string, body []byte) (response, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.cfg.Enrollment.CentralURL+path, body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	u.cfg.Identity.SignRequest(req.Request, body, u.cfg.Now())
	resp, err := u.client.Do(req)
	if resp == nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return response{}, ctxErr
		}
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if rerr != nil {
		return response{}, fmt.Errorf("%s %s: reading answer: %w", method, path, rerr)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: data}
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300, s == http.StatusConflict:
		return r, nil
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp); ok {
			return r, &RetryLaterError{After: d}
		}
		return r, fmt.Errorf("%s %s: central busy: %s", method, path, resp.Status)
	case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooEarly:
		var e protocol.Error
		_ = json.Unmarshal(data, &e)
		return r, &RejectionError{Status: s, Code: e.Code, Message: e.Message}
	default:
		return r, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
}

// manifest builds the sealed-to-be manifest of s. It is deterministic, so a
// resend after a crash matches what central already holds.
func (u *Uploader) manifest(s vault.Submission) (protocol.Manifest, error) {
	m := protocol.Manifest{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), Payload: s.Payload}
	names := make([]string, 0, len(s.Images))
	for name := range s.Images {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		img := s.Images[name]
		sum := sha256.Sum256(img)
		key, err := u.cfg.Identity.ContentKey(s.ID, name, sum)
		if err != nil {
			return m, err
		}
		m.Images = append(m.Images, protocol.ImageMeta{Name: name, Size: int64(len(img)), SHA256: sum[:], Key: key})
	}
	return m, m.Validate()
}

// Upload sends s until central holds it complete, continuing any partial
// upload central reports. A nil error means central has the whole
// submission; *RejectionError (ErrRejected) means it never will; any other
// error means try again later.
func (u *Uploader) Upload(ctx context.Context, s vault.Submission) error {
	m, err := u.manifest(s)
	if err != nil {
		return &RejectionError{Code: "invalid", Message: "submission cannot be sent: " + err.Error()}
	}
	pt, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	sealed, err := protocol.SealManifest(&u.cfg.Enrollment.CentralBoxKey, pt)
	if err != nil {
		return err
	}
	key := protocol.SubmissionKey(s.ID)
	resp, err := u.do(ctx, http.MethodPut, protocol.SubmissionPath(key), sealed)
	if err != nil {
		return err
	}
	st, err := decodeState(resp)
	if err != nil {
		return err
	}
	for _, im := range m.Images {
		if st.Complete {
			break
		}
		if st, err = u.uploadImage(ctx, key, im, s.Images[im.Name], st); err != nil {
			return fmt.Errorf("uploading image %s: %w", im.Name, err)
		}
	}
	if !st.Complete {
		return errors.New("central does not report the submission complete after every image was sent")
	}
	return nil
}

// uploadImage sends the chunks of one image from where central stands.
func (u *Uploader) uploadImage(ctx context.Context, key string, im protocol.ImageMeta, img []byte, st protocol.UploadState) (protocol.UploadState, error) {
	// Central may move the offset backwards only by losing data; bound
	// the loop so a confused central cannot keep the device busy forever.
	maxRequests := 2*(len(img)/u.cfg.ChunkSize+1) + 4
	for range maxRequests {
		off := st.Received[im.Name]
		if st.Complete || off >= im.Size {
			return st, nil
		}
		if off < 0 {
			return st, fmt.Errorf("central reports offset %d", off)
		}
		end := min(off+int64(u.cfg.ChunkSize), im.Size)
		body, err := protocol.SealChunk(im.Key, im.Name, off, img[off:end])
		if err != nil {
			return st, err
		}
		resp, err := u.do(ctx, http.MethodPut, protocol.ImagePath(key, im.Name, off), body)
		var rej *RejectionError
		if errors.As(err, &rej) && rej.Code == "unknown_submission" {
			// Central lost the manifest (restored from a backup?): the next
			// attempt sends it again.
			return st, fmt.Errorf("central no longer knows the submission: %s", rej.Message)
		}
		if err != nil {
			return st, err
		}
		if st, err = decodeState(resp); err != nil {
			return st, err
		}
	}
	return st, errors.New("image upload made no progress")
}

func decodeState(r response) (protocol.UploadState, error) {
	var st protocol.UploadState
	if err := json.Unmarshal(r.body, &st); err != nil {
		return st, fmt.Errorf("decoding upload state (status %d): %w", r.status, err)
	}
	return st, nil
}

// FetchConfig down-syncs the risk configuration and watchlist versions.
func (u *Uploader) FetchConfig(ctx context.Context) (protocol.Config, error) {
	var c protocol.Config
	resp, err := u.do(ctx, http.MethodGet, protocol.PathConfig, nil)
	if err != nil {
		return c, fmt.Errorf("fetching configuration: %w", err)
	}
	if err := json.Unmarshal(resp.body, &c); err != nil {
		return c, fmt.Errorf("decoding configuration: %w", err)
	}
	return c, nil
}

// FetchWatchlist downloads a watchlist's bytes and checks them against w.
func (u *Uploader) FetchWatchlist(ctx context.Context, w protocol.Watchlist) ([]byte, error) {
	if !protocol.ValidName(w.Name) {
		return nil, fmt.Errorf("fetching watchlist: invalid name %q", w.Name)
	}
	resp, err := u.do(ctx, http.MethodGet, protocol.WatchlistPath(w.Name), nil)
	if err != nil {
		return nil, fmt.Errorf("fetching watchlist %s: %w", w.Name, err)
	}
	if sum := sha256.Sum256(resp.body); !bytes.Equal(sum[:], w.SHA256) {
		// A newer version may have been published between the two calls;
		// the next sync picks it up.
		return nil, fmt.Errorf("fetching watchlist %s: content does not match version %d", w.Name, w.Version)
	}
	return resp.body, nil
}
