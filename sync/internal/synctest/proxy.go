package synctest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a target address. It
// records every byte clients send, and can reset connections: Cut, when
// set, is asked for each new connection (numbered from 0) how many
// client bytes to forward before resetting it (-1: never).
type Proxy struct {
	Addr string
	Cut  func(conn int) int64

	ln     net.Listener
	target string
	mu     sync.Mutex
	sent   []byte
	conns  int
	open   map[net.Conn]bool // client connections, closed at cleanup
	wg     sync.WaitGroup
}

// StartProxy proxies to target until the end of the test.
func StartProxy(tb testing.TB, target string, cut func(conn int) int64) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), Cut: cut, ln: ln, target: target, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
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

// URL is the proxy's http URL.
func (p *Proxy) URL() string { return "http://" + p.Addr }

// Sent returns a copy of every byte clients sent through the proxy.
func (p *Proxy) Sent() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.sent...)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
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
		_, _ = io.Copy(client, server)
		client.Close()
	}()
	var src io.Reader = client
	if limit >= 0 {
		src = io.LimitReader(client, limit)
	}
	_, _ = io.Copy(io.MultiWriter(server, recorder{p}), src)
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
