// Package agent is the device side of sync: an Uploader that talks to
// central (signed requests, manifest sealed to central's key, images in
// resumable encrypted chunks, retries through go-retryablehttp with
// jittered exponential backoff and Retry-After), and an Agent, the one sync
// loop of the device (`kyc sync` and the desktop app both run Agent.Run),
// that drains the vault's outbox with it, keeps the verified configuration
// and watchlists where the app and the CLI read them, brings back the
// decisions central's reviewers made on the device's submissions
// (SyncReviews), reports the device's status to central, and applies the
// vault's image drop and retention.
//
// Delivery is at least once: a crash at any point leaves the submission
// queued or sending (its lease lapses), and it is sent again. Central
// dedupes by the submission's idempotency key and continues partial image
// uploads from the bytes it holds, so the effect is exactly once. An
// upload central holds open (its manifest in, images missing) is resumed
// before any submission central has not seen (vault.Vault.MarkStarted):
// central holds only a few open per device and refuses another manifest
// for a minute, so a backlog started behind them would wait a minute per
// submission.
//
// Nothing is dropped silently: only a 422 (a content error resending
// cannot fix), or central's receipt saying its retention closed the
// upload before the images arrived, marks a submission rejected (its
// images kept); images are shredded only on central's receipt showing it
// holds them all (checkComplete; a "complete" without one, as a central
// before receipts or an impostor with a certificate answers, is not
// delivery). An operator can re-queue a rejected one
// (Agent.Requeue, `kyc sync requeue`). Every other answer (401 stale,
// unknown_device, bad_signature, 403 revoked, 5xx, the network) keeps it
// queued, retried with backoff, and is shown in words (Describe, Pass).
// Requests are signed with the device clock corrected by its offset from
// central's Date header, so a device minutes off is still accepted.
//
// On a slow or lossy link, chunk sizes and timeouts follow the measured
// upload rate (chunks of about five seconds, 64 KB to 4 MB, capped lower
// after losses; each attempt gets a floor plus three times its transfer
// time), and a lost chunk is sent again, re-sliced, from the offset
// central holds.
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

// Config configures an Uploader.
type Config struct {
	Identity   *identity.Identity
	Enrollment identity.Enrollment
	// Transport carries the requests; nil means the enrolment's (TLS
	// trusting the CA given at enrolment). Tests put fault injection here,
	// over Enrollment.Transport().
	Transport http.RoundTripper
	// Timeout is the least time one attempt gets (the round trip and
	// central's work); each attempt gets this plus three times its body's
	// transfer time at the measured upload rate. Zero means 30 seconds.
	Timeout time.Duration
	// RetryMax is how many times one request is retried within a call
	// before the call fails (the outbox then schedules the submission
	// again); zero means 4, negative means no retries.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff between retries;
	// zero means 500 ms and 30 s. A Retry-After beyond RetryWaitMax ends
	// the call with a RetryLaterError.
	RetryWaitMin, RetryWaitMax time.Duration
	// ChunkSize fixes the plaintext size of image chunks; zero means
	// adaptive: what takes about ChunkTime (zero: 5 s) at the measured
	// rate, between MinChunkSize and MaxChunkSize.
	ChunkSize int
	ChunkTime time.Duration
	// Now is the device clock; nil means time.Now. Requests are signed
	// with it corrected by the offset measured from central's Date;
	// central's certificate is checked against it as it stands (the
	// enrolment's transport), and found outside its validity is
	// ErrClockWrong.
	Now func() time.Time
}

// Uploader sends submissions to central and fetches configuration. It is
// safe for concurrent use.
type Uploader struct {
	cfg    Config
	client *retryablehttp.Client
	clock  *clock
	link   *link
	lt     *linkTransport
}

