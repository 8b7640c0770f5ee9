package webhook

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
)

// Delivery defaults.
const (
	// DefaultTimeout bounds one delivery request's connection and answer,
	// and a small one in all (pace.go).
	DefaultTimeout = 10 * time.Second
	// DefaultWorkers is how many deliveries run at once.
	DefaultWorkers = 16
	// DefaultPerPartner is how many of them one partner may hold for
	// each of its destinations (webhook endpoint, push endpoint: slotOf),
	// so a partner whose endpoint hangs keeps at most this many slots.
	DefaultPerPartner = 4
	// DefaultMaxAge is how long after its first attempt an event is
	// retried before it is dead.
	DefaultMaxAge = 72 * time.Hour
	// DefaultPoll is how often the worker looks for due events it was not
	// told about (written by another instance, or a Notify it missed).
	DefaultPoll = 5 * time.Second
	// ExcerptBytes is how much of an answer an attempt keeps.
	ExcerptBytes = 256
	// drainBytes is how much more of an answer is read (and dropped) so
	// the connection can be reused.
	drainBytes = 64 << 10
	// errorPause is how long the worker waits after the store failed.
	errorPause = time.Second
)

// StandardSchedule is the Standard Webhooks retry schedule after the
// first (immediate) attempt: the n-th retry waits up to StandardSchedule[n-1]
// (full jitter), the last entry repeating until the event's MaxAge.
var StandardSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour,
}

// Store is what the worker needs of central's store.
type Store interface {
	central.Webhooks
	Partner(ctx context.Context, id string) (central.Partner, error)
}

// Config configures a Worker.
type Config struct {
	Store Store // required
	// Open opens a partner's sealed webhook secret
	// (central.WebhookSecret.Sealed) into the secret as shown
	// ("whsec_...") or the raw key; required. With the partner API:
	//
	//	func(pid string, sealed []byte) ([]byte, error) {
	//		s, err := partnerapi.OpenWebhookSecret(key, pid, sealed)
	//		return []byte(s), err
	//	}
	Open func(partnerID string, sealed []byte) ([]byte, error)
	// Client sends the requests; nil means one without redirects (a 3xx
	// is a failed attempt, as Standard Webhooks says) and the system
	// roots. Its own Timeout, if any, is kept; the attempt's bounds apply
	// anyway (PacedClient).
	Client *http.Client
	// Timeout bounds a request's connection, and its answer's headers
	// once its body is written (DefaultTimeout). A request with a body of
	// n bytes gets Timeout + n/MinRate in all, the body's share at most
	// MaxTransfer (pace.go): a large push on a slow link is delivered, a
	// small event is bound by Timeout as it always was.
	Timeout time.Duration
	// MinRate is the slowest body transfer allowed, in bytes a second
	// (DefaultMinRate); MaxTransfer caps the time a body adds
	// (DefaultMaxTransfer).
	MinRate     int64
	MaxTransfer time.Duration
	// Workers and PerPartner bound concurrent deliveries (defaults above).
	Workers, PerPartner int
	// Schedule is the retry schedule (StandardSchedule); tests shorten it.
	Schedule []time.Duration
	// MaxAge is how long after its first attempt (not its creation) an
	// event is retried (DefaultMaxAge), the time its partner was disabled
	// (its events held) not counted.
	MaxAge time.Duration
	// Poll is the fallback look for due events (DefaultPoll).
	Poll time.Duration
	// Now is the clock (time.Now); Jitter picks a delay in [0, max]
	// (uniform when nil).
	Now    func() time.Time
	Jitter func(max time.Duration) time.Duration
	// UserAgent of the requests ("kyc-central-webhooks").
	UserAgent string
	Logger    *slog.Logger
	// Senders deliver the events whose Type starts with a key's prefix
	// (the enterprise push, package push, takes "push."); every other
	// event goes to the partner's webhook endpoint. Such events share the
	// store, ordering, retries, attempt log and replay of webhooks; give
	// them their own SessionID lane ("push/" + session id) so a failing
	// destination holds back only its own events.
	Senders map[string]Sender
	// Lanes, when set, is a store shared by instances with a job queue
	// (pgstore and package jobs): deliveries are then the queue's jobs,
	// worked by QueueWorker in the instance's River client, and
	// Service.Run starts no polling worker (queue.go).
	Lanes central.WebhookLanes
	// Drain is how long a queue job goes on delivering its session's
	// later events after its own (DefaultDrain).
	Drain time.Duration
	// Hold is how long a queue job of a disabled partner's event waits
	// before it looks again (DefaultHold).
	Hold time.Duration
}

