package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
)

// Retention deletes what is older than it keeps, in as many batches as it
// takes, and keeps the rest; a zero duration keeps everything.
func TestRetention(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.pool.Exec(e.ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// More old events than one batch, written before the kept ones.
	exec(`INSERT INTO events (user_id, agent_instance_id, kind, status, created_at)
		SELECT $1, $2, 'message', 'ACTIVE', now() - interval '8 days' FROM generate_series(1, 6000)`, e.user, inst)
	e.agent(inst, "kept", false)
	e.agent(inst, "kept too", false)
	exec(`INSERT INTO idempotency_keys (user_id, operation, key, request_hash, created_at)
		SELECT $1, 'op', 'old-' || g, '\x00', now() - interval '8 days' FROM generate_series(1, 3) g`, e.user)
	exec(`INSERT INTO idempotency_keys (user_id, operation, key, request_hash) VALUES ($1, 'op', 'new', '\x00')`, e.user)
	var hook uuid.UUID
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO webhooks (user_id, url, event_types, format, secret)
		VALUES ($1, 'https://example.invalid/', '{question.asked}', 'standard', 's') RETURNING id`, e.user).Scan(&hook); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO webhook_deliveries (webhook_id, user_id, event_id, event_type, attempt, attempted_at)
		VALUES ($1, $2, 'old', 'question.asked', 1, now() - interval '31 days'),
		       ($1, $2, 'new', 'question.asked', 1, now())`, hook, e.user)

	count := func(sql string) int {
		t.Helper()
		var n int
		if err := e.pool.QueryRow(e.ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	none, err := e.s.DeleteExpired(e.ctx, db.Retention{}, time.Now())
	if err != nil || none != (db.Deleted{}) {
		t.Fatalf("zero retention deleted %+v, %v", none, err)
	}
	d, err := e.s.DeleteExpired(e.ctx, db.DefaultRetention, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d != (db.Deleted{Events: 6000, IdempotencyKeys: 3, WebhookDeliveries: 1}) {
		t.Fatalf("deleted %+v", d)
	}
	if n := count("SELECT count(*) FROM events"); n != 3 { // the instance and two messages
		t.Fatalf("%d events left, want 3", n)
	}
	if n := count("SELECT count(*) FROM idempotency_keys"); n != 1 {
		t.Fatalf("%d idempotency keys left, want 1", n)
	}
	if n := count("SELECT count(*) FROM webhook_deliveries WHERE event_id = 'new'"); n != 1 {
		t.Fatal("the new delivery was deleted")
	}
	// The River worker runs the same.
	exec(`INSERT INTO events (user_id, agent_instance_id, kind, status, created_at)
		VALUES ($1, $2, 'message', 'ACTIVE', now() - interval '8 days')`, e.user, inst)
	w := &db.RetentionWorker{Store: e.s, Keep: db.DefaultRetention}
	if err := w.Work(e.ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM events"); n != 3 {
		t.Fatalf("%d events left after the worker, want 3", n)
	}
}
