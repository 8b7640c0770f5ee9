package central_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi/apitest"
	"github.com/openkyc/kyc/sync/central/pki"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// slowConn is a raw HTTP/1.1 request over TLS whose headers are sent at
// once and whose body then dribbles one byte every interval, as a slowloris
// client does.
type slowConn struct {
	conn net.Conn
	br   *bufio.Reader
	stop chan struct{}
	done chan struct{}
}

// startSlow sends req's method, URI and headers with Content-Length cl (or
// chunked when cl < 0) and starts dribbling the body.
func startSlow(t *testing.T, c *tc, req *http.Request, cl int64, every time.Duration) *slowConn {
	t.Helper()
	tlsCfg, err := pki.ClientConfig(c.CA)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg.ServerName = "127.0.0.1"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", c.Addr, tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), c.Addr)
	if cl >= 0 {
		fmt.Fprintf(w, "Content-Length: %d\r\n", cl)
	} else {
		fmt.Fprintf(w, "Transfer-Encoding: chunked\r\n")
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(w, "\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s := &slowConn{conn: conn, br: bufio.NewReader(conn), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				b := []byte{'x'}
				if cl < 0 {
					b = []byte("1\r\nx\r\n")
				}
				if _, err := conn.Write(b); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *slowConn) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.conn.Close()
	<-s.done
}

// answer reads the response within d, and then waits for the server to
// close the connection within d; it returns the status, the error code,
// and whether the connection was closed.
func (s *slowConn) answer(d time.Duration) (status int, code string, closed bool, err error) {
	s.conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		return 0, "", false, err
	}
	var e protocol.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	s.conn.SetReadDeadline(time.Now().Add(d))
	_, rerr := io.Copy(io.Discard, s.br)
	var ne net.Error
	closed = rerr == nil || !(errors.As(rerr, &ne) && ne.Timeout())
	return resp.StatusCode, e.Code, closed, nil
}

// TestSlowUnauthenticatedUploadsDoNotStarveDevices opens more slow
// unauthenticated uploads than central has request slots, some unsigned
// and some signed by a device central does not know, each dribbling one
// byte every two seconds. They must not hold a slot or keep their
// connection: each is refused at once from its headers and cut off, while
// an enrolled device delivers its submission and /healthz stays ok.
func TestSlowUnauthenticatedUploadsDoNotStarveDevices(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)}) // default 64 slots
	d := c.enrol(t)
	stranger := &dev{c: c, id: identity.Generate()}
	const slow = 80
	const bodySize = 1 << 20
	body := make([]byte, bodySize)
	rand.Read(body)
	key := protocol.SubmissionKey("nothing")
	conns := make([]*slowConn, slow)
	began := time.Now()
	for i := range conns {
		req, _ := http.NewRequest(http.MethodPut, c.URL+protocol.SubmissionPath(key), nil)
		if i%2 == 1 {
			protocol.Sign(req, sha256.Sum256(body), stranger.id.DeviceID(), stranger.key(t), time.Now())
		}
		conns[i] = startSlow(t, c, req, bodySize, 2*time.Second)
	}
	// The enrolled device gets through while they dribble.
	if resp, e := d.submit(t, "real-1", d.attestation(t, time.Now(), d.config(t).Challenge), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("the enrolled device's submission: %d %+v", resp.StatusCode, e)
	}
	var h central.Health
	if resp, _ := c.send(t, mustRequest(t, http.MethodGet, c.URL+"/healthz"), &h); resp.StatusCode != 200 || h.Status != "ok" {
		t.Errorf("healthz during the attack: %d %+v", resp.StatusCode, h)
	}
	var wg sync.WaitGroup
	for i, s := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, code, closed, err := s.answer(10 * time.Second)
			switch {
			case err != nil:
				t.Errorf("slow upload %d: no answer: %v", i, err)
			case status != http.StatusUnauthorized && status != http.StatusTooManyRequests:
				t.Errorf("slow upload %d: %d %s, want 401 (or 429 once the address failed too often)", i, status, code)
			case !closed:
				t.Errorf("slow upload %d: central kept the connection open", i)
			}
		}()
	}
	wg.Wait()
	// A 1 MiB body at half a byte a second would take weeks: each was cut
	// off from its headers.
	if el := time.Since(began); el > 30*time.Second {
		t.Errorf("cutting the slow uploads off took %s", el)
	}
	if got := c.Server.Handler(); got == nil {
		t.Fatal("no handler")
	}
}

