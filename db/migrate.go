package db

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	handoffsql "github.com/handoffhq/handoff/sql"
)

// Migrator applies the embedded goose migrations. It holds Postgres's
// session advisory lock while it works, so replicas that start together
// migrate one at a time.
type Migrator struct {
	provider *goose.Provider
	river    *rivermigrate.Migrator[pgx.Tx]
	close    func() error
}

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
	return &Migrator{provider: p, river: rm, close: sqlDB.Close}, nil
}

// Close releases the migrator's connection.
func (m *Migrator) Close() error { return m.close() }

// Up applies every pending migration: handoff's, then those of River (the
// job queue of webhook deliveries, whose tables it owns).
func (m *Migrator) Up(ctx context.Context) ([]*goose.MigrationResult, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return res, err
	}
	if _, err := m.river.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return res, fmt.Errorf("river migrations: %w", err)
	}
	return res, nil
}

// Down rolls back the newest applied migration.
func (m *Migrator) Down(ctx context.Context) (*goose.MigrationResult, error) {
	return m.provider.Down(ctx)
}

// Status lists every migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	return m.provider.Status(ctx)
}

// AtHead reports whether the database has every migration applied.
func (m *Migrator) AtHead(ctx context.Context) (bool, error) {
	pending, err := m.provider.HasPending(ctx)
	return !pending, err
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
