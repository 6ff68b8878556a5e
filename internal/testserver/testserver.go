// Package testserver starts a real handoff for tests: a fresh database
// (dbtest) with its hub, Ed25519 keys, the REST API and, when asked, the
// MCP endpoints, on an httptest server. One place for the setup that the
// httpapi, mcpapi, client and command tests share.
package testserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/mcpapi"
	"github.com/handoffhq/handoff/webhook"
)

// Server is a running test server.
type Server struct {
	URL   string
	TS    *httptest.Server
	API   *httpapi.Server
	Pool  *pgxpool.Pool
	Store *db.Store
	Keys  *auth.Keys
	// MCP is the MCP handler (nil without Options.MCP).
	MCP *mcpapi.Handler
	t   testing.TB
}

// Options tune a test server. MCP nil: no MCP endpoints.
type Options struct {
	HTTP httpapi.Config
	MCP  *mcpapi.Config
	// DatabaseURL, when set, rewrites the fresh database's URL the server
	// connects to (through a dbtest.Proxy, say).
	DatabaseURL func(url string) string
	// PoolOptions configure the server's pool.
	PoolOptions []db.PoolOption
	// StoreOptions configure the server's store (besides its hub).
	StoreOptions []db.Option
	// Webhooks: the server sends webhooks (a River worker on its
	// database, as serve runs one), to loopback receivers too.
	Webhooks bool
}

// Keys returns a fresh Ed25519 key pair.
func Keys(t testing.TB) *auth.Keys {
	t.Helper()
	priv, pub, err := auth.GenerateKeyPEM("eddsa")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeys(string(pub), string(priv))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// New starts a server on a fresh database; it stops when t ends. Store,
// Verifier and Keys of opts.HTTP are filled in, and Log when empty.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	pool := dbtest.Pool(t)
	if opts.DatabaseURL != nil || len(opts.PoolOptions) > 0 {
		url := dbtest.URL(t)
		if opts.DatabaseURL != nil {
			url = opts.DatabaseURL(url)
		}
		p, err := db.NewPool(context.Background(), url, opts.PoolOptions...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pool = p
	}
	if opts.Webhooks {
		workers := webhook.Workers(webhook.NewWorker(webhook.Config{Store: db.NewStore(pool), AllowPrivate: true,
			Log: slog.New(slog.DiscardHandler)}))
		db.AddWorkers(workers, db.NewStore(pool, db.WithWebhookPolicy(true)))
		opts.StoreOptions = append(opts.StoreOptions, db.WithJobs(dbtest.RunJobs(t, pool, workers)), db.WithWebhookPolicy(true))
	}
	store := db.NewStore(pool, append([]db.Option{db.WithHub(dbtest.Hub(t, pool))}, opts.StoreOptions...)...)
	keys := Keys(t)
	log := slog.New(slog.DiscardHandler)
	cfg := opts.HTTP
	if cfg.Log != nil {
		log = cfg.Log
	}
	cfg.Store, cfg.Keys, cfg.Log = store, keys, log
	cfg.Verifier = auth.NewVerifier(keys, store, auth.VerifierOptions{})
	api := httpapi.New(cfg)
	var mh *mcpapi.Handler
	if opts.MCP != nil {
		m := *opts.MCP
		m.Store, m.Log = store, log
		mh = mcpapi.New(m)
		for pattern, h := range mh.Routes() {
			api.Mount(pattern, auth.ScopeAgent, h)
		}
	}
	// The server serve runs: its timeouts and connection cap.
	ts := httptest.NewUnstartedServer(api)
	ts.Config = api.HTTPServer()
	ts.Listener = api.Listener(ts.Listener)
	ts.Start()
	t.Cleanup(ts.Close)
	return &Server{URL: ts.URL, TS: ts, API: api, Pool: pool, Store: store, Keys: keys, MCP: mh, t: t}
}

// User makes a user.
func (s *Server) User() uuid.UUID {
	s.t.Helper()
	return dbtest.User(s.t, s.Store)
}

// Token issues a token of scope for user.
func (s *Server) Token(user uuid.UUID, scope auth.Scope) string {
	s.t.Helper()
	tok, _, err := auth.IssueToken(context.Background(), s.Store, s.Keys, auth.OperatorRequest(user, "test", scope))
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// HeaderClient is an HTTP client that adds h to every request (an MCP
// client's configured headers: Authorization, X-Client-Type).
func HeaderClient(h http.Header) *http.Client {
	return &http.Client{Transport: headerRT{h}}
}

type headerRT struct{ h http.Header }

func (rt headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range rt.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}