// ErrGiveUp, wrapped in a Sender's error, ends the event at once (dead,
// no retry): what it needs is gone for good, as a push of an erased
// submission or to a partner that removed its push. A replay by an admin
// still sends it again.
var ErrGiveUp = errors.New("webhook: giving up on the event")

// Sender delivers an event somewhere other than the partner's webhook
// endpoint. It returns the answer's HTTP status and what to keep of its
// body (the attempt log's excerpt), or an error when no answer came; a 2xx
// status with a nil error marks the event delivered. Its requests are
// bounded by their size as the worker's own are when sent with a client
// from PacedClient and ctx (which carries the bounds, and a deadline for
// the attempt as a whole).
type Sender interface {
	Send(ctx context.Context, p central.Partner, ev central.WebhookEvent, at time.Time) (status int, excerpt string, err error)
}

// RetryAfterSender is a Sender that also says what its answer's
// Retry-After asked for (httpx.ParseRetryAfter; zero: nothing), so the
// worker retries its events no sooner, as it does its own webhooks', and
// no later than the schedule's longest wait.
type RetryAfterSender interface {
	Sender
	SendRetryAfter(ctx context.Context, p central.Partner, ev central.WebhookEvent, at time.Time) (status int, excerpt string, retryAfter time.Duration, err error)
}

// Worker delivers webhook events. Run it once per central instance.
type Worker struct {
	cfg  Config
	wake chan struct{}

	mu         sync.Mutex
	inflight   map[string]bool // event ids being delivered
	perPartner map[string]int  // by slotOf
	// gen counts finished deliveries; finished maps an event id to the gen
	// its delivery finished at, so a due list read before that (which
	// still shows the event due) does not send it again.
	gen      int64
	finished map[string]int64
	retries  timeHeap // retry times this worker scheduled
	wg       sync.WaitGroup

	// blocked maps an event id to when its lane, held by another sender
	// (or its event not yet due after all), may be leased: until then it
	// is not started again, so a held lane is not asked for at every
	// completion.
	blocked map[string]time.Time

	// stopping ends at Interrupt, cutting off the sends under way.
	stopping  context.Context
	interrupt context.CancelFunc
}

