package db_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// Another user's instance is never readable or writable, and a refused
// request writes nothing (Omnara's access-control tests, with 404s).
func TestTenancy(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	q := e.agent(inst, "owner's question", true)
	e.person(inst, "owner's answer", false)
	other := dbtest.User(t, e.s)

	before := map[string]int{}
	tables := []string{"agent_instances", "messages", "user_agents", "idempotency_keys", "events"}
	for _, tb := range tables {
		before[tb] = e.count(tb)
	}
	notFound := "Agent instance not found"

	_, err := e.s.PendingMessages(e.ctx, other, inst, nil)
	wantCode(t, err, db.ENotFound, notFound)
	_, err = e.s.PendingMessages(e.ctx, other, inst, &q.MessageID)
	wantCode(t, err, db.ENotFound, notFound)
	_, err = e.s.CreateUserMessage(e.ctx, db.CreateUserMessageParams{UserID: other, InstanceID: inst, Content: "x"})
	wantCode(t, err, db.ENotFound, notFound)
	_, err = e.s.EndSession(e.ctx, other, inst)
	wantCode(t, err, db.ENotFound, notFound)
	_, err = e.s.Heartbeat(e.ctx, other, inst)
	wantCode(t, err, db.ENotFound, notFound)
	_, err = e.s.GetInstance(e.ctx, other, inst)
	wantCode(t, err, db.ENotFound, notFound)
	_, err = e.s.RequestInput(e.ctx, other, q.MessageID)
	wantCode(t, err, db.ENotFound, "Agent message not found or access denied")
	// Sending to the id would create an instance; the id is taken. (The
	// first try sends the lock, the insert and COMMIT in one round trip:
	// the insert must change nothing when the lock finds no instance.)
	_, err = e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: other, InstanceID: inst, AgentType: "x", Content: "x"})
	wantCode(t, err, db.EConflict, "")
	_, err = e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: other, InstanceID: inst, AgentType: "x",
		Content: "x", IdempotencyKey: "k"})
	wantCode(t, err, db.EConflict, "")
	_, err = e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{UserID: other, InstanceID: &inst, AgentType: "x"})
	wantCode(t, err, db.EConflict, "Agent instance already exists")

	for _, tb := range tables {
		if n := e.count(tb); n != before[tb] {
			t.Errorf("%s: %d rows, want %d: a refused request wrote", tb, n, before[tb])
		}
	}
	got := e.instance(inst)
	if got.Status != db.AgentStatusACTIVE || got.EndedAt != nil || *got.LastReadMessageID != q.MessageID {
		t.Fatalf("owner's instance changed: %+v", got)
	}
	wantContents(t, "owner's queue", e.pending(inst, nil).Messages, "owner's answer")
}

func TestUnknownUserCannotCreate(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: uuid.New(), InstanceID: uuid.New(), AgentType: "x", Content: "x"})
	wantCode(t, err, db.ENotFound, "User not found")
}
