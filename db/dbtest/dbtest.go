// Package dbtest gives tests a real PostgreSQL: one server per test binary
// (a testcontainers container, or the server at TEST_DATABASE_URL), one
// database migrated once as a template, and a fresh clone of it per test.
//
// A package that uses it calls dbtest.Main from TestMain so the container
// is stopped when its tests end. The container image is TEST_POSTGRES_IMAGE
// (default postgres:17-alpine); the TESTCONTAINERS_* variables are honoured.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/handoffhq/handoff/db"
)

// DefaultImage is the PostgreSQL image used when TEST_POSTGRES_IMAGE is unset.
const DefaultImage = "postgres:17-alpine"

var (
	setupOnce sync.Once
	setupErr  error
	adminURL  string // a database on the server we may connect to
	template  string // the migrated template database
	container *postgres.PostgresContainer
	prefix    = "handoff_" + randomHex(4)
	counter   struct {
		sync.Mutex
		n int
	}
)

// Main runs the tests of a package and then stops what dbtest started.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops what dbtest started (for a TestMain that does more than
// Main).
func Stop() { teardown() }

// URL returns the connection string of a fresh, migrated database that is
// dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// newDatabase creates a database (a clone of the migrated template, or
// empty) that is dropped when t ends, and returns its connection string.
func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("dbtest: %v", setupErr)
	}
	counter.Lock()
	counter.n++
	name := fmt.Sprintf("%s_t%d", prefix, counter.n)
	counter.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := "CREATE DATABASE " + name
	if migrated {
		create += " TEMPLATE " + template
	}
	if err := adminExec(ctx, create); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("dbtest: drop database: %v", err)
		}
	})
	return withDatabase(adminURL, name)
}

// EmptyURL returns the connection string of a fresh database with no
// tables (not migrated), dropped when t ends.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

// Pool returns a pool on a fresh, migrated database, closed when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := db.NewPool(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Hub starts a notification hub on pool's database, closed when t ends.
func Hub(t testing.TB, pool *pgxpool.Pool) *db.Hub {
	t.Helper()
	h := db.NewHub(pool, slog.New(slog.DiscardHandler))
	h.Start()
	t.Cleanup(h.Close)
	return h
}

// RunJobs works River jobs with workers on pool's database (a server's
// job queue, polling often) until t ends, and returns the client.
func RunJobs(t testing.TB, pool *pgxpool.Pool, workers *river.Workers) *river.Client[pgx.Tx] {
	t.Helper()
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}}, Workers: workers,
		FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

// Store returns a db.Store, with a hub, on a fresh, migrated database.
func Store(t testing.TB) *db.Store {
	t.Helper()
	pool := Pool(t)
	return db.NewStore(pool, db.WithHub(Hub(t, pool)))
}

// User creates a user with a unique email and returns its id.
func User(t testing.TB, s *db.Store) uuid.UUID {
	t.Helper()
	u, err := s.CreateUser(context.Background(), "user-"+randomHex(6)+"@example.test", nil)
	if err != nil {
		t.Fatalf("dbtest: create user: %v", err)
	}
	return u.ID
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if url := os.Getenv("TEST_DATABASE_URL"); url != "" {
		adminURL = url
	} else {
		image := os.Getenv("TEST_POSTGRES_IMAGE")
		if image == "" {
			image = DefaultImage
		}
		ctr, err := postgres.Run(ctx, image,
			postgres.WithDatabase("handoff"), postgres.WithUsername("handoff"), postgres.WithPassword("handoff"),
			postgres.BasicWaitStrategies())
		if ctr != nil {
			container = ctr
		}
		if err != nil {
			return fmt.Errorf("start postgres container (%s): %w", image, err)
		}
		adminURL, err = ctr.ConnectionString(ctx, "sslmode=disable")
		if err != nil {
			return err
		}
	}
	template = prefix + "_template"
	if err := adminExec(ctx, "CREATE DATABASE "+template); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, template))
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, nil); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

func teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if container != nil {
		_ = testcontainers.TerminateContainer(container, testcontainers.StopContext(ctx))
		return
	}
	if template != "" && adminURL != "" {
		_ = adminExec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", template))
	}
}

// AdminExec runs sql on the server's admin database (not the test's), for
// what a database cannot do to itself (ALTER DATABASE, say).
func AdminExec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := adminExec(ctx, sql); err != nil {
		t.Fatalf("dbtest: %s: %v", sql, err)
	}
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns the connection string dsn (a URL, or key=value
// pairs) naming another database.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // a later key wins
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// OpenPermissions waits until the user's session has at least n permission
// requests waiting for the person, and returns them (oldest first). It
// sleeps on the store's hub between looks: the session's changes wake it.
func OpenPermissions(t testing.TB, s *db.Store, user, inst uuid.UUID, n int) []db.Message {
	t.Helper()
	sub, err := s.Watch(context.Background(), inst)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for {
		open, err := s.OpenPermissionRequests(context.Background(), user, inst)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) >= n {
			return open
		}
		<-sub.C
	}
}