// NewWorker returns a worker; it does nothing until Run or RunOnce.
func NewWorker(cfg Config) (*Worker, error) {
	if cfg.Store == nil || cfg.Open == nil {
		return nil, errors.New("webhook: Config needs a Store and Open")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.MaxTransfer <= 0 {
		cfg.MaxTransfer = DefaultMaxTransfer
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PerPartner <= 0 {
		cfg.PerPartner = DefaultPerPartner
	}
	cfg.PerPartner = min(cfg.PerPartner, cfg.Workers)
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = StandardSchedule
	}
	if slices.Max(cfg.Schedule) > central.EventMaxWait {
		// A next attempt further ahead is taken as set by a clock since
		// put back, and made at once (central.EventDue).
		return nil, fmt.Errorf("webhook: a retry waits at most %v", central.EventMaxWait)
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Drain <= 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Hold <= 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max + 1)
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "kyc-central-webhooks"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		tr := httpx.OutboundTransport() // no metadata service, however the URL resolves
		tr.MaxIdleConnsPerHost = cfg.PerPartner
		cfg.Client = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	cfg.Client = PacedClient(cfg.Client)
	w := &Worker{cfg: cfg, wake: make(chan struct{}, 1), inflight: map[string]bool{}, perPartner: map[string]int{}, finished: map[string]int64{},
		blocked: map[string]time.Time{}}
	w.stopping, w.interrupt = context.WithCancel(context.Background())
	return w, nil
}

// errInterrupted ends an attempt Interrupt cut off: it is not recorded,
// and the event stays due as stored (its lane released).
var errInterrupted = errors.New("webhook: the attempt was interrupted by shutdown")

// Interrupt cuts off the sends under way, for a shutdown that cannot wait
// for them (a large push may take up to MaxTransfer): each ends at once,
// nothing is recorded of it unless it was delivered, and its event stays
// due as it was (through the queue, its lane's lease released), so another
// instance, or this one's next start, sends it again at once. Queue jobs
// started afterwards make no attempt. Run and the queue jobs still end as
// their ctx says.
func (w *Worker) Interrupt() { w.interrupt() }

// Notify wakes the worker to look for due events now: after events were
// written (the emitter, the partner API) or replayed. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers events until ctx ends, then waits for the deliveries under
// way (each bounded, pace.go) and returns nil.
func (w *Worker) Run(ctx context.Context) error {
	defer w.cfg.Client.CloseIdleConnections()
	defer w.wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := w.cfg.Poll
		if _, err := w.start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook delivery: reading due events failed", slog.String("cause", err.Error()))
			wait = errorPause
		}
		if next, ok := w.nextRetry(); ok {
			wait = min(wait, max(next.Sub(w.cfg.Now()), 0))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// RunOnce delivers the events due now (one per session) and waits for
// those deliveries; it returns how many events it tried.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	n, err := w.start(ctx)
	w.wg.Wait()
	return n, err
}

// start reads the due events and starts a delivery for each not under way
// already, within the pool's and each partner's limits. Completions notify
// the worker, which then looks again (a session's next event).
func (w *Worker) start(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	w.mu.Lock()
	for w.retries.Len() > 0 && !w.retries[0].After(now) {
		heap.Pop(&w.retries)
	}
	busy := len(w.inflight)
	gen := w.gen
	for id, g := range w.finished {
		if g <= gen { // the read below sees it finished
			delete(w.finished, id)
		}
	}
	for id, t := range w.blocked {
		if !t.After(now) {
			delete(w.blocked, id)
		}
	}
	w.mu.Unlock()
	if busy >= w.cfg.Workers {
		return 0, nil
	}
	// Ask for more than the free slots: the answer includes the events
	// under way and those of partners at their cap, which are skipped.
	limit := max(busy+w.cfg.Workers*4, 256)
	evs, err := w.cfg.Store.DueEvents(ctx, now, limit)
	if err != nil {
		return 0, fmt.Errorf("webhook: due events: %w", err)
	}
	started := 0
	for _, ev := range evs {
		w.mu.Lock()
		if len(w.inflight) >= w.cfg.Workers {
			w.mu.Unlock()
			break
		}
		slot := slotOf(ev.PartnerID, ev.SessionID)
		if w.inflight[ev.ID] || w.finished[ev.ID] > gen || w.perPartner[slot] >= w.cfg.PerPartner || !w.blocked[ev.ID].IsZero() {
			w.mu.Unlock()
			continue
		}
		w.inflight[ev.ID] = true
		w.perPartner[slot]++
		w.wg.Add(1)
		w.mu.Unlock()
		started++
		go func() {
			defer w.wg.Done()
			blocked := w.deliver(context.WithoutCancel(ctx), ev)
			w.mu.Lock()
			w.gen++
			w.finished[ev.ID] = w.gen
			delete(w.inflight, ev.ID)
			if w.perPartner[slot]--; w.perPartner[slot] <= 0 {
				delete(w.perPartner, slot)
			}
			if !blocked.IsZero() {
				w.blocked[ev.ID] = blocked
			}
			w.mu.Unlock()
			if blocked.IsZero() {
				w.Notify()
			}
		}()
	}
	return started, nil
}

// slotOf is what Config.PerPartner counts deliveries by: a partner's
// destination, its webhook endpoint or its push endpoint (the lanes of
// central.PushLane), so an endpoint that hangs takes the partner's share
// of the pool from its own events only, not from those going elsewhere.
func slotOf(partnerID, lane string) string {
	dest := "webhook"
	if strings.HasPrefix(lane, central.PushLane("")) {
		dest = "push"
	}
	return partnerID + "\x00" + dest
}

// nextRetry is the earliest retry this worker scheduled that is still to
// come.
func (w *Worker) nextRetry() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retries.Len() == 0 {
		return time.Time{}, false
	}
	return w.retries[0], true
}