// NewUploader checks cfg and builds an Uploader. A central URL with plain
// http:// to a host other than loopback is refused (identity.ErrInsecureURL).
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
		cfg.Timeout = 30 * time.Second
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
	if cfg.ChunkSize > protocol.MaxChunkSize {
		cfg.ChunkSize = protocol.MaxChunkSize
	}
	if cfg.ChunkTime <= 0 {
		cfg.ChunkTime = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		tr, err := cfg.Enrollment.Transport()
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		// Certificates are judged by the same device clock as the rest.
		tr.TLSClientConfig.Time = cfg.Now
		cfg.Transport = tr
	}
	u := &Uploader{cfg: cfg, clock: &clock{local: cfg.Now}, link: newLink()}
	u.lt = &linkTransport{base: cfg.Transport, link: u.link, floor: cfg.Timeout, now: cfg.Now}
	c := retryablehttp.NewClient()
	// Timeouts are per attempt, in linkTransport, sized to each body.
	c.HTTPClient = &http.Client{Transport: u.lt, CheckRedirect: noRedirects}
	c.Logger = nil
	c.RetryMax = cfg.RetryMax
	c.RetryWaitMin, c.RetryWaitMax = cfg.RetryWaitMin, cfg.RetryWaitMax
	c.Backoff = Backoff
	c.CheckRetry = u.checkRetry
	// Every attempt gets a fresh timestamp (from the corrected clock) and
	// nonce: central refuses a nonce it has seen, and a retry may follow a
	// request that arrived.
	c.PrepareRetry = func(req *http.Request) error { return cfg.Identity.ResignRequest(req, u.clock.Now()) }
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	u.client = c
	return u, nil
}

// noRedirects keeps every request at the enrolled central: a redirect is
// answered as it stands (and is an error).
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ClockOffset is central's clock minus the device's, as last measured from
// central's Date header (zero before any answer).
func (u *Uploader) ClockOffset() time.Duration { return u.clock.Offset() }

// LastContact is when central last answered anything, by the device clock
// (zero if never since the Uploader was made).
func (u *Uploader) LastContact() time.Time { return u.lt.lastContact() }

// LinkRate is the estimated upload rate to central in bytes per second.
func (u *Uploader) LinkRate() float64 { return u.link.Rate() }

// chunkSize is the plaintext size of the next image chunk.
func (u *Uploader) chunkSize() int {
	if u.cfg.ChunkSize > 0 {
		return u.cfg.ChunkSize
	}
	return u.link.chunkSize(u.cfg.ChunkTime)
}

// Backoff is the retry delay for go-retryablehttp: the Retry-After of a 429
// or 503 when central sent one of at least lo, else exponential from lo,
// capped at hi, with equal jitter (a uniform draw from the upper half) so
// that devices cut off together do not come back together. A Retry-After
// of nothing (0, a date past) gets the backoff: taken as it stands, a
// failing central would have every retry at once, for every submission.
func Backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp); ok && d >= lo {
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

// MaxRetryAfter is the longest pause a Retry-After obtains: central asks
// for a minute or so; a header that says years (a misconfigured proxy, a
// bug) must not park the device's queue until someone restarts it.
const MaxRetryAfter = time.Hour

// retryAfter reads the Retry-After of a 429 or 503 (seconds or HTTP date).
// A date is measured from the answer's own Date when it has one: both are
// the server's clock, and the device's may be years off, which would make
// the wait years long (or nothing).
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		// Compared in seconds: years of them overflow a Duration.
		return time.Duration(min(s, int64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		from := time.Now()
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			from = d
		}
		return min(max(t.Sub(from), 0), MaxRetryAfter), true
	}
	return 0, false
}

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// checkRetry is go-retryablehttp's default policy (network errors, 429
// and 5xx retry; a certificate central's CA did not sign does not), plus:
// every answer's Date feeds the clock; a 401 stale or replayed is retried
// at once, signed again with the corrected clock and a new nonce; and a
// Retry-After longer than the longest wait ends the call so the outbox can
// reschedule.
func (u *Uploader) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if resp == nil && ctx.Value(noNetRetryKey{}) != nil {
		return false, nil
	}
	if resp != nil {
		code := ""
		if resp.StatusCode == http.StatusUnauthorized {
			code = peekCode(resp)
		}
		u.clock.observe(resp.Header, code == "stale")
		if code == "stale" || code == "replayed" {
			return true, nil
		}
		if d, ok := retryAfter(resp); ok && d > u.cfg.RetryWaitMax {
			return false, nil
		}
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// peekCode reads the error code of an answer, leaving its body readable.
func peekCode(resp *http.Response) string {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(data), resp.Body}
	var e protocol.Error
	_ = json.Unmarshal(data, &e)
	return e.Code
}

// response is a finished exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// maxAnswer bounds a non-streamed answer (an upload state, a configuration).
const maxAnswer = 16 << 20

