// Package mcpapi is handoff's MCP interface: Omnara's tools (log_step,
// ask_question, end_session) and handoff's unified ones (send_message,
// wait_for_answer) over streamable HTTP and the legacy SSE transport. Each
// tool is a thin adapter over db.Store; authentication happens before a
// request reaches this package (the Principal is in the request context).
package mcpapi

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// Defaults of Config.
const (
	DefaultWait          = 50 * time.Second
	DefaultProgressEvery = 10 * time.Second
	// DefaultSessionIdle is how long a streamable HTTP session may go
	// without a request before it is closed: far above any wait inside a
	// call (a call in progress keeps its session), short enough that
	// clients that initialise and leave do not pile up.
	DefaultSessionIdle = 30 * time.Minute
)

// Config is what the MCP server needs.
type Config struct {
	Store *db.Store
	// Wait bounds one wait for an answer inside a tool call; below the 60 s
	// that common MCP clients allow a call. Default DefaultWait.
	Wait time.Duration
	// ProgressEvery is the interval of progress notifications while a tool
	// waits (sent only when the client gave a progress token).
	ProgressEvery time.Duration
	// Stateless serves streamable HTTP without sessions, for replicas
	// behind a plain load balancer.
	Stateless bool
	// PermissionWait bounds approve's wait for the person's decision
	// (db.DefaultPermissionWait when zero); a request nobody decided by
	// then is denied.
	PermissionWait time.Duration
	// SessionIdle closes a session after this long without a request
	// (DefaultSessionIdle when zero). A client then starts a new session.
	SessionIdle time.Duration
	Log         *slog.Logger
	// Version is reported to clients.
	Version string
}

// Handler serves MCP over streamable HTTP and SSE.
type Handler struct {
	server     *mcp.Server
	streamable http.Handler
	sse        http.Handler
}

// New builds the MCP server and its transports.
func New(cfg Config) *Handler {
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.PermissionWait <= 0 {
		cfg.PermissionWait = db.DefaultPermissionWait
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "handoff", Title: "handoff: a person in the loop", Version: cfg.Version},
		&mcp.ServerOptions{Instructions: instructions, Logger: cfg.Log})
	t := &tools{cfg: cfg, store: cfg.Store, log: cfg.Log}
	t.register(server)

	getServer := func(*http.Request) *mcp.Server { return server }
	// Every request carries a bearer token checked before it gets here, so
	// the DNS-rebinding guard (which protects unauthenticated local
	// servers) would only refuse proxies that keep the public Host header.
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	streamable := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless: cfg.Stateless, Logger: cfg.Log, DisableLocalhostProtection: true, SessionTimeout: cfg.SessionIdle,
	})
	countSessions(server)
	// The go-sdk middleware hands the principal to the transport, which
	// then refuses a session to any user but the one who created it.
	bearer := sdkauth.RequireBearerToken(principalToken, &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	sse := mcp.NewSSEHandler(getServer, &mcp.SSEOptions{DisableLocalhostProtection: true})
	return &Handler{
		server:     server,
		streamable: withClientType(bearer(streamable)),
		sse:        withClientType(&sseGuard{next: sse, owners: map[string]uuid.UUID{}}),
	}
}

// OpenSessions is the number of this handler's open MCP sessions.
func (h *Handler) OpenSessions() int {
	n := 0
	for range h.server.Sessions() {
		n++
	}
	return n
}

// The handoff_mcp_sessions gauge counts the open sessions of every MCP
// server of the process (one in serve).
var (
	serversMu sync.Mutex
	servers   []*mcp.Server
	// handoff_mcp_sessions: open MCP sessions (streamable HTTP and SSE).
	_ = metrics.NewGauge("handoff_mcp_sessions", func() float64 {
		serversMu.Lock()
		defer serversMu.Unlock()
		n := 0
		for _, s := range servers {
			for range s.Sessions() {
				n++
			}
		}
		return float64(n)
	})
)

func countSessions(s *mcp.Server) {
	serversMu.Lock()
	defer serversMu.Unlock()
	servers = append(servers, s)
}

// Routes maps ServeMux patterns to handlers: streamable HTTP at /mcp and
// /mcp/ (no redirect between them), SSE at /mcp/sse. Each needs an
// authenticated request (agent scope).
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"/mcp":     h.streamable,
		"/mcp/{$}": h.streamable,
		"/mcp/sse": h.sse,
	}
}

const principalKey = "handoff.principal"

// principalToken turns the principal that authenticated the request into
// the go-sdk's TokenInfo.
func principalToken(ctx context.Context, _ string, _ *http.Request) (*sdkauth.TokenInfo, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, sdkauth.ErrInvalidToken
	}
	return &sdkauth.TokenInfo{
		UserID: p.UserID.String(), Scopes: []string{string(p.Scope)},
		Extra: map[string]any{principalKey: p},
	}, nil
}

type clientTypeKey struct{}

// withClientType records the request's agent type in its context, for the
// transports that do not hand headers to tools (SSE).
func withClientType(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientTypeKey{}, AgentType(r.Header))))
	})
}

// sseGuard keeps each legacy SSE session to the user who opened it: the
// go-sdk's SSE transport does not check who posts to a session.
type sseGuard struct {
	next   http.Handler
	mu     sync.Mutex
	owners map[string]uuid.UUID
}

func (g *sseGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	switch r.Method {
	case http.MethodGet:
		sn := &sessionSniffer{ResponseWriter: w, record: func(id string) {
			g.mu.Lock()
			g.owners[id] = p.UserID
			g.mu.Unlock()
		}}
		defer func() {
			if sn.id != "" {
				g.mu.Lock()
				delete(g.owners, sn.id)
				g.mu.Unlock()
			}
		}()
		g.next.ServeHTTP(sn, r)
	case http.MethodPost:
		g.mu.Lock()
		owner, ok := g.owners[r.URL.Query().Get("sessionid")]
		g.mu.Unlock()
		if ok && owner != p.UserID {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		g.next.ServeHTTP(w, r)
	default:
		g.next.ServeHTTP(w, r)
	}
}

// sessionSniffer reads the session id from the SSE stream's first event
// ("event: endpoint", "data: …?sessionid=ID") before the client can see it.
type sessionSniffer struct {
	http.ResponseWriter
	id     string
	record func(string)
}

func (s *sessionSniffer) Write(b []byte) (int, error) {
	if s.id == "" {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if _, after, ok := bytes.Cut(sc.Bytes(), []byte("sessionid=")); ok {
				s.id = string(bytes.TrimSpace(after))
				s.record(s.id)
				break
			}
		}
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (s *sessionSniffer) Unwrap() http.ResponseWriter { return s.ResponseWriter }