// Result is one attempt's outcome.
type Result struct {
	Delivered bool
	NextAt    time.Time // zero when delivered or dead
	DeadAt    time.Time
	Attempt   central.DeliveryAttempt
}

// deliver leases ev's lane (its head up to ev), makes one attempt and
// records it under the lease, as the job queue's worker does (laneKeeper):
// a send that outlived its lease records nothing, and an event another
// sender holds is looked at again when its lease ends. It runs detached
// from Run's ctx (bounded by its size, pace.go) so an attempt begun is
// recorded, unless Interrupt cuts it off. blocked, when not zero, is when
// the lane, found held, may be leased.
func (w *Worker) deliver(ctx context.Context, ev central.WebhookEvent) (blocked time.Time) {
	lanes, hold := w.cfg.Store, 2*w.cfg.Timeout
	l, err := lanes.LeaseLane(ctx, central.Lane{PartnerID: ev.PartnerID, SessionID: ev.SessionID, UpTo: ev.Seq}, w.cfg.Now(), hold)
	switch {
	case err != nil:
		w.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook delivery: leasing the lane failed",
			slog.String("event", ev.ID), slog.String("cause", err.Error()))
		time.Sleep(errorPause) // as a failed record below
		return time.Time{}
	case l.Empty:
		return time.Time{} // delivered or ended meanwhile
	case !l.Held:
		w.retryAt(l.Wait) // another sender holds it, or it is no longer due
		return l.Wait
	}
	k := w.keep(ctx, lanes, l, hold)
	res, err := w.deliverOnce(k.ctx, l.Event, func(res Result) error { return k.record(ctx, res) })
	k.stop() // deliverOnce made no attempt (held, or the store failed)
	switch {
	case errors.Is(err, errLeaseLost) || errors.Is(err, errInterrupted):
		return time.Time{} // another sender's now; or released, still due as stored, for the next start
	case err != nil:
		// Not recorded: the event is still due as stored. The lane is
		// released so it goes on as soon as it may (a partner enabled
		// again, the store back).
		if rerr := lanes.ReleaseLane(ctx, l); rerr != nil && !errors.Is(rerr, central.ErrLeaseLost) {
			w.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook delivery: releasing the lane failed",
				slog.String("event", ev.ID), slog.String("cause", rerr.Error())) // it runs out within a hold
		}
		if errors.Is(err, errHeld) {
			return time.Time{} // DueEvents leaves it out while the partner is disabled
		}
		// Hold the slot a moment, so a store that fails writes is not
		// answered by a resend loop.
		time.Sleep(errorPause)
		return time.Time{}
	}
	if !res.Delivered && res.DeadAt.IsZero() {
		w.retryAt(res.NextAt)
	}
	return time.Time{}
}

// retryAt has Run look for due events again at t.
func (w *Worker) retryAt(t time.Time) {
	w.mu.Lock()
	heap.Push(&w.retries, t)
	w.mu.Unlock()
}

// errHeld is deliverOnce's error for an event of a disabled partner: no
// attempt was made or recorded, and the event keeps its state.
var errHeld = errors.New("webhook: the partner is disabled, its events are held")