// send signs and sends a request, with retries; the caller closes the
// answer's body. A nil answer comes with an error: the network failed
// (ErrUnreachable, ErrUntrusted, ErrClockWrong) or ctx ended.
func (u *Uploader) send(ctx context.Context, method, path string, body []byte, contentType string) (*http.Response, error) {
	op := method + " " + path
	var rawBody any // a nil []byte would still send an empty body
	if body != nil {
		rawBody = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.cfg.Enrollment.CentralURL+path, rawBody)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	u.cfg.Identity.SignRequest(req.Request, body, u.clock.Now())
	resp, err := u.client.Do(req)
	if resp == nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, u.netError(op, err)
	}
	return resp, nil
}

// classify turns a non-success answer into the package's errors: 2xx and
// 409 are nil, 422 a *RejectionError, 429/503 with a long Retry-After a
// *RetryLaterError, anything else a *CentralError.
func classify(op string, status int, header http.Header, data []byte) error {
	if status >= 200 && status < 300 || status == http.StatusConflict {
		return nil
	}
	var e protocol.Error
	_ = json.Unmarshal(data, &e)
	// Central's words reach the operator's terminal, the app and the
	// vault: defused and bounded here, once, for all of them.
	e.Code, e.Message, e.RequestID = protocol.Printable(e.Code, protocol.MaxText), protocol.Printable(e.Message, protocol.MaxText), protocol.Printable(e.RequestID, protocol.MaxText)
	if status == http.StatusUnprocessableEntity {
		return &RejectionError{Status: status, Code: e.Code, Message: e.Message, RequestID: e.RequestID}
	}
	if d, ok := retryAfter(&http.Response{StatusCode: status, Header: header}); ok {
		return &RetryLaterError{After: d}
	}
	return &CentralError{Op: op, Status: status, Code: e.Code, Message: e.Message, RequestID: e.RequestID}
}

// do sends a signed request and returns central's answer, with the error
// classify gives it.
func (u *Uploader) do(ctx context.Context, method, path string, body []byte) (response, error) {
	return u.doType(ctx, method, path, body, "application/octet-stream")
}

func (u *Uploader) doType(ctx context.Context, method, path string, body []byte, contentType string) (response, error) {
	resp, err := u.send(ctx, method, path, body, contentType)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if rerr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return response{}, ctxErr
		}
		return response{}, u.netError(method+" "+path+": reading answer", rerr)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: data}
	return r, classify(method+" "+path, resp.StatusCode, resp.Header, data)
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
// upload from the bytes central reports it holds. A nil error means
// central has the whole submission; *RejectionError (ErrRejected) means it
// never will; any other error means try again later.
func (u *Uploader) Upload(ctx context.Context, s vault.Submission) error {
	return u.uploadNoting(ctx, s, nil)
}

// uploadNoting is Upload, calling started (when not nil) as soon as
// central holds the manifest and still expects images: from then on the
// upload is one of the few central holds open for the device, which the
// outbox resumes before it starts another (vault.Vault.MarkStarted).
func (u *Uploader) uploadNoting(ctx context.Context, s vault.Submission, started func()) error {
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
	if len(sealed) > protocol.MaxManifestSize {
		// Central refuses it by its length (413) however often it is
		// sent: final, kept for an operator, not sent at every pass.
		return &RejectionError{Code: "invalid", Message: fmt.Sprintf("submission cannot be sent: its sealed manifest is %d bytes, over the %d central takes", len(sealed), protocol.MaxManifestSize)}
	}
	key := protocol.SubmissionKey(s.ID)
	sent := sentManifest{m: m, key: key, sum: sha256.Sum256(pt)}
	// Twice at most: central may have lost the manifest (restored from a
	// backup) between the manifest and a chunk; sending it again tells
	// central what to expect and where it stands.
	for round := 0; ; round++ {
		err := u.upload(ctx, sealed, sent, s, started)
		var ce *CentralError
		if round == 0 && errors.As(err, &ce) && ce.Code == "unknown_submission" {
			continue
		}
		return err
	}
}

// sentManifest is what the device sent of a submission, to check
// central's receipt against.
type sentManifest struct {
	m   protocol.Manifest
	key string
	sum [sha256.Size]byte // of the manifest's plaintext, as central hashes it
}

