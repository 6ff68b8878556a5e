package httpapi

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Defaults of Config's connection bounds.
const (
	DefaultHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout   = 2 * time.Minute
)

// HTTPServer returns the http.Server that serves s, with the bounds of a
// connection: its request's headers must arrive within
// Config.HeaderTimeout, and a kept-alive connection without a request is
// closed after Config.IdleTimeout. (The body's bound, Config.BodyTimeout,
// is kept by s itself, request by request, so that waiting after the body
// is not cut off.) handoff serve and the tests' servers both use it.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s, ReadHeaderTimeout: s.headerTimeout, IdleTimeout: s.idleTimeout}
}

// Listener returns ln with at most Config.MaxConnsPerClient connections
// open from one client at a time (ln itself when that is 0). A client is
// an IPv4 address or an IPv6 /64. A connection over the cap is closed as
// soon as it is accepted, before anything is read from it, and counted in
// handoff_http_connections_refused_total; the client's other connections
// are untouched.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.maxConnsPerClient <= 0 {
		return ln
	}
	return &perClientListener{Listener: ln, max: s.maxConnsPerClient, open: map[string]int{}, s: s}
}

// connsRefused counts connections closed on arrival because their client
// already had HANDOFF_MAX_CONNS_PER_CLIENT open.
var connsRefused = metrics.NewCounter("handoff_http_connections_refused_total")

type perClientListener struct {
	net.Listener
	max     int
	s       *Server
	mu      sync.Mutex
	open    map[string]int
	lastLog atomic.Int64 // unix seconds of the last "at its cap" log line
}

func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := clientKey(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			_ = c.Close()
			connsRefused.Inc()
			// Once a minute at most: under a flood the log stays readable.
			if now := time.Now().Unix(); l.lastLog.Load() <= now-60 && l.lastLog.Swap(now) <= now-60 {
				l.s.log.Warn("a client has as many connections open as allowed; closing its new ones",
					"client", key, "max", l.max)
			}
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &clientConn{Conn: c, release: sync.OnceFunc(func() { l.release(key) })}, nil
	}
}

func (l *perClientListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// clientKey is who a connection's peer is, for the cap: its IPv4 address
// or its IPv6 /64 (one host usually has a whole /64 to pick from).
func clientKey(a net.Addr) (string, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return "", false
	}
	if v4 := ta.IP.To4(); v4 != nil {
		return v4.String(), true
	}
	return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64", true
}

// clientConn gives its place back when closed.
type clientConn struct {
	net.Conn
	release func()
}

// CloseWrite lets net/http end its side first (a FIN, then a pause before
// closing), so a client still sending does not lose the answer to a reset.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *clientConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