// deliverOnce makes one attempt, records it with record and logs the
// outcome; it makes none (errHeld) while the event's partner is disabled.
// record's errLeaseLost (the lane is no longer the caller's) and
// errInterrupted say the attempt was not recorded, and are returned as
// they are.
func (w *Worker) deliverOnce(ctx context.Context, ev central.WebhookEvent, record func(Result) error) (Result, error) {
	p, perr := w.cfg.Store.Partner(ctx, ev.PartnerID)
	if perr == nil && p.Disabled {
		return Result{}, errHeld
	}
	from, err := w.window(ctx, p, ev)
	if err != nil {
		return Result{}, err
	}
	res := w.attempt(ctx, p, perr, ev, from)
	switch err := record(res); {
	case errors.Is(err, errLeaseLost):
		w.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "webhook delivery: the lane's lease was lost during the attempt, which is not recorded",
			slog.String("event", ev.ID))
		return res, errLeaseLost
	case errors.Is(err, errInterrupted):
		w.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "webhook delivery: the attempt was interrupted by shutdown and is not recorded",
			slog.String("event", ev.ID), slog.String("cause", err.Error())) // with a failed release of the lane
		return res, errInterrupted
	case err != nil:
		w.cfg.Logger.LogAttrs(ctx, slog.LevelError, "webhook delivery: recording the attempt failed",
			slog.String("event", ev.ID), slog.String("cause", err.Error()))
		return res, fmt.Errorf("recording the attempt of event %s: %w", ev.ID, err)
	}
	lvl, msg := slog.LevelDebug, "webhook delivered"
	switch {
	case !res.DeadAt.IsZero():
		lvl, msg = slog.LevelWarn, "webhook dead: retries exhausted"
	case !res.Delivered:
		lvl, msg = slog.LevelInfo, "webhook attempt failed"
	}
	w.cfg.Logger.LogAttrs(ctx, lvl, msg, slog.String("event", ev.ID), slog.String("partner", ev.PartnerID),
		slog.String("type", ev.Type), slog.Int("attempt", ev.Attempts+1), slog.Int("status", res.Attempt.Status),
		slog.Float64("latency_ms", res.Attempt.LatencyMS), slog.Time("next_at", res.NextAt))
	return res, nil
}

// window is when ev's MaxAge starts: its first attempt, moved on by the
// time its partner p was disabled since (p.HeldFor then and now, both in
// the store), so time spent held does not count and an event held for
// longer than MaxAge, before or after its first attempt, still has its
// retries. Zero before the first attempt (the attempt's own time then).
func (w *Worker) window(ctx context.Context, p central.Partner, ev central.WebhookEvent) (time.Time, error) {
	if ev.Attempts == 0 {
		return time.Time{}, nil
	}
	as, err := w.cfg.Store.Attempts(ctx, ev.ID)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the attempts of event %s: %w", ev.ID, err)
	}
	from := ev.CreatedAt
	if len(as) > 0 {
		from = as[0].At
	}
	return from.Add(max(p.HeldFor-ev.HeldBefore, 0)), nil
}

// attempt sends ev once to partner p (perr: reading it failed) and
// decides what follows; the event is dead once a retry would come more
// than MaxAge after from (zero: this attempt).
func (w *Worker) attempt(ctx context.Context, p central.Partner, perr error, ev central.WebhookEvent, from time.Time) Result {
	at := w.cfg.Now().UTC()
	if from.IsZero() {
		from = at
	}
	a := central.DeliveryAttempt{EventID: ev.ID, At: at, Held: p.HeldFor}
	start := time.Now()
	var retryAfter time.Duration
	status, excerpt, err := w.send(ctx, p, perr, ev, at, &retryAfter)
	a.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	a.Status, a.Excerpt = status, excerpt
	if err != nil {
		// The error's text is kept (the console and the admin API show
		// it) with each URL it quotes cut to its origin: a Sender's may
		// quote its request's URL (a library's %v of a url.Error), whose
		// query or path can carry a partner's token. An erasure does not
		// empty it (it names no one), so nothing else would remove it.
		a.Excerpt = clip(httpx.CutURLs(err.Error()), ExcerptBytes)
	}
	if err == nil && status >= 200 && status < 300 {
		return Result{Delivered: true, Attempt: a}
	}
	if errors.Is(err, ErrGiveUp) || (err == nil && status == http.StatusGone) {
		// 410 Gone: the endpoint wants no more of this (Standard
		// Webhooks: stop sending it), so it is not asked again for three
		// days; an admin's replay still sends it.
		return Result{DeadAt: at, Attempt: a}
	}
	// An answer's Retry-After (a 429's, a 503's) is taken into account,
	// as Standard Webhooks asks: the retry comes no sooner than it says,
	// but no later than the schedule's longest wait.
	wait := w.Backoff(ev.Attempts + 1)
	if retryAfter > wait {
		wait = min(retryAfter, w.cfg.Schedule[len(w.cfg.Schedule)-1])
	}
	next := at.Add(wait)
	if next.Sub(from) > w.cfg.MaxAge {
		return Result{DeadAt: at, Attempt: a}
	}
	return Result{NextAt: next, Attempt: a}
}