// TestSlowAuthenticatedUploadCutOff: an enrolled device's body that
// arrives slower than the deadline its Content-Length earns is cut off with
// 408, and its slot is given back.
func TestSlowAuthenticatedUploadCutOff(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t), BodyFloor: time.Second, MinBodyRate: 1 << 20})
	d := c.enrol(t)
	body := make([]byte, 64<<10)
	req := d.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey("slow")), body, time.Now())
	began := time.Now()
	s := startSlow(t, c, req, int64(len(body)), 200*time.Millisecond)
	status, code, closed, err := s.answer(10 * time.Second)
	if err != nil || status != http.StatusRequestTimeout || code != "timeout" || !closed {
		t.Fatalf("slow authenticated upload: %d %q closed=%v %v, want 408 timeout and a closed connection", status, code, closed, err)
	}
	if el := time.Since(began); el > 5*time.Second {
		t.Errorf("cut off after %s; the deadline was about 1.06 s", el)
	}
	waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 0 })
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// waitHealth polls an admin's GET /admin/v1/health until ok(h) or 10 s
// pass.
func waitHealth(t *testing.T, c *tc, ok func(central.Health) bool) (int, central.Health) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Decoded whatever the status: a saturated instance answers 503
		// with its Health.
		resp, _ := c.admin(t, http.MethodGet, "/admin/v1/health", nil, nil)
		var h central.Health
		_ = json.NewDecoder(resp.Body).Decode(&h)
		if ok(h) {
			return resp.StatusCode, h
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz never got there: %d %+v", resp.StatusCode, h)
		}
		// Paces a poll of the condition above, bounded by the deadline: the
		// outcome never depends on how long the sleep lasts.
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHealthzReportsSaturation holds every slot with authenticated
// uploads: /healthz says degraded with 503 and the numbers, a further
// device request is shed with 503 and Retry-After, and all recovers once
// they end.
func TestHealthzReportsSaturation(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t), MaxInFlight: 2, BodyFloor: 30 * time.Second})
	third := c.enrol(t) // before the slots are taken: enrolment needs one too
	var holders []*slowConn
	for range 2 {
		d := c.enrol(t)
		body := make([]byte, 1000)
		req := d.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey("held")), body, time.Now())
		holders = append(holders, startSlow(t, c, req, int64(len(body)), time.Hour))
	}
	status, h := waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 2 })
	if status != http.StatusServiceUnavailable || h.Status != "degraded" || h.MaxInFlight != 2 {
		t.Errorf("saturated health: %d %+v, want 503 degraded", status, h)
	}
	// A load balancer's /healthz says so too, and no more.
	if resp, err := c.Client.Get(c.URL + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || string(raw) != `{"status":"degraded"}`+"\n" {
			t.Errorf("saturated /healthz: %d %s, want 503 and the status alone", resp.StatusCode, raw)
		}
	}
	resp, e := third.do(t, http.MethodGet, protocol.PathConfig, nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Code != "overloaded" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("request beyond the slots: %d %+v Retry-After %q", resp.StatusCode, e, resp.Header.Get("Retry-After"))
	}
	for _, s := range holders {
		s.close()
	}
	status, h = waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 0 })
	if status != http.StatusOK || h.Status != "ok" || h.Shed < 1 {
		t.Errorf("healthz after: %d %+v", status, h)
	}
	if !containsLine(metricsOf(t, c), `kyc_central_shed_requests_total{reason="slots"} 1`) {
		t.Error("metrics do not count the shed request")
	}
}

