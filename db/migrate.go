package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	handoffsql "github.com/handoffhq/handoff/sql"
)

// Migrator applies the embedded goose migrations and River's. It holds
// one session advisory lock across both while it works, so replicas that
// start together migrate one at a time and the others find both at head
// (River's own migrator takes no lock: before, only goose's lock, released
// between the two, kept replicas from applying River's migrations at once).
type Migrator struct {
	pool     *pgxpool.Pool
	provider *goose.Provider
	river    *rivermigrate.Migrator[pgx.Tx]
	close    func() error
	// atHead: Ready has once found the schema at head.
	atHead atomic.Bool
}

// migrationLock is the advisory lock key of Up and Down (goose's own lock,
// taken inside it, is another key).
const migrationLock int64 = 0x68616e646f6666 // "handoff"

// lockPoll is how often a waiting replica asks for the migration lock: it
// polls rather than blocks, so no statement outlives the pool's
// per-operation deadline while another replica migrates.
const lockPoll = 100 * time.Millisecond

// NewMigrator returns a Migrator on pool; log gets one line per migration
// (nil: silent).
func NewMigrator(pool *pgxpool.Pool, log *slog.Logger) (*Migrator, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		sqlDB.Close()
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, handoffsql.Migrations(),
		goose.WithSessionLocker(locker), goose.WithSlog(log), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	rm, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	return &Migrator{pool: pool, provider: p, river: rm, close: sqlDB.Close}, nil
}

// Close releases the migrator's connection.
func (m *Migrator) Close() error { return m.close() }

// locked runs fn holding the migration lock on a connection of its own.
func (m *Migrator) locked(ctx context.Context, fn func() error) error {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", migrationLock).Scan(&got); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration lock: %w", ctx.Err())
		case <-time.After(lockPoll):
		}
	}
	defer func() {
		// A fresh context: the lock must go even when ctx is done (else
		// the connection goes back to the pool still holding it).
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			conn.Conn().Close(uctx) // closing the session releases it
		}
	}()
	return fn()
}

// Up applies every pending migration: handoff's, then those of River (the
// job queue of webhook deliveries, whose tables it owns), both under the
// migration lock.
func (m *Migrator) Up(ctx context.Context) (res []*goose.MigrationResult, err error) {
	err = m.locked(ctx, func() error {
		res, err = m.up(ctx)
		return err
	})
	return res, err
}

func (m *Migrator) up(ctx context.Context) ([]*goose.MigrationResult, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return res, err
	}
	if _, err := m.river.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return res, fmt.Errorf("river migrations: %w", err)
	}
	return res, nil
}

// Down rolls back the newest applied migration (handoff's), under the
// migration lock.
func (m *Migrator) Down(ctx context.Context) (res *goose.MigrationResult, err error) {
	err = m.locked(ctx, func() error {
		res, err = m.provider.Down(ctx)
		return err
	})
	return res, err
}

// Status lists every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	return m.provider.Status(ctx)
}

// AtHead reports whether the database has every migration applied,
// handoff's and River's.
func (m *Migrator) AtHead(ctx context.Context) (bool, error) {
	pending, err := m.provider.HasPending(ctx)
	if err != nil || pending {
		return false, err
	}
	v, err := m.river.Validate(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("river migrations: %w", err)
	}
	return v.OK, nil
}

// Ready reports whether the database can serve this binary: it answers,
// and its schema is at head (handoff's migrations and River's). The schema
// is checked until it has once been at head; after that a ping answers,
// since migrations only move forward under running servers (after
// `handoff migrate down`, restart them). A balancer asks every second or
// so, on every replica: one round trip each, where the schema check takes
// several, and under load took longer than the balancer waits.
func (m *Migrator) Ready(ctx context.Context) error {
	if m.atHead.Load() {
		return m.pool.Ping(ctx)
	}
	ok, err := m.AtHead(ctx)
	switch {
	case err != nil:
		return err
	case !ok:
		return errors.New("database schema is behind the migrations")
	}
	m.atHead.Store(true)
	return nil
}

// Migrate applies every pending migration on pool.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	m, err := NewMigrator(pool, log)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}