// Backoff is the wait after the failed attempt number n (1 for the first):
// full jitter under the schedule's n-th entry (the last one repeating).
func (w *Worker) Backoff(n int) time.Duration {
	s := w.cfg.Schedule
	return w.cfg.Jitter(s[min(max(n, 1), len(s))-1])
}

// errNoEndpoint is an attempt's error when the partner has no endpoint.
var errNoEndpoint = errors.New("the partner has no webhook endpoint")

// send POSTs the event to partner p (perr: reading it failed) and returns
// the answer's status and excerpt; retryAfter is set to what the answer's
// Retry-After asks, if anything.
func (w *Worker) send(ctx context.Context, p central.Partner, perr error, ev central.WebhookEvent, at time.Time, retryAfter *time.Duration) (int, string, error) {
	if perr != nil {
		if errors.Is(perr, central.ErrNotFound) {
			return 0, "", errors.New("the partner no longer exists")
		}
		return 0, "", errors.New("reading the partner failed")
	}
	ctx, cancel := withPace(ctx, w.pace())
	defer cancel()
	for prefix, sender := range w.cfg.Senders {
		if strings.HasPrefix(ev.Type, prefix) {
			if rs, ok := sender.(RetryAfterSender); ok {
				status, excerpt, wait, err := rs.SendRetryAfter(ctx, p, ev, at)
				*retryAfter = wait
				return status, excerpt, err
			}
			return sender.Send(ctx, p, ev, at)
		}
	}
	if p.Webhook.URL == "" {
		return 0, "", errNoEndpoint
	}
	keys, err := w.keys(p, at)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Webhook.URL, strings.NewReader(string(ev.Payload)))
	if err != nil {
		return 0, "", errors.New("the webhook URL is invalid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	if err := SetHeaders(req.Header, keys, ev.ID, at, ev.Payload); err != nil {
		return 0, "", err
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return 0, "", transportError(err)
	}
	defer resp.Body.Close()
	*retryAfter = httpx.ParseRetryAfter(resp.Header.Get("Retry-After"), at)
	buf := make([]byte, ExcerptBytes)
	n, _ := io.ReadFull(resp.Body, buf)
	_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	return resp.StatusCode, clip(string(buf[:n]), ExcerptBytes), nil
}

// pace is what bounds an attempt's requests.
func (w *Worker) pace() pace {
	return pace{timeout: w.cfg.Timeout, minRate: w.cfg.MinRate, maxTransfer: w.cfg.MaxTransfer}
}

// keys opens the partner's secrets valid at at.
func (w *Worker) keys(p central.Partner, at time.Time) ([][]byte, error) {
	var keys [][]byte
	for _, s := range p.Webhook.Secrets {
		if !s.NotAfter.IsZero() && !at.Before(s.NotAfter) {
			continue
		}
		opened, err := w.cfg.Open(p.ID, s.Sealed)
		if err != nil {
			return nil, errors.New("opening the webhook secret failed")
		}
		k, err := keyOf(opened)
		if err != nil {
			return nil, errors.New("the webhook secret is malformed")
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("the partner has no valid webhook secret")
	}
	return keys, nil
}

// transportError describes a failed request without the URL (which the
// admin sees anyway, and may carry a token in its query).
func transportError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	var te *timeoutError
	if errors.As(err, &te) {
		return te // which bound ran out
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out")
	}
	return err
}

// clip cuts s to at most n bytes, as valid UTF-8 without NUL bytes (a
// store's text column holds it).
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}

// timeHeap is a min-heap of times.
type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
