package central

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics are central's Prometheus metrics, written by hand in the text
// exposition format to avoid a client library.
type metrics struct {
	mu        sync.Mutex
	requests  map[routeCode]uint64
	latency   map[string]*histogram // by route
	events    map[string]uint64     // submission outcomes
	rejection map[string]uint64     // refused device requests by reason
}

type routeCode struct {
	route string
	code  int
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	count  uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[routeCode]uint64{}, latency: map[string]*histogram{}, events: map[string]uint64{}, rejection: map[string]uint64{}}
}

// Submission outcomes counted in kyc_central_submissions_total.
const (
	eventReceived  = "received"  // a new manifest was stored
	eventDuplicate = "duplicate" // a manifest for a submission already stored
	eventCompleted = "completed" // the last image arrived (or none were due)
	eventRejected  = "rejected"  // refused for good (422)
)

func (m *metrics) event(name string) {
	m.mu.Lock()
	m.events[name]++
	m.mu.Unlock()
}

func (m *metrics) reject(reason string) {
	m.mu.Lock()
	m.rejection[reason]++
	m.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument counts requests by route pattern and status and times them.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by ServeMux; empty when nothing matched
		if route == "" {
			route = "unmatched"
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		d := time.Since(start).Seconds()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.requests[routeCode{route, sw.code}]++
		h := m.latency[route]
		if h == nil {
			h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
			m.latency[route] = h
		}
		i, _ := slices.BinarySearch(latencyBuckets, d)
		h.counts[i]++
		h.sum += d
		h.count++
	})
}

func (m *metrics) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w)
}

// write renders the metrics, series sorted so the output is stable.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP kyc_central_http_requests_total HTTP requests by route pattern and status code.")
	fmt.Fprintln(w, "# TYPE kyc_central_http_requests_total counter")
	rcs := make([]routeCode, 0, len(m.requests))
	for rc := range m.requests {
		rcs = append(rcs, rc)
	}
	slices.SortFunc(rcs, func(a, b routeCode) int {
		return cmp.Or(cmp.Compare(a.route, b.route), cmp.Compare(a.code, b.code))
	})
	for _, rc := range rcs {
		fmt.Fprintf(w, "kyc_central_http_requests_total{route=%s,code=\"%d\"} %d\n", strconv.Quote(rc.route), rc.code, m.requests[rc])
	}
	fmt.Fprintln(w, "# HELP kyc_central_http_request_duration_seconds HTTP request latency by route pattern.")
	fmt.Fprintln(w, "# TYPE kyc_central_http_request_duration_seconds histogram")
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	for _, r := range routes {
		h := m.latency[r]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "kyc_central_http_request_duration_seconds_bucket{route=%s,le=\"%s\"} %d\n", strconv.Quote(r), strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		fmt.Fprintf(w, "kyc_central_http_request_duration_seconds_bucket{route=%s,le=\"+Inf\"} %d\n", strconv.Quote(r), h.count)
		fmt.Fprintf(w, "kyc_central_http_request_duration_seconds_sum{route=%s} %g\n", strconv.Quote(r), h.sum)
		fmt.Fprintf(w, "kyc_central_http_request_duration_seconds_count{route=%s} %d\n", strconv.Quote(r), h.count)
	}
	writeCounterVec(w, "kyc_central_submissions_total", "Submission outcomes: received, duplicate, completed, rejected.", "outcome", m.events)
	writeCounterVec(w, "kyc_central_device_requests_refused_total", "Device requests refused by authentication, by reason.", "reason", m.rejection)
}

func writeCounterVec(w io.Writer, name, help, label string, vals map[string]uint64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s{%s=%s} %d\n", name, label, strconv.Quote(k), vals[k])
	}
}
