package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/mcpapi"
	"github.com/handoffhq/handoff/webhook"
)

// serveConfig is serve's configuration, read from the environment.
type serveConfig struct {
	databaseURL     string
	port            int
	keys            *auth.Keys
	allowUntracked  bool
	shutdownTimeout time.Duration
	mcpStateless    bool
	mcpWait         time.Duration
	embedded        bool // no DATABASE_URL: a private PostgreSQL in the data dir

	webhookAllowPrivate bool
}

// defaultDataDir is where the embedded default keeps its PostgreSQL, keys
// and first-run marker: the user's state directory (as root, /var/lib,
// which the postgres user can reach).
func defaultDataDir(getenv env) string {
	if os.Geteuid() == 0 {
		return "/var/lib/handoff"
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "handoff")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "handoff")
	}
	return filepath.Join(os.TempDir(), "handoff")
}

// loadServeConfig reads serve's settings. Without DATABASE_URL the server
// runs on the embedded default (its own PostgreSQL and keys in dataDir);
// keys set in the environment are used either way.
func loadServeConfig(getenv env, dataDir string) (serveConfig, error) {
	cfg := serveConfig{shutdownTimeout: 30 * time.Second}
	var err error
	if getenv("DATABASE_URL") == "" {
		cfg.embedded = true
	} else if cfg.databaseURL, err = databaseURL(getenv); err != nil {
		return cfg, err
	}
	if cfg.port, err = listenPort(getenv); err != nil {
		return cfg, err
	}
	pub, priv := getenv("JWT_PUBLIC_KEY"), getenv("JWT_PRIVATE_KEY")
	if pub == "" && priv == "" {
		if !cfg.embedded {
			return cfg, usagef("JWT_PUBLIC_KEY is not set (PEM text or a file path; make keys with: handoff keys generate --out DIR)")
		}
		keyDir := filepath.Join(dataDir, "keys")
		if _, err := os.Stat(filepath.Join(keyDir, auth.PrivateKeyFile)); errors.Is(err, os.ErrNotExist) {
			if err := auth.WriteKeyFiles(keyDir, "eddsa"); err != nil {
				return cfg, fmt.Errorf("make keys in %s: %w", keyDir, err)
			}
		}
		pub, priv = filepath.Join(keyDir, auth.PublicKeyFile), filepath.Join(keyDir, auth.PrivateKeyFile)
	}
	if cfg.keys, err = auth.LoadKeys(pub, priv); err != nil {
		return cfg, usagef("%v", err)
	}
	if v := getenv("HANDOFF_ALLOW_UNTRACKED_TOKENS"); v != "" {
		if cfg.allowUntracked, err = strconv.ParseBool(v); err != nil {
			return cfg, usagef("HANDOFF_ALLOW_UNTRACKED_TOKENS must be true or false, not %q", v)
		}
	}
	if v := getenv("HANDOFF_MCP_STATELESS"); v != "" {
		if cfg.mcpStateless, err = strconv.ParseBool(v); err != nil {
			return cfg, usagef("HANDOFF_MCP_STATELESS must be 1 or 0 (true or false), not %q", v)
		}
	}
	cfg.mcpWait = mcpapi.DefaultWait
	if v := getenv("HANDOFF_MCP_WAIT"); v != "" {
		if cfg.mcpWait, err = parseSeconds(v); err != nil || cfg.mcpWait <= 0 {
			return cfg, usagef("HANDOFF_MCP_WAIT must be a positive duration such as 50s (or a number of seconds), not %q", v)
		}
	}
	if v := getenv("HANDOFF_WEBHOOK_ALLOW_PRIVATE"); v != "" {
		if cfg.webhookAllowPrivate, err = strconv.ParseBool(v); err != nil {
			return cfg, usagef("HANDOFF_WEBHOOK_ALLOW_PRIVATE must be 1 or 0, not %q", v)
		}
	}
	if v := getenv("HANDOFF_SHUTDOWN_TIMEOUT"); v != "" {
		if cfg.shutdownTimeout, err = time.ParseDuration(v); err != nil || cfg.shutdownTimeout <= 0 {
			return cfg, usagef("HANDOFF_SHUTDOWN_TIMEOUT must be a positive duration such as 30s, not %q", v)
		}
	}
	return cfg, nil
}

// parseSeconds reads a Go duration ("50s") or a bare number of seconds.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

func databaseURL(getenv env) (string, error) {
	u := getenv("DATABASE_URL")
	if u == "" {
		return "", usagef("DATABASE_URL is not set (a PostgreSQL URL such as postgres://user:pass@localhost:5432/handoff)")
	}
	if _, err := pgxpool.ParseConfig(u); err != nil {
		return "", usagef("DATABASE_URL is not a valid PostgreSQL connection string: %v", err)
	}
	return u, nil
}

