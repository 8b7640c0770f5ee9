package central

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are central's Prometheus metrics, on a registry of the server's
// own (not the library's global one, so several servers in one test
// process do not collide).
type metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec   // route, code
	latency     *prometheus.HistogramVec // route
	submissions *prometheus.CounterVec   // outcome
	authFail    *prometheus.CounterVec   // surface, reason
	shed        *prometheus.CounterVec   // reason
	retries     *prometheus.CounterVec   // kind
	inFlight    prometheus.Gauge
}

// Submission outcomes counted in kyc_central_submissions_total.
const (
	eventReceived  = "received"  // a new manifest was stored
	eventDuplicate = "duplicate" // a manifest for a submission already stored
	eventCompleted = "completed" // the last image arrived (or none were due)
	eventRejected  = "rejected"  // refused for good (422)
)

// Surfaces of kyc_central_auth_failures_total.
const (
	surfaceDevice = "device"
	surfaceEnroll = "enroll"
	surfaceAdmin  = "admin"
)

// newMetrics makes the registry; version is central's build, which only
// the metrics listener tells (kyc_central_build_info), never /healthz.
func newMetrics(maxInFlight int, version string) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kyc_central_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_submissions_total", Help: "Submission outcomes: received, duplicate, completed, rejected.",
		}, []string{"outcome"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_auth_failures_total",
			Help: "Refused authentications by surface (device, enroll, admin) and reason (the error code, or rate_limited).",
		}, []string{"surface", "reason"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_shed_requests_total",
			Help: "Authenticated requests shed for saturation: all slots taken (slots), the device's own limit (device), its open uploads (uploads), its new submissions (submissions), or its other requests (requests).",
		}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kyc_central_upload_retries_total",
			Help: "Uploads central already had: a manifest sent again (manifest), a chunk of a complete submission (chunk), a chunk at the wrong offset (offset).",
		}, []string{"kind"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kyc_central_in_flight_requests", Help: "Authenticated device requests holding a slot now.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.submissions, m.authFail, m.shed, m.retries, m.inFlight,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kyc_central_max_in_flight_requests", Help: "Slots for device requests (Config.MaxInFlight).",
		}, func() float64 { return float64(maxInFlight) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kyc_central_build_info", Help: "Always 1: central's build, as its version label (Config.Version).",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) event(name string) { m.submissions.WithLabelValues(name).Inc() }
func (m *metrics) authFailure(surface, reason string) {
	m.authFail.WithLabelValues(surface, reason).Inc()
}
func (m *metrics) retry(kind string) { m.retries.WithLabelValues(kind).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// statusWriter records the status code; Unwrap lets
// http.ResponseController reach the connection (body deadlines).
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

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
