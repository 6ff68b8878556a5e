// Package httpapi is handoff's REST interface: Omnara's agent routes under
// /api/v1, health and metrics. Handlers decode, authorise, call one db.Store
// operation and encode; they hold no business logic.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// Config is what a Server needs.
type Config struct {
	Store    *db.Store
	Verifier *auth.Verifier
	// Keys signs the API keys users create (nil: creating keys fails).
	Keys *auth.Keys
	// Heartbeat is the idle interval of event streams (DefaultHeartbeat).
	Heartbeat time.Duration
	// Ready reports whether the server can take traffic (database reachable,
	// schema at head); nil: ping the store.
	Ready func(context.Context) error
	// BodyTimeout bounds reading a request's body (DefaultBodyTimeout when
	// zero): a client that trickles one is cut off. Waiting after the body
	// (long polls, streams, MCP calls) is not bounded by it.
	BodyTimeout time.Duration
	// HeaderTimeout bounds reading a request's headers, IdleTimeout a
	// kept-alive connection without a request (DefaultHeaderTimeout,
	// DefaultIdleTimeout when zero); HTTPServer applies them.
	HeaderTimeout, IdleTimeout time.Duration
	// MaxConnsPerClient caps the connections one client address may hold
	// open (0: no cap); Listener applies it.
	MaxConnsPerClient int
	// PublicURL is where people and agents reach this server. The MCP
	// endpoints answer only requests addressed to its host or to loopback
	// (and, from browsers, only its origin or loopback's): a web page
	// cannot reach them through DNS rebinding. Empty: loopback only.
	PublicURL string
	// TrustedProxies may set X-Forwarded-Proto (a TLS reverse proxy in
	// front); from anyone else it is ignored.
	TrustedProxies []netip.Prefix
	// PermissionWait bounds the wait of a hook for the person's decision
	// (db.DefaultPermissionWait when zero): below the agent's own hook
	// timeout, so the agent hears "no decision" and asks locally.
	PermissionWait time.Duration
	Log            *slog.Logger
}

// DefaultBodyTimeout is Config.BodyTimeout's default.
const DefaultBodyTimeout = 30 * time.Second

// Server serves the REST API.
type Server struct {
	store             *db.Store
	verifier          *auth.Verifier
	keys              *auth.Keys
	streamHeartbeat   time.Duration
	permissionWait    time.Duration
	bodyTimeout       time.Duration
	headerTimeout     time.Duration
	idleTimeout       time.Duration
	maxConnsPerClient int
	publicHost        string // host[:port] of PublicURL, lower case
	publicOrigin      string
	trustedProxies    []netip.Prefix
	ready             func(context.Context) error
	log               *slog.Logger
	mux               *http.ServeMux
	patterns          []string
}

