package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/embedpg"
	"github.com/handoffhq/handoff/internal/gcfloor"
	"github.com/handoffhq/handoff/mcpapi"
	"github.com/handoffhq/handoff/push"
	"github.com/handoffhq/handoff/webhook"
)

func openPool(ctx context.Context, url string, opts ...db.PoolOption) (*pgxpool.Pool, error) {
	pool, err := db.NewPool(ctx, url, opts...)
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
	cfg, err := loadServeConfig(args, getenv)
	if err != nil {
		return err
	}
	// Every setting is good: from here on serve has effects.
	if cfg.embedded {
		if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
			return usagef("--data-dir %s: %v", cfg.dataDir, err)
		}
	}
	if cfg.keys == nil {
		if cfg.keys, err = loadKeys(cfg.keySource); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.heapFloor > 0 {
		defer gcfloor.Start(cfg.heapFloor, 100).Stop()
	}
	if cfg.embedded {
		// One process runs a data dir's PostgreSQL; a serve that died
		// (kill -9) left it running, and this start stops it first.
		lock, err := embedpg.LockDir(cfg.dataDir)
		if err != nil {
			return err
		}
		defer lock.Unlock()
		pg, err := startEmbedded(ctx, cfg, log)
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
	pool, err := openPool(ctx, cfg.databaseURL, db.OpTimeout(cfg.dbTimeout))
	if err != nil {
		return err
	}
	defer pool.Close()
	// What needs a session of its own (the migrations' lock, the hub's
	// LISTEN) goes direct when DATABASE_URL is a pooler's.
	direct := pool
	if cfg.directURL != "" {
		if direct, err = openPool(ctx, cfg.directURL, db.OpTimeout(cfg.dbTimeout)); err != nil {
			return fmt.Errorf("HANDOFF_DIRECT_DATABASE_URL: %w", err)
		}
		defer direct.Close()
	}
	migrator, err := db.NewMigrator(direct, log)
	if err != nil {
		return err
	}
	defer migrator.Close()
	if _, err := migrator.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	hub := db.NewHub(pool, log, db.ListenThrough(direct))
	hub.Start()
	defer hub.Close()
	// Webhook deliveries: durable River jobs on the same database, worked
	// here; the store enqueues them inside the writing transactions.
	worker := webhook.NewWorker(webhook.Config{Store: db.NewStore(pool), PublicURL: cfg.publicURL,
		AllowPrivate: cfg.webhookAllowPrivate, Log: log})
	// Poll-only: River's own LISTEN would take one more connection, and
	// the server keeps to its pool plus the hub's one. A 100 ms poll still
	// delivers a question well within a second. River logs its failures
	// (warn and above) with the server's.
	// Retention runs hourly (on River's leader only) on the same queue.
	workers := webhook.Workers(worker)
	river.AddWorker(workers, &db.RetentionWorker{Store: db.NewStore(pool), Keep: cfg.retention})
	// A permission request's expiry, for when its waiter died with its
	// process.
	db.AddWorkers(workers, db.NewStore(pool, db.WithWebhookPolicy(cfg.webhookAllowPrivate)))
	contact := cfg.publicURL
	if !strings.HasPrefix(contact, "https://") {
		contact = "" // the worker's default address: VAPID wants https or mailto
	}
	river.AddWorker(workers, push.NewWorker(push.Config{Store: db.NewStore(pool, db.WithWebhookPolicy(cfg.webhookAllowPrivate)),
		Contact: contact, AllowPrivate: cfg.webhookAllowPrivate,
		Log: log.With("component", "push")}))
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:       map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 20}},
		Workers:      workers,
		PeriodicJobs: []*river.PeriodicJob{db.RetentionJob()},
		// A delivery cut off by a crash is retried within a minute, not an hour.
		JobTimeout: webhook.JobTimeout, RescueStuckJobsAfter: webhook.RescueAfter,
		PollOnly: true, FetchCooldown: 50 * time.Millisecond, FetchPollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "river"),
	})
	if err != nil {
		return err
	}
	store := db.NewStore(pool, db.WithHub(hub), db.WithJobs(jobs), db.WithWebhookPolicy(cfg.webhookAllowPrivate))
	// The VAPID key pair is made on the first start, like the JWT keys,
	// not on a first push: every replica starting at once reads the one
	// that won.
	if _, _, err := store.VAPIDKeys(ctx); err != nil {
		return err
	}
	db.ReportPool(pool)
	api := httpapi.New(httpapi.Config{
		PublicURL: cfg.publicURL, TrustedProxies: cfg.trustedProxies,
		Store:             store,
		Verifier:          auth.NewVerifier(cfg.keys, store, auth.VerifierOptions{AllowUntracked: cfg.allowUntracked}),
		Keys:              cfg.keys,
		Ready:             migrator.Ready,
		MaxConnsPerClient: cfg.maxConnsPerClient,
		PermissionWait:    cfg.hookWait,
		Log:               log,
	})
	mcp := mcpapi.New(mcpapi.Config{Store: store, Wait: cfg.mcpWait, PermissionWait: cfg.hookWait, Stateless: cfg.mcpStateless,
		SessionIdle: cfg.mcpSessionIdle, Version: version(), Log: log})
	for pattern, h := range mcp.Routes() {
		api.Mount(pattern, auth.ScopeAgent, h)
	}
	if cfg.pprofAddr != "" {
		// Profiling on its own listener (e.g. 127.0.0.1:6060), never on
		// the public port.
		pl, err := net.Listen("tcp", cfg.pprofAddr)
		if err != nil {
			return usagef("HANDOFF_PPROF_ADDR: %v", err)
		}
		defer pl.Close()
		go func() { _ = http.Serve(pl, pprofMux()) }()
		log.Info("pprof listening", "addr", pl.Addr().String())
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	ln = api.Listener(ln)
	if cfg.embedded {
		base := cfg.publicURL
		if !cfg.publicURLSet { // the port actually bound (PORT=0 picks one)
			base = cfg.defaultPublicURL(ln.Addr().(*net.TCPAddr).Port)
		}
		if err := firstRun(ctx, store, cfg.keys, cfg.dataDir, base, stdout); err != nil {
			return err
		}
	}
	srv := api.HTTPServer()
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	if err := jobs.Start(ctx); err != nil {
		return fmt.Errorf("webhook jobs: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = jobs.Stop(sctx)
	}()
	log.Info("handoff listening", "addr", ln.Addr().String(), "tls", cfg.tlsCert != "", "alg", cfg.keys.Alg,
		"mcp_stateless", cfg.mcpStateless, "mcp_wait", cfg.mcpWait.String())
	errc := make(chan error, 1)
	go func() {
		if cfg.tlsCert != "" {
			errc <- srv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
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
