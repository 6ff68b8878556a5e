package db

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// Store is handoff's one core: every operation of the REST and MCP
// adapters is a Store method that runs in one transaction.
type Store struct {
	pool *pgxpool.Pool
	hub  *Hub
	jobs *river.Client[pgx.Tx]
	// webhookAllowPrivate: webhooks (and push endpoints) may target
	// private addresses.
	webhookAllowPrivate bool
	// vapid caches the VAPID key pair (private, public) once read.
	vapidMu sync.Mutex
	vapid   [2]string
}

// Option configures a Store.
type Option func(*Store)

// WithHub makes the store's waits wake on the hub's notifications. A store
// without a hub does not wait (its waits look once).
func WithHub(h *Hub) Option { return func(s *Store) { s.hub = h } }

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

// withJobs is the store enqueueing through c (the River client working a
// job); the VAPID cache starts empty.
func (s *Store) withJobs(c *river.Client[pgx.Tx]) *Store {
	return &Store{pool: s.pool, hub: s.hub, jobs: c, webhookAllowPrivate: s.webhookAllowPrivate}
}

// Pool returns the connection pool behind the store.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// pgCode returns the SQLSTATE of a Postgres error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

const (
	sqlstateNoDataFound = "P0002" // raised by handoff_lock_instance
	sqlstateForeignKey  = "23503"
	sqlstateUnique      = "23505"
)

// invalidText turns PostgreSQL's refusals of text it cannot store (a NUL
// character, in text or JSON) into a client error: the request was bad,
// and retrying it cannot help.
func invalidText(err error) error {
	switch pgCode(err) {
	case "22021", "22P05":
		return Errorf(EInvalid, "text must not contain NUL characters")
	}
	return err
}

// ConfigurePool prepares a pool's connections for the Store: uuid.UUID
// values travel in PostgreSQL's binary form (pgx would otherwise go
// through their text form, as driver.Valuers, on every parameter and
// column), and every read and write waits at most OpTimeout.
func ConfigurePool(cfg *pgxpool.Config, opts ...PoolOption) {
	o := poolOptions{opTimeout: DefaultOpTimeout}
	for _, f := range opts {
		f(&o)
	}
	boundIO(cfg, o.opTimeout)
	next := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		pgxuuid.Register(conn.TypeMap())
		if next != nil {
			return next(ctx, conn)
		}
		return nil
	}
}

// NewPool opens a pool on url configured for the Store (ConfigurePool).
func NewPool(ctx context.Context, url string, opts ...PoolOption) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	ConfigurePool(cfg, opts...)
	return pgxpool.NewWithConfig(ctx, cfg)
}