// New returns the REST API as an http.Handler.
func New(cfg Config) *Server {
	s := &Server{store: cfg.Store, verifier: cfg.Verifier, keys: cfg.Keys, ready: cfg.Ready, log: cfg.Log, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.ready == nil {
		s.ready = s.store.Ping
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		s.publicHost = withoutDefaultPort(strings.ToLower(u.Host))
		s.publicOrigin = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	s.trustedProxies = cfg.TrustedProxies
	s.bodyTimeout = cfg.BodyTimeout
	if s.bodyTimeout <= 0 {
		s.bodyTimeout = DefaultBodyTimeout
	}
	s.headerTimeout, s.idleTimeout = cfg.HeaderTimeout, cfg.IdleTimeout
	if s.headerTimeout <= 0 {
		s.headerTimeout = DefaultHeaderTimeout
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = DefaultIdleTimeout
	}
	s.maxConnsPerClient = cfg.MaxConnsPerClient
	s.permissionWait = cfg.PermissionWait
	if s.permissionWait <= 0 {
		s.permissionWait = db.DefaultPermissionWait
	}
	s.streamHeartbeat = cfg.Heartbeat
	if s.streamHeartbeat <= 0 {
		s.streamHeartbeat = DefaultHeartbeat
	}
	s.routes()
	return s
}

// Mount serves h at pattern (the MCP endpoints) behind the same bearer
// authentication as the API (scope at least required; the Principal is in
// the request context), logging, metrics and recovery.
func (s *Server) Mount(pattern string, required auth.Scope, h http.Handler) {
	s.mux.Handle(pattern, s.authedLong(required, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		if detail := s.foreignAddress(r); detail != "" {
			writeProblem(w, http.StatusForbidden, detail)
			return
		}
		h.ServeHTTP(w, r)
	}))
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// No response is to be read as another type than it says.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.boundBody(w, r)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, req: r}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic", "err", v, "stack", string(debug.Stack()))
			if !rec.wrote {
				writeProblem(rec, http.StatusInternalServerError, "Internal server error")
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		observeRequest(route, rec.status, elapsed)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "route", route, "status", rec.status,
			"duration_ms", float64(elapsed.Microseconds()) / 1000}
		if rec.user != "" {
			attrs = append(attrs, "user", rec.user)
		}
		level := slog.LevelInfo
		if probes[route] { // every few seconds from an orchestrator: noise at info
			level = slog.LevelDebug
		}
		s.log.LogAttrs(r.Context(), level, "request", slog.Group("http", attrs...))
	}()
	s.mux.ServeHTTP(rec, r)
}

// probes are the health routes, logged at debug only.
var probes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /health": true}

// durationBuckets are the upper bounds of
// handoff_http_request_duration_seconds.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// observeRequest counts a request in handoff_http_requests_total{code,
// route} and its latency in handoff_http_request_duration_seconds{route},
// by route pattern.
func observeRequest(route string, status int, elapsed time.Duration) {
	q := strconv.Quote(route)
	metrics.GetOrCreateCounter(`handoff_http_requests_total{code="` + strconv.Itoa(status) + `",route=` + q + `}`).Inc()
	metrics.GetOrCreatePrometheusHistogramExt(`handoff_http_request_duration_seconds{route=`+q+`}`, durationBuckets).Update(elapsed.Seconds())
}

// statusRecorder remembers the status for logs and metrics, and turns the
// mux's own plain-text 404 and 405 answers into problem+json.
type statusRecorder struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	wrote   bool
	user    string
	swallow bool // the body of a mux answer replaced by a problem
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	r.status, r.wrote = code, true
	if r.req.Pattern == "" && code >= 400 {
		// No route matched: the mux's NotFound or MethodNotAllowed.
		r.swallow = true
		r.ResponseWriter.Header().Del("Content-Length")
		detail := "no route for " + r.req.Method + " " + r.req.URL.Path
		if code == http.StatusMethodNotAllowed {
			detail = r.req.Method + " is not allowed on " + r.req.URL.Path + "; allowed: " + r.ResponseWriter.Header().Get("Allow")
		}
		writeProblem(r.ResponseWriter, code, detail)
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if r.swallow {
		return len(b), nil
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// foreignAddress says why r may come through DNS rebinding (a name that
// resolves to this server but is not its own): its Host is neither the
// public URL's host nor a loopback name, or its Origin (sent by browsers)
// is neither the public URL's origin nor a loopback one. "" lets it pass.
func (s *Server) foreignAddress(r *http.Request) string {
	host := withoutDefaultPort(strings.ToLower(r.Host))
	if host != s.publicHost && !loopbackHost(host) {
		return "requests to this endpoint must be addressed to " + s.allowedHosts() + ", not " + host
	}
	if o := r.Header.Get("Origin"); o != "" {
		origin := strings.ToLower(o)
		u, err := url.Parse(origin)
		if err != nil || (origin != s.publicOrigin && !loopbackHost(u.Host)) {
			return "requests from the origin " + o + " are not accepted here"
		}
	}
	return ""
}

func (s *Server) allowedHosts() string {
	if s.publicHost == "" {
		return "a loopback address"
	}
	return s.publicHost + " or a loopback address"
}

// withoutDefaultPort drops :80 and :443 from host:port, so a Host header
// with the scheme's default port names the same host as one without.
func withoutDefaultPort(hostport string) string {
	return strings.TrimSuffix(strings.TrimSuffix(hostport, ":443"), ":80")
}

// loopbackHost reports whether host[:port] names this machine's loopback.
func loopbackHost(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// forwardedHTTPS reports whether r reached us over HTTPS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) forwardedHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if r.Header.Get("X-Forwarded-Proto") != "https" {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.trustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// unreadBodyGrace is how long a refused request's unread body may take to
// be drained before its connection closes.
const unreadBodyGrace = time.Second

// boundBody gives reading r's body a deadline. It ends with the body: when
// the body has been read to its end, net/http starts its read-ahead on the
// connection (to notice a client that leaves) with no deadline, so a wait
// after the body (an MCP call's) is not a slow body
// (TestWaitAfterTheBodyIsNotCutOff holds net/http to that). Requests
// without a body get none: the read-ahead is already under way.
func (s *Server) boundBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyTimeout))
}

