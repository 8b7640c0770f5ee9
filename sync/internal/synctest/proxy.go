package synctest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a target address. It
// records every byte clients send, can reset connections, and can shape
// its traffic like a slow link: Cut, when set, is asked for each new
// connection (numbered from 0) how many client bytes to forward before
// resetting it (-1: never); Rate, when set, paces each direction to that
// many bytes per second, shared by all connections as one line would.
type Proxy struct {
	Addr string
	Cut  func(conn int) int64

	ln     net.Listener
	target string
	up     *pacer // client to server
	down   *pacer // server to client
	closed chan struct{}
	mu     sync.Mutex
	sent   []byte
	conns  int
	open   map[net.Conn]bool // client connections, closed at cleanup
	wg     sync.WaitGroup
}

// ProxyOptions shape a proxy's traffic.
type ProxyOptions struct {
	// Cut: see Proxy.
	Cut func(conn int) int64
	// Rate is the line's speed in bytes per second each way; 0 means
	// unlimited.
	Rate int64
}

// StartProxy proxies to target until the end of the test.
func StartProxy(tb testing.TB, target string, cut func(conn int) int64) *Proxy {
	tb.Helper()
	return StartProxyWith(tb, target, ProxyOptions{Cut: cut})
}

// StartProxyWith is StartProxy with a shaped line.
func StartProxyWith(tb testing.TB, target string, o ProxyOptions) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), Cut: o.Cut, ln: ln, target: target, open: map[net.Conn]bool{}, closed: make(chan struct{})}
	if o.Rate > 0 {
		p.up, p.down = &pacer{rate: float64(o.Rate)}, &pacer{rate: float64(o.Rate)}
	}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		close(p.closed)
		ln.Close()
		// Idle keep-alive connections would otherwise hold the copiers.
		p.mu.Lock()
		for c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// URL is the proxy's URL: https, since it carries a test central's TLS
// through (the central's certificate names 127.0.0.1, so it verifies).
func (p *Proxy) URL() string { return "https://" + p.Addr }

// Sent returns a copy of every byte clients sent through the proxy.
func (p *Proxy) Sent() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.sent...)
}

// Conns is how many connections the proxy accepted.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.up != nil {
			// Small socket buffers on the proxy's side keep the bytes
			// queued for the slow line in the sender, as on a real one.
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(32 << 10)
				tc.SetWriteBuffer(32 << 10)
			}
		}
		p.mu.Lock()
		n := p.conns
		p.conns++
		p.open[c] = true
		p.mu.Unlock()
		limit := int64(-1)
		if p.Cut != nil {
			limit = p.Cut(n)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c, limit)
		}()
	}
}

// recorder appends what passes through to the proxy's log.
type recorder struct{ p *Proxy }

func (r recorder) Write(b []byte) (int, error) {
	r.p.mu.Lock()
	r.p.sent = append(r.p.sent, b...)
	r.p.mu.Unlock()
	return len(b), nil
}

func (p *Proxy) serve(client net.Conn, limit int64) {
	defer func() {
		client.Close()
		p.mu.Lock()
		delete(p.open, client)
		p.mu.Unlock()
	}()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.copy(client, server, p.down)
		client.Close()
	}()
	var src io.Reader = client
	if limit >= 0 {
		src = io.LimitReader(client, limit)
	}
	_ = p.copy(io.MultiWriter(server, recorder{p}), src, p.up)
	if limit >= 0 {
		// Reset both sides, as a crashing middlebox would.
		if tc, ok := client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		if tc, ok := server.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		client.Close()
		server.Close()
	} else if tc, ok := server.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-done
}

// copy is io.Copy, paced by line when it is not nil.
func (p *Proxy) copy(dst io.Writer, src io.Reader, line *pacer) error {
	if line == nil {
		_, err := io.Copy(dst, src)
		return err
	}
	// Small slices keep the pacing smooth: a twentieth of a second each.
	buf := make([]byte, max(512, int(line.rate/20)))
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !line.wait(n, p.closed) {
				return io.ErrClosedPipe
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// pacer lets bytes through a line of a fixed rate: each transfer is
// scheduled after those before it, whichever connection they belong to.
type pacer struct {
	rate float64 // bytes per second
	mu   sync.Mutex
	next time.Time
}

// wait blocks until n more bytes have had their time on the line; false
// if closed first.
func (l *pacer) wait(n int, closed <-chan struct{}) bool {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	until := l.next
	l.mu.Unlock()
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-closed:
		return false
	}
}