// listenPort: PORT wins when set (as on hosting platforms), then
// MCP_SERVER_PORT, then 8080.
func listenPort(getenv env) (int, error) {
	name, v := "PORT", getenv("PORT")
	if v == "" || v == "$PORT" {
		name, v = "MCP_SERVER_PORT", getenv("MCP_SERVER_PORT")
	}
	if v == "" {
		return 8080, nil
	}
	p, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || p < 0 || p > 65535 {
		return 0, usagef("%s must be a port number (0-65535), not %q", name, v)
	}
	return p, nil
}

func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	// The database may still be starting (a compose file, a fresh
	// container): wait for it a little before giving up.
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("cannot reach the database: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func serve(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	stateless := fs.Bool("mcp-stateless", false, "serve MCP without sessions (as HANDOFF_MCP_STATELESS=1)")
	dataDir := fs.String("data-dir", getenv("HANDOFF_DATA_DIR"), "the embedded default's state directory")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usagef("serve takes only --mcp-stateless and --data-dir; it is configured by the environment (see handoff help)")
	}
	if *dataDir == "" {
		*dataDir = defaultDataDir(getenv)
	}
	if getenv("DATABASE_URL") == "" {
		if err := os.MkdirAll(*dataDir, 0o755); err != nil {
			return usagef("--data-dir %s: %v", *dataDir, err)
		}
	}
	cfg, err := loadServeConfig(getenv, *dataDir)
	if err != nil {
		return err
	}
	cfg.mcpStateless = cfg.mcpStateless || *stateless
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	if cfg.embedded {
		pg, err := startEmbedded(ctx, getenv, *dataDir, log)
		if err != nil {
			return err
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				log.Error("stopping PostgreSQL", "err", err)
			}
		}()
		cfg.databaseURL = pg.URL
	}
	pool, err := openPool(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	migrator, err := db.NewMigrator(pool, log)
	if err != nil {
		return err
	}
	defer migrator.Close()
	if _, err := migrator.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	hub := db.NewHub(pool.Config().ConnConfig, log)
	hub.Start()
	defer hub.Close()
	// Webhook deliveries: durable River jobs on the same database, worked
	// here; the store enqueues them inside the writing transactions.
	publicURL := getenv("HANDOFF_PUBLIC_URL")
	if publicURL == "" {
		publicURL = fmt.Sprintf("http://localhost:%d", cfg.port)
	}
	worker := webhook.NewWorker(webhook.Config{Store: db.NewStore(pool), PublicURL: publicURL,
		AllowPrivate: cfg.webhookAllowPrivate, Log: log})
	// Poll-only: River's own LISTEN would take one more connection, and
	// the server keeps to its pool plus the hub's one. A 100 ms poll still
	// delivers a question well within a second.
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:   map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 20}},
		Workers:  webhook.Workers(worker),
		PollOnly: true, FetchCooldown: 50 * time.Millisecond, FetchPollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	store := db.NewStore(pool, db.WithHub(hub), db.WithJobs(jobs), db.WithWebhookPolicy(cfg.webhookAllowPrivate))
	db.ReportPool(pool)
	api := httpapi.New(httpapi.Config{
		Store:    store,
		Verifier: auth.NewVerifier(cfg.keys, store, auth.VerifierOptions{AllowUntracked: cfg.allowUntracked}),
		Keys:     cfg.keys,
		Ready: func(ctx context.Context) error {
			atHead, err := migrator.AtHead(ctx)
			if err == nil && !atHead {
				err = errors.New("database schema is behind the migrations")
			}
			return err
		},
		Log: log,
	})
	mcp := mcpapi.New(mcpapi.Config{Store: store, Wait: cfg.mcpWait, Stateless: cfg.mcpStateless, Log: log})
	for pattern, h := range mcp.Routes() {
		api.Mount(pattern, auth.ScopeAgent, h)
	}
	if addr := getenv("HANDOFF_PPROF_ADDR"); addr != "" {
		// Profiling on its own listener (e.g. 127.0.0.1:6060), never on
		// the public port.
		pl, err := net.Listen("tcp", addr)
		if err != nil {
			return usagef("HANDOFF_PPROF_ADDR: %v", err)
		}
		defer pl.Close()
		go func() { _ = http.Serve(pl, pprofMux()) }()
		log.Info("pprof listening", "addr", pl.Addr().String())
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.port))
	if err != nil {
		return err
	}
	if cfg.embedded {
		if err := firstRun(ctx, store, cfg.keys, *dataDir, ln.Addr().(*net.TCPAddr).Port, stdout); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if err := jobs.Start(ctx); err != nil {
		return fmt.Errorf("webhook jobs: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = jobs.Stop(sctx)
	}()
	log.Info("handoff listening", "addr", ln.Addr().String(), "alg", cfg.keys.Alg,
		"mcp_stateless", cfg.mcpStateless, "mcp_wait", cfg.mcpWait.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// SIGTERM: wake every waiting request (it answers with what it has),
	// stop accepting, let in-flight requests finish.
	log.Info("shutting down", "timeout", cfg.shutdownTimeout.String())
	hub.Close()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
