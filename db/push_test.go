package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// waits reads QuestionWaits for the env's user.
func (e *env) waits(question uuid.UUID) bool {
	e.t.Helper()
	w, err := e.s.QuestionWaits(e.ctx, e.user, question)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// A question waits (its push may show it) until it is answered, moved on
// from, decided or expired, or its session ends; and only for its user.
func TestQuestionWaits(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	step := e.agent(inst, "working", false).MessageID
	q := e.agent(inst, "Deploy?", true).MessageID
	if !e.waits(q) || e.waits(step) || e.waits(uuid.New()) {
		t.Fatalf("open question %v, step %v, nothing %v", e.waits(q), e.waits(step), e.waits(uuid.New()))
	}
	if w, err := e.s.QuestionWaits(e.ctx, dbtest.User(t, e.s), q); err != nil || w {
		t.Fatalf("another user's question: %v %v", w, err)
	}
	e.person(inst, "Yes", false)
	if e.waits(q) {
		t.Fatal("an answered question waits")
	}
	q = e.agent(inst, "Which branch?", true).MessageID
	e.agent(inst, "never mind, main", false)
	if e.waits(q) {
		t.Fatal("a question the agent moved on from waits")
	}

	// A permission request: decided; expired with nobody waiting (its
	// waiter gone: only its expires_at says so).
	ch := e.request(inst, "Bash", bash("make deploy"), later())
	req := e.open(inst)[0].ID
	if !e.waits(req) {
		t.Fatal("an open permission request does not wait")
	}
	if _, err := e.answer(inst, &req, ptr(0), ""); err != nil {
		t.Fatal(err)
	}
	decided(t, ch)
	if e.waits(req) {
		t.Fatal("a decided request waits")
	}
	ctx, cancel := context.WithCancel(e.ctx)
	ch = e.requestCtx(ctx, inst, "Bash", bash("make deploy"), later())
	req = e.open(inst)[0].ID
	if _, err := e.pool.Exec(e.ctx, `UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1`, req); err != nil {
		t.Fatal(err)
	}
	if e.waits(req) {
		t.Fatal("an expired request waits")
	}
	cancel()
	decided(t, ch)

	// Ending the session ends every wait.
	q = e.agent(inst, "Ship it?", true).MessageID
	if !e.waits(q) {
		t.Fatal("a new question does not wait")
	}
	if _, err := e.s.EndSession(e.ctx, e.user, inst); err != nil {
		t.Fatal(err)
	}
	if e.waits(q) {
		t.Fatal("a question of an ended session waits")
	}
}

// Replicas starting at once on a new database each make a VAPID key pair;
// one is stored, and every one of them uses it.
func TestVAPIDKeysOneForEveryReplica(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	const replicas = 4
	type pair struct {
		private, public string
		err             error
	}
	got := make(chan pair, replicas)
	start := make(chan struct{})
	for range replicas {
		go func() {
			<-start
			private, public, err := db.NewStore(pool).VAPIDKeys(context.Background())
			got <- pair{private, public, err}
		}()
	}
	close(start)
	first := <-got
	for range replicas - 1 {
		if p := <-got; p.err != nil || first.err != nil || p != first {
			t.Fatalf("replicas got different VAPID keys: %+v, %+v", first, p)
		}
	}
	if first.private == "" || first.public == "" {
		t.Fatalf("empty VAPID keys %+v", first)
	}
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM vapid_keys").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d VAPID key pairs stored (%v)", n, err)
	}
}