// authedLong is authed for requests that may last (streams, MCP): their
// context ends soon after the key is revoked or expires, whatever the
// traffic.
func (s *Server) authedLong(required auth.Scope, h func(http.ResponseWriter, *http.Request, auth.Principal)) http.HandlerFunc {
	return s.authed(required, func(w http.ResponseWriter, r *http.Request, p auth.Principal) {
		ctx, cancel := s.verifier.WhileValid(r.Context(), p)
		defer cancel()
		h(w, r.WithContext(ctx), p)
	})
}

// authed wraps h so it runs only for a bearer token whose scope covers
// required; the principal is in the request context.
func (s *Server) authed(required auth.Scope, h func(http.ResponseWriter, *http.Request, auth.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			var te *auth.TokenError
			if errors.Is(err, auth.ErrNoToken) || errors.As(err, &te) {
				// Refused before its body is read; the connection closes
				// rather than wait for a body nobody will read. net/http
				// drains up to 256 KiB of an unread body before it closes,
				// for as long as the body's bound allows: a second is left
				// for what a client has already sent (closing on unread
				// bytes resets the connection, and the client may lose the
				// 401), not for a body still trickling in.
				w.Header().Set("Connection", "close")
				w.Header().Set("WWW-Authenticate", `Bearer`)
				writeProblem(w, http.StatusUnauthorized, err.Error())
				if r.Body != nil && r.Body != http.NoBody {
					_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(min(unreadBodyGrace, s.bodyTimeout)))
				}
				return
			}
			s.writeError(w, r, err)
			return
		}
		if !p.Allows(required) {
			writeProblem(w, http.StatusForbidden, "this route needs a token of scope "+string(required)+" or above")
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.user = p.UserID.String()
		}
		h(w, r.WithContext(auth.WithPrincipal(r.Context(), p)), p)
	}
}

// cookieRoutes are the API routes the web page's session cookie opens:
// what the page's script reads (its live updates: EventSource sends no
// headers). Both only read. Every other route, and every read that
// consumes (the agent's queue moves its read cursor), needs the bearer
// header, so the cookie cannot be turned against the API by another site.
var cookieRoutes = map[string]bool{
	"GET /api/v1/events": true,
	"GET /api/v1/agent-instances/{agent_instance_id}/messages": true,
	"GET /api/v1/push/vapid-public-key":                        true,
}

// authenticate reads the bearer token, or on the cookieRoutes the web
// page's session cookie.
func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	raw, err := auth.BearerToken(r)
	if errors.Is(err, auth.ErrNoToken) && cookieRoutes[r.Pattern] {
		if c, cerr := r.Cookie(SessionCookie); cerr == nil && c.Value != "" {
			raw, err = c.Value, nil
		}
	}
	if err != nil {
		return auth.Principal{}, err
	}
	return s.verifier.Verify(r.Context(), raw)
}

func metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metrics.WritePrometheus(w, true)
	})
}