// TestPerDeviceLimit: one device cannot take more than its share.
func TestPerDeviceLimit(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t), MaxPerDevice: 1, BodyFloor: 30 * time.Second})
	a, b := c.enrol(t), c.enrol(t)
	body := make([]byte, 1000)
	req := a.request(t, http.MethodPut, protocol.SubmissionPath(protocol.SubmissionKey("held")), body, time.Now())
	startSlow(t, c, req, int64(len(body)), time.Hour)
	waitHealth(t, c, func(h central.Health) bool { return h.InFlight == 1 })
	resp, e := a.do(t, http.MethodGet, protocol.PathConfig, nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests || e.Code != "device_busy" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second request of a busy device: %d %+v", resp.StatusCode, e)
	}
	if resp, e := b.do(t, http.MethodGet, protocol.PathConfig, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another device: %d %+v", resp.StatusCode, e)
	}
}

// TestDeviceUploadsNeedContentLength: a chunked or oversized upload is
// refused from its headers, before authentication or a body byte.
func TestDeviceUploadsNeedContentLength(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	d := c.enrol(t)
	path := protocol.SubmissionPath(protocol.SubmissionKey("x"))
	cases := []struct {
		name   string
		cl     int64
		status int
		code   string
	}{
		{"chunked", -1, http.StatusLengthRequired, "length_required"},
		{"too large", protocol.MaxManifestSize + 1<<20, http.StatusRequestEntityTooLarge, "too_large"},
	}
	for _, tc := range cases {
		req := d.request(t, http.MethodPut, path, []byte("whatever"), time.Now())
		s := startSlow(t, c, req, tc.cl, time.Hour)
		status, code, closed, err := s.answer(10 * time.Second)
		if err != nil || status != tc.status || code != tc.code || !closed {
			t.Errorf("%s: %d %q closed=%v %v, want %d %s", tc.name, status, code, closed, err, tc.status, tc.code)
		}
	}
}

// TestAdminTokenFailuresRateLimited: after the budget of failures an
// address is answered 429 with Retry-After, even with the right token, so
// the token cannot be guessed at speed; another address is unaffected.
func TestAdminTokenFailuresRateLimited(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t)})
	from := func(ip string) *http.Client {
		tlsCfg, err := pki.ClientConfig(c.CA)
		if err != nil {
			t.Fatal(err)
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return apitest.Client(t, &http.Transport{TLSClientConfig: tlsCfg, DialContext: d.DialContext})
	}
	get := func(cl *http.Client, tok string) *http.Response {
		req := mustRequest(t, http.MethodGet, c.URL+"/admin/v1/devices")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := cl.Do(apitest.Invalid(req)) // mostly a wrong token
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	attacker := from("127.0.0.1")
	var limited *http.Response
	for i := range 30 {
		resp := get(attacker, "guess-"+strconv.Itoa(i))
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	if limited == nil || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("30 wrong tokens were never rate-limited (%v)", limited)
	}
	if resp := get(attacker, c.Cfg.AdminToken); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right token from a blocked address: %d, want 429", resp.StatusCode)
	}
	if resp := get(from("127.0.0.2"), c.Cfg.AdminToken); resp.StatusCode != http.StatusOK {
		t.Errorf("the right token from another address: %d, want 200", resp.StatusCode)
	}
	lines := logLines(t, c.Log, "authentication failed")
	if len(lines) < 10 || lines[0]["surface"] != "admin" || lines[0]["reason"] != "bad_token" || lines[0]["request_id"] == "" {
		t.Errorf("admin failures are not logged with a reason: %v", lines)
	}
	_ = context.Background
}

