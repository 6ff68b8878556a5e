package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// env is one test's database, store and user.
type env struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	hub  *db.Hub
	s    *db.Store
	user uuid.UUID
}

func newEnv(t *testing.T) *env {
	t.Parallel()
	pool := dbtest.Pool(t)
	hub := dbtest.Hub(t, pool)
	s := db.NewStore(pool, db.WithHub(hub))
	return &env{t: t, ctx: context.Background(), pool: pool, hub: hub, s: s, user: dbtest.User(t, s)}
}

// agent sends an agent message and fails the test on error.
func (e *env) agent(inst uuid.UUID, content string, question bool) db.SendAgentMessageResult {
	e.t.Helper()
	res, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
		UserID: e.user, InstanceID: inst, AgentType: "Claude Code", Content: content, RequiresUserInput: question,
	})
	if err != nil {
		e.t.Fatalf("send agent message %q: %v", content, err)
	}
	return res
}

// person sends a user message and fails the test on error.
func (e *env) person(inst uuid.UUID, content string, markAsRead bool) db.CreateUserMessageResult {
	e.t.Helper()
	res, err := e.s.CreateUserMessage(e.ctx, db.CreateUserMessageParams{
		UserID: e.user, InstanceID: inst, Content: content, MarkAsRead: markAsRead,
	})
	if err != nil {
		e.t.Fatalf("send user message %q: %v", content, err)
	}
	return res
}

func (e *env) instance(id uuid.UUID) db.InstanceInfo {
	e.t.Helper()
	inst, err := e.s.GetInstance(e.ctx, e.user, id)
	if err != nil {
		e.t.Fatalf("get instance: %v", err)
	}
	return inst
}

func (e *env) pending(inst uuid.UUID, lastRead *uuid.UUID) db.PendingResult {
	e.t.Helper()
	res, err := e.s.PendingMessages(e.ctx, e.user, inst, lastRead)
	if err != nil {
		e.t.Fatalf("pending: %v", err)
	}
	return res
}

// count returns the number of rows of a table (all users).
func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func contents(msgs []db.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantContents(t *testing.T, what string, got []db.Message, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if g := contents(got); !equal(g, want) {
		t.Fatalf("%s: got %q, want %q", what, g, want)
	}
}

func wantCode(t *testing.T, err error, code db.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error %q, got none", code, msg)
	}
	if db.ErrorCode(err) != code || (msg != "" && db.ErrorMessage(err) != msg) {
		t.Fatalf("want %s %q, got %s %q (%v)", code, msg, db.ErrorCode(err), db.ErrorMessage(err), err)
	}
}

func ptr[T any](v T) *T { return &v }

func contextWithCancel(e *env) (context.Context, context.CancelFunc) {
	return context.WithCancel(e.ctx)
}
