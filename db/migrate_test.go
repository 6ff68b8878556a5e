package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// Replicas started at the same moment on an empty database each migrate:
// every one succeeds, the migrations (handoff's and River's) are applied
// once, and all of them then find the database at head.
func TestMigrateTogether(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const replicas = 3
	migrators := make([]*db.Migrator, replicas)
	for i := range migrators {
		pool, err := db.NewPool(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		if migrators[i], err = db.NewMigrator(pool, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = migrators[i].Close() })
	}
	if atHead, err := migrators[0].AtHead(ctx); err != nil || atHead {
		t.Fatalf("an empty database at head: %v %v", atHead, err)
	}
	start := make(chan struct{})
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i, m := range migrators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = m.Up(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	for i, m := range migrators {
		if atHead, err := m.AtHead(ctx); err != nil || !atHead {
			t.Errorf("replica %d: at head %v (%v)", i, atHead, err)
		}
	}
	pool, err := db.NewPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var river, ours, dupes int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM river_migration),
		(SELECT count(*) FROM goose_db_version WHERE version_id > 0),
		(SELECT count(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING count(*) > 1) d)`).
		Scan(&river, &ours, &dupes); err != nil {
		t.Fatal(err)
	}
	if river == 0 || ours == 0 || dupes != 0 {
		t.Fatalf("river migrations %d, ours %d, applied twice %d", river, ours, dupes)
	}
}

// River's migrations count for readiness: a database with handoff's
// migrations but not River's is not at head.
func TestAtHeadNeedsRiver(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	m, err := db.NewMigrator(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if atHead, err := m.AtHead(ctx); err != nil || !atHead {
		t.Fatalf("a migrated database: %v %v", atHead, err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM river_migration WHERE version = (SELECT max(version) FROM river_migration)`); err != nil {
		t.Fatal(err)
	}
	if atHead, err := m.AtHead(ctx); err != nil || atHead {
		t.Fatalf("River's newest migration missing, yet at head: %v %v", atHead, err)
	}
}

// Ready: not while River's newest migration is missing; once at head, a
// ping answers (a closed pool is not ready).
func TestReady(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	m, err := db.NewMigrator(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	var newest int
	if err := pool.QueryRow(ctx, `DELETE FROM river_migration WHERE version = (SELECT max(version) FROM river_migration)
		RETURNING version`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(ctx); err == nil {
		t.Fatal("ready with River's newest migration missing")
	}
	if _, err := pool.Exec(ctx, `INSERT INTO river_migration (line, version) VALUES ('main', $1)`, newest); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(ctx); err != nil {
		t.Fatalf("a migrated database: %v", err)
	}
	pool.Close()
	if err := m.Ready(ctx); err == nil {
		t.Fatal("ready on a closed pool")
	}
}

// While another replica holds the migration lock, Up applies nothing,
// neither handoff's migrations nor River's, and gives up when its context
// ends.
func TestMigrateWaitsForTheLock(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyURL(t)
	ctx := context.Background()
	holder, err := db.NewPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", db.MigrationLock); err != nil {
		t.Fatal(err)
	}
	pool, err := db.NewPool(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m, err := db.NewMigrator(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := m.Up(short); err == nil {
		t.Fatal("Up migrated while another held the lock")
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d tables made while the lock was held", tables)
	}
	// Released, the next Up does it all.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", db.MigrationLock); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if atHead, err := m.AtHead(ctx); err != nil || !atHead {
		t.Fatalf("after the lock: at head %v %v", atHead, err)
	}
}