func (u *Uploader) upload(ctx context.Context, sealed []byte, sent sentManifest, s vault.Submission, started func()) error {
	m, key := sent.m, sent.key
	resp, err := u.do(ctx, http.MethodPut, protocol.SubmissionPath(key), sealed)
	if err != nil {
		return err
	}
	st, err := decodeState(resp)
	if err != nil {
		return err
	}
	if err := checkComplete(st, sent); err != nil {
		return err
	}
	if !st.Complete && started != nil {
		started()
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
	return checkComplete(st, sent)
}

// checkComplete takes an answer that says complete as delivery only when
// it shows central holds every image of what the device sent: the device
// shreds its copy on it (Options.KeepImages), and a mistaken "complete"
// would lose the only one. The answer must carry a receipt
// (protocol.Receipt) naming this submission, the manifest sent and every
// image, and list every image at its full size. A complete without a
// receipt is not delivery: a central from before receipts answers a bare
// "complete" for an upload its retention closed before the images
// arrived, and anything holding a certificate from central's CA can
// answer one, sizes counted from the device's own chunks, without central
// ever seeing them (it cannot forge a receipt: that names the SHA-256 of
// the manifest, sealed to central's key). Anything short of that is an
// error: the submission stays queued, with its images, and is sent again.
// The one final answer is a receipt saying central's retention closed
// the upload before the images arrived: resending cannot help (central
// refuses images for it), so it is rejected, which keeps the images on
// the device for an operator, until the device's own retention.
func checkComplete(st protocol.UploadState, sent sentManifest) error {
	if !st.Complete {
		return nil
	}
	m := sent.m
	rc := st.Receipt
	if rc == nil {
		return errors.New("central reports the submission complete without a receipt (a central older than receipts, or someone in between answering for it); not taken as delivered")
	}
	if rc.Key != sent.key || !bytes.Equal(rc.ManifestSHA256, sent.sum[:]) {
		return errors.New("central reports complete a submission or manifest other than the one sent; not taken as delivered")
	}
	if rc.ImagesErased {
		if rc.Incomplete {
			return &RejectionError{Code: "images_erased", Message: "central's retention closed the upload before all its images arrived and erased what it held; the device keeps its copy"}
		}
		return nil // central held every image whole before its retention erased them
	}
	if rc.Images != len(m.Images) {
		return fmt.Errorf("central's receipt counts %d of the %d images sent; not taken as delivered", rc.Images, len(m.Images))
	}
	for _, im := range m.Images {
		if n := st.Received[im.Name]; n != im.Size {
			return fmt.Errorf("central reports the submission complete with %d of the %d bytes of image %s; not taken as delivered", n, im.Size, im.Name)
		}
	}
	return nil
}

// uploadImage sends the chunks of one image from where central stands,
// each sized to the measured link (or Config.ChunkSize).
func (u *Uploader) uploadImage(ctx context.Context, key string, im protocol.ImageMeta, img []byte, st protocol.UploadState) (protocol.UploadState, error) {
	// Central may move the offset backwards only by losing data; bound
	// the loop so a confused central cannot keep the device busy forever.
	smallest := MinChunkSize
	if u.cfg.ChunkSize > 0 {
		smallest = u.cfg.ChunkSize
	}
	maxRequests := 2*(len(img)/smallest+1) + 4
	failures := 0
	for requests := 0; requests < maxRequests; {
		off := st.Received[im.Name]
		if st.Complete || off >= im.Size {
			return st, nil
		}
		if off < 0 {
			return st, fmt.Errorf("central reports offset %d", off)
		}
		end := min(off+int64(u.chunkSize()), im.Size)
		body, err := protocol.SealChunk(im.Key, im.Name, off, img[off:end])
		if err != nil {
			return st, err
		}
		// A lost chunk is retried here rather than by go-retryablehttp:
		// sliced again to the link as it now looks, from the offset
		// central holds (a 409 tells it when the chunk did arrive).
		resp, err := u.do(withoutNetRetry(ctx), http.MethodPut, protocol.ImagePath(key, im.Name, off), body)
		if err != nil && errors.Is(err, ErrUnreachable) && ctx.Err() == nil && failures < u.cfg.RetryMax {
			failures++
			if werr := sleep(ctx, Backoff(u.cfg.RetryWaitMin, u.cfg.RetryWaitMax, failures, nil)); werr != nil {
				return st, werr
			}
			continue
		}
		if err != nil {
			return st, err
		}
		failures = 0
		requests++
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

// ErrNoSignKey means the enrolment has no central signing key to verify
// configuration with: it was made before central signed configuration.
var ErrNoSignKey = errors.New("agent: the enrolment has no central signing key; enrol the device again to receive configuration")

// FetchConfig down-syncs the signed configuration and returns it once its
// signature verifies with the central key pinned at enrolment. The
// watchlists it lists are not checked here (see SyncConfig).
func (u *Uploader) FetchConfig(ctx context.Context) (protocol.Config, error) {
	c, _, err := u.fetchConfig(ctx)
	return c, err
}

// fetchConfig is FetchConfig with central's signed answer as it came,
// which SyncConfig keeps so the device can check it again at every load.
func (u *Uploader) fetchConfig(ctx context.Context) (protocol.Config, protocol.SignedConfig, error) {
	var c protocol.Config
	var sc protocol.SignedConfig
	if len(u.cfg.Enrollment.CentralSignKey) == 0 {
		return c, sc, ErrNoSignKey
	}
	resp, err := u.do(ctx, http.MethodGet, protocol.PathConfig, nil)
	if err != nil {
		return c, sc, fmt.Errorf("fetching configuration: %w", err)
	}
	if err := json.Unmarshal(resp.body, &sc); err != nil {
		return c, sc, fmt.Errorf("fetching configuration: decoding: %w", err)
	}
	if c, err = sc.Open(u.cfg.Enrollment.CentralSignKey); err != nil {
		return c, sc, fmt.Errorf("fetching configuration: %w", err)
	}
	return c, sc, nil
}

// DownloadWatchlist streams the bytes of the watchlist w describes into
// dst, hashing as they pass, and fails unless they are exactly w.Size
// bytes with w.SHA256 (and at most protocol.MaxWatchlistSize). The caller
// checks w's signature first and discards dst on failure. Nothing holds
// the list whole in memory.
func (u *Uploader) DownloadWatchlist(ctx context.Context, w protocol.Watchlist, dst io.Writer) error {
	if !protocol.ValidName(w.Name) {
		return fmt.Errorf("fetching watchlist: invalid name %q", w.Name)
	}
	if w.Size < 0 || w.Size > protocol.MaxWatchlistSize {
		return fmt.Errorf("fetching watchlist %s: size %d beyond the limit of %d", w.Name, w.Size, protocol.MaxWatchlistSize)
	}
	path := protocol.WatchlistPath(w.Name)
	// The idle timeout alone lets a drip of a byte now and then hold the
	// sync loop for as long as it lasts: the whole list must arrive at no
	// less than the slowest rate the link estimate admits.
	limit := u.cfg.Timeout + time.Duration(timeoutFactor*float64(w.Size)/minRate*float64(time.Second))
	dctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("%w: the list's %d bytes did not arrive within %s", ErrUnreachable, w.Size, limit.Round(time.Millisecond)))
	defer cancel()
	resp, err := u.send(withStream(dctx), http.MethodGet, path, nil, "")
	if err != nil {
		if ctx.Err() == nil && dctx.Err() != nil {
			err = context.Cause(dctx)
		}
		return fmt.Errorf("fetching watchlist %s: %w", w.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		err := classify("GET "+path, resp.StatusCode, resp.Header, data)
		if err == nil {
			err = fmt.Errorf("GET %s: unexpected status %d", path, resp.StatusCode)
		}
		return fmt.Errorf("fetching watchlist %s: %w", w.Name, err)
	}
	h := sha256.New()
	// One byte more than announced shows a longer answer without reading
	// all of it.
	n, err := io.Copy(io.MultiWriter(dst, h), io.LimitReader(resp.Body, w.Size+1))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if dctx.Err() != nil {
			return fmt.Errorf("fetching watchlist %s: %w", w.Name, context.Cause(dctx))
		}
		return fmt.Errorf("fetching watchlist %s: %w", w.Name, u.netError("GET "+path, err))
	}
	if n != w.Size || !bytes.Equal(h.Sum(nil), w.SHA256) {
		// A newer version may have been published between the two calls;
		// the next sync picks it up.
		return fmt.Errorf("fetching watchlist %s: %w: %d bytes that do not match version %d (%d bytes)", w.Name, ErrWatchlistMismatch, n, w.Version, w.Size)
	}
	return nil
}

// ErrWatchlistMismatch means a watchlist's bytes do not match its signed
// descriptor (size or SHA-256).
var ErrWatchlistMismatch = errors.New("watchlist content does not match its signed descriptor")

// SendStatus reports the device's state to central (PUT /v1/status).
func (u *Uploader) SendStatus(ctx context.Context, st protocol.DeviceStatus) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if _, err := u.doType(ctx, http.MethodPut, protocol.PathStatus, body, "application/json"); err != nil {
		return fmt.Errorf("reporting status: %w", err)
	}
	return nil
}
