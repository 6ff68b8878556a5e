package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// until blocks until cond holds (a condition wait, bounded by a minute).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func recv(t *testing.T, what string, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(time.Minute):
		t.Fatalf("no signal: %s", what)
	}
}

func (e *env) listening() {
	e.t.Helper()
	select {
	case <-e.hub.Listening():
	case <-time.After(time.Minute):
		e.t.Fatal("hub never listened")
	}
}

func (e *env) subscribe(id uuid.UUID) *db.Subscription {
	e.t.Helper()
	sub, err := e.hub.Subscribe(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return sub
}

// A notification sent inside a transaction wakes waiters only when it
// commits. Proof without timing: a later, committed notification for
// another instance arrives first, and ours has not.
func TestWakeOnCommitNotBefore(t *testing.T) {
	e := newEnv(t)
	e.listening()
	a, b := uuid.New(), uuid.New()
	subA, subB := e.subscribe(a), e.subscribe(b)
	defer subA.Close()
	defer subB.Close()

	tx, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.ctx)
	if _, err := tx.Exec(e.ctx, "SELECT pg_notify($1, $2)", db.NotifyChannel, a.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, "SELECT pg_notify($1, $2)", db.NotifyChannel, b.String()); err != nil {
		t.Fatal(err)
	}
	recv(t, "committed notification for b", subB.C)
	select {
	case <-subA.C:
		t.Fatal("woken by a notification that has not committed")
	default:
	}
	if err := tx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	recv(t, "notification for a after commit", subA.C)
}

// Every write to an instance wakes its waiters, through the store.
func TestStoreWritesWake(t *testing.T) {
	e := newEnv(t)
	e.listening()
	inst := uuid.New()
	sub := e.subscribe(inst)
	defer sub.Close()
	e.agent(inst, "step", false)
	recv(t, "agent message", sub.C)
	e.person(inst, "hi", false)
	recv(t, "user message", sub.C)
	if _, err := e.s.EndSession(e.ctx, e.user, inst); err != nil {
		t.Fatal(err)
	}
	recv(t, "end session", sub.C)
}

// The listener's connection dies and an answer commits while it is down:
// after the reconnect the waiter looks again and gets it.
func TestNoWakeLostAcrossReconnect(t *testing.T) {
	e := newEnv(t)
	e.listening()
	inst := uuid.New()
	q := e.agent(inst, "Proceed?", true)
	done := make(chan db.AnswerResult, 1)
	go func() {
		res, err := e.s.WaitForAnswer(e.ctx, e.user, q.MessageID, time.Now().Add(time.Minute))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	until(t, "the waiter to subscribe", func() bool { return e.hub.Waiting() == 1 })

	var dbName string
	if err := e.pool.QueryRow(e.ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	// Keep the listener out while the answer commits: no new connections
	// to this database, then end the listener's.
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(e.ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	dbtest.AdminExec(t, fmt.Sprintf("ALTER DATABASE %q ALLOW_CONNECTIONS false", dbName))
	defer dbtest.AdminExec(t, fmt.Sprintf("ALTER DATABASE %q ALLOW_CONNECTIONS true", dbName))
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", db.ListenerAppName)
	until(t, "the listener to be gone", func() bool {
		var n int
		_ = e.pool.QueryRow(e.ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", db.ListenerAppName).Scan(&n)
		return n == 0
	})
	e.person(inst, "yes", false) // its notification reaches no one
	dbtest.AdminExec(t, fmt.Sprintf("ALTER DATABASE %q ALLOW_CONNECTIONS true", dbName))

	res := <-done
	if res.Status != db.AnswerAnswered || res.Answer.Content != "yes" {
		t.Fatalf("after reconnect: %+v", res)
	}
}

// Two processes on one database: a waiter on one is woken by a write
// through the other.
func TestCrossReplicaWake(t *testing.T) {
	e := newEnv(t)
	other := db.NewStore(e.pool, db.WithHub(dbtest.Hub(t, e.pool)))
	e.listening()
	inst := uuid.New()
	q := e.agent(inst, "Merge?", true)
	done := make(chan db.AnswerResult, 1)
	go func() {
		res, _ := e.s.WaitForAnswer(e.ctx, e.user, q.MessageID, time.Now().Add(time.Minute))
		done <- res
	}()
	if _, err := other.CreateUserMessage(e.ctx, db.CreateUserMessageParams{UserID: e.user, InstanceID: inst, Content: "merge"}); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Status != db.AnswerAnswered || res.Answer.Content != "merge" {
		t.Fatalf("cross-replica: %+v", res)
	}
}

// A long poll returns as soon as there is a message, or the empty answer
// at its deadline; a cancelled one leaves no subscription behind.
func TestPendingMessagesWait(t *testing.T) {
	e := newEnv(t)
	e.listening()
	inst := uuid.New()
	q := e.agent(inst, "Name?", true)

	empty, err := e.s.PendingMessagesWait(e.ctx, e.user, inst, &q.MessageID, time.Now().Add(20*time.Millisecond))
	if err != nil || empty.Status != db.ReadOK || len(empty.Messages) != 0 {
		t.Fatalf("deadline: %+v, %v", empty, err)
	}

	done := make(chan db.PendingResult, 1)
	go func() {
		res, err := e.s.PendingMessagesWait(e.ctx, e.user, inst, &q.MessageID, time.Now().Add(time.Minute))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	e.person(inst, "Ada", false)
	wantContents(t, "long poll", (<-done).Messages, "Ada")

	// Stale ends a wait too: another reader moved the cursor.
	stale, err := e.s.PendingMessagesWait(e.ctx, e.user, inst, &q.MessageID, time.Now().Add(time.Minute))
	if err != nil || stale.Status != db.ReadStale {
		t.Fatalf("stale: %+v, %v", stale, err)
	}

	ctx, cancel := context.WithCancel(e.ctx)
	cur := e.instance(inst).LastReadMessageID
	go func() {
		_, _ = e.s.PendingMessagesWait(ctx, e.user, inst, cur, time.Now().Add(time.Minute))
		done <- db.PendingResult{}
	}()
	until(t, "the long poll to subscribe", func() bool { return e.hub.Waiting() == 1 })
	cancel()
	<-done
	if n := e.hub.Waiting(); n != 0 {
		t.Fatalf("%d subscriptions left behind by a cancelled wait", n)
	}
}

// Closing the hub (shutdown) releases every waiter at once.
func TestHubCloseReleasesWaiters(t *testing.T) {
	e := newEnv(t)
	e.listening()
	inst := uuid.New()
	q := e.agent(inst, "Hold on?", true)
	done := make(chan db.AnswerResult, 1)
	go func() {
		res, _ := e.s.WaitForAnswer(e.ctx, e.user, q.MessageID, time.Now().Add(time.Hour))
		done <- res
	}()
	until(t, "the waiter to subscribe", func() bool { return e.hub.Waiting() == 1 })
	e.hub.Close()
	if res := <-done; res.Status != db.AnswerPending {
		t.Fatalf("after hub close: %+v", res)
	}
}
