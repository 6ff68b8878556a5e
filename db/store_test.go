package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSmoke(t *testing.T) {
	s := dbtest.Store(t)
	u := dbtest.User(t, s)
	res, err := s.SendAgentMessage(context.Background(), db.SendAgentMessageParams{
		UserID: u, InstanceID: uuid.New(), AgentType: "Claude Code", Content: "hi",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
}