// TestFailureBudgetCoversIPv6Prefix: an IPv6 client holds a whole /64, so
// a fresh address for every guess must not bring a fresh failure budget.
// The clients come through a trusted proxy, which names them in
// X-Forwarded-For.
func TestFailureBudgetCoversIPv6Prefix(t *testing.T) {
	c := start(t, central.Config{Store: openBolt(t), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	get := func(client, tok string) int { return forwardedAdminGet(t, c, client, tok) }
	limited := false
	for i := range 30 {
		status := get(fmt.Sprintf("2001:db8:1:2::%x", i+1), "guess-"+strconv.Itoa(i))
		if status == http.StatusTooManyRequests {
			limited = true
			break
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, status)
		}
	}
	if !limited {
		t.Fatal("30 wrong tokens from 30 addresses of one /64 were never rate-limited")
	}
	if status := get("2001:db8:1:2:ffff::1", c.Cfg.AdminToken); status != http.StatusTooManyRequests {
		t.Errorf("the right token from another address of the blocked /64: %d, want 429", status)
	}
	if status := get("2001:db8:1:3::1", c.Cfg.AdminToken); status != http.StatusOK {
		t.Errorf("the right token from another /64: %d, want 200", status)
	}
}

// TestForwardedForBudgets: behind a trusted proxy (here the test client on
// 127.0.0.1, declared one) each client X-Forwarded-For names spends its
// own failure budget, so one guessing the admin token locks out itself,
// not everyone behind the balancer, and cannot escape its lock by
// prepending other addresses; with no trusted proxy the header is
// ignored, so a fresh forged address for every guess gains nothing.
func TestForwardedForBudgets(t *testing.T) {
	guessUntilLimited := func(t *testing.T, c *tc, xff func(i int) string) {
		t.Helper()
		for i := range 30 {
			status := forwardedAdminGet(t, c, xff(i), "guess-"+strconv.Itoa(i))
			if status == http.StatusTooManyRequests {
				return
			}
			if status != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, status)
			}
		}
		t.Fatal("30 wrong tokens were never rate-limited")
	}
	t.Run("trusted proxy", func(t *testing.T) {
		c := start(t, central.Config{Store: openBolt(t), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		guessUntilLimited(t, c, func(int) string { return "203.0.113.5" })
		if status := forwardedAdminGet(t, c, "203.0.113.5", c.Cfg.AdminToken); status != http.StatusTooManyRequests {
			t.Errorf("the right token from the locked-out client: %d, want 429", status)
		}
		if status := forwardedAdminGet(t, c, "198.51.100.9, 203.0.113.5", c.Cfg.AdminToken); status != http.StatusTooManyRequests {
			t.Errorf("the locked-out client prepending another address: %d, want 429", status)
		}
		if status := forwardedAdminGet(t, c, "198.51.100.9", c.Cfg.AdminToken); status != http.StatusOK {
			t.Errorf("another client behind the same proxy: %d, want 200", status)
		}
		if status := forwardedAdminGet(t, c, "", c.Cfg.AdminToken); status != http.StatusOK {
			t.Errorf("the proxy itself (no header): %d, want 200", status)
		}
	})
	t.Run("no trusted proxy", func(t *testing.T) {
		c := start(t, central.Config{Store: openBolt(t)})
		guessUntilLimited(t, c, func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) })
		if status := forwardedAdminGet(t, c, "192.0.2.77", c.Cfg.AdminToken); status != http.StatusTooManyRequests {
			t.Errorf("the right token under a fresh forged X-Forwarded-For: %d, want 429", status)
		}
	})
}

// forwardedAdminGet lists devices with tok, saying X-Forwarded-For: xff
// unless it is empty, and returns the status.
func forwardedAdminGet(t *testing.T, c *tc, xff, tok string) int {
	t.Helper()
	req := mustRequest(t, http.MethodGet, c.URL+"/admin/v1/devices")
	req.Header.Set("Authorization", "Bearer "+tok)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Admins.Do(apitest.Invalid(req)) // mostly a wrong token
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
