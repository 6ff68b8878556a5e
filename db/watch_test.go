package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/handoffhq/handoff/db"
)

// rawListener listens on the notify channel through its own connection,
// beside the hub, to see what the schema announces.
type rawListener struct {
	t    *testing.T
	e    *env
	conn *pgx.Conn
}

func (e *env) rawListener() *rawListener {
	e.t.Helper()
	conn, err := pgx.ConnectConfig(e.ctx, e.pool.Config().ConnConfig)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(e.ctx, "LISTEN "+db.NotifyChannel); err != nil {
		e.t.Fatal(err)
	}
	return &rawListener{t: e.t, e: e, conn: conn}
}

// announced reports whether a change was announced before now: it sends a
// marker and reads up to it (no timing involved).
func (l *rawListener) announced() []string {
	l.t.Helper()
	marker := "marker-" + uuid.NewString()
	if _, err := l.e.pool.Exec(l.e.ctx, "SELECT pg_notify($1, $2)", db.NotifyChannel, marker); err != nil {
		l.t.Fatal(err)
	}
	var got []string
	for {
		ctx, cancel := context.WithTimeout(l.e.ctx, time.Minute)
		n, err := l.conn.WaitForNotification(ctx)
		cancel()
		if err != nil {
			l.t.Fatal(err)
		}
		if n.Payload == marker {
			return got
		}
		got = append(got, n.Payload)
	}
}

func (e *env) watchRows(id uuid.UUID) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, "SELECT count(*) FROM handoff_watches WHERE id = $1", id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A change nobody watches is not announced (NOTIFY costs every commit);
// one a hub watches, by its instance or by its user, is; and the watch
// ends a while after its last waiter left.
func TestOnlyWatchedChangesAreAnnounced(t *testing.T) {
	e := newEnv(t)
	e.listening()
	e.hub.SetLinger(0)
	l := e.rawListener()
	inst := uuid.New()
	e.agent(inst, "step", false)
	if got := l.announced(); len(got) != 0 {
		t.Fatalf("unwatched change announced: %v", got)
	}

	want := inst.String() + " " + e.user.String()
	for _, id := range []uuid.UUID{inst, e.user} {
		sub := e.subscribe(id)
		e.agent(inst, "watched step", false)
		if got := l.announced(); len(got) != 1 || got[0] != want {
			t.Fatalf("watching %v: announced %v, want [%s]", id, got, want)
		}
		recv(t, "the watched change", sub.C)
		sub.Close()
		until(t, "the watch to end", func() bool { return e.watchRows(id) == 0 })
	}
	e.agent(inst, "step", false)
	if got := l.announced(); len(got) != 0 {
		t.Fatalf("announced after the watches ended: %v", got)
	}
}

// The race a watch must not lose: a writer looked for watchers, found
// none and has not committed when a waiter starts watching. Watching
// waits for that writer to commit, so the waiter's first look sees the
// write.
func TestWatchWaitsForWritersThatLooked(t *testing.T) {
	e := newEnv(t)
	e.listening()
	inst := uuid.New()
	e.agent(inst, "Proceed?", true)

	tx, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx)
	// What every write's trigger does: look (no watcher) and hold the lock.
	if _, err := tx.Exec(e.ctx, "SELECT handoff_notify($1, $2)", inst, e.user); err != nil {
		t.Fatal(err)
	}

	watched := make(chan error, 1)
	go func() {
		sub, err := e.hub.Subscribe(e.ctx, inst)
		if err == nil {
			sub.Close()
		}
		watched <- err
	}()
	until(t, "the watch to wait for the writer", func() bool {
		var n int
		_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		return n == 1
	})
	select {
	case err := <-watched:
		t.Fatalf("watch returned while a writer that saw no watcher was open: %v", err)
	default:
	}
	if err := tx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-watched; err != nil {
		t.Fatal(err)
	}

	// And a writer that comes after the watch announces.
	l := e.rawListener()
	sub := e.subscribe(inst)
	defer sub.Close()
	e.person(inst, "yes", false)
	if got := l.announced(); len(got) != 1 {
		t.Fatalf("write after watch: announced %v", got)
	}
}

// The watches of a listener that is gone are removed when a listener
// connects, and a hub whose connection was replaced watches its ids again
// under the new one.
func TestWatchesFollowTheListener(t *testing.T) {
	e := newEnv(t)
	e.listening()
	inst := uuid.New()
	e.agent(inst, "Proceed?", true)
	sub := e.subscribe(inst)
	defer sub.Close()
	// A hub that died without cleaning up (no backend has pid 0).
	if _, err := e.pool.Exec(e.ctx, "INSERT INTO handoff_watches VALUES ($1, 0)", e.user); err != nil {
		t.Fatal(err)
	}
	listenerPID := func() (pid int32) {
		_ = e.pool.QueryRow(e.ctx, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
			db.ListenerAppName).Scan(&pid)
		return pid
	}
	old := listenerPID()
	if _, err := e.pool.Exec(e.ctx, "SELECT pg_terminate_backend($1)", old); err != nil {
		t.Fatal(err)
	}
	until(t, "the listener to reconnect and watch again", func() bool {
		var stale, current int
		_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FILTER (WHERE id = $1),
			count(*) FILTER (WHERE id = $2 AND listener = $3 AND $3 <> $4) FROM handoff_watches`,
			e.user, inst, listenerPID(), old).Scan(&stale, &current)
		return stale == 0 && current == 1
	})
	// The waiter is woken by a write through the new connection's watch.
	e.person(inst, "after reconnect", false)
	recv(t, "a write after the reconnect", sub.C)
}
