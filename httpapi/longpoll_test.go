package httpapi_test

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/httpapi"
)

// An Omnara client's poll with wait held open on one server is answered by
// a person's message written through another server on the same database.
func TestLongPollAcrossServers(t *testing.T) {
	a := newAPI(t)
	// A second server (its own hub and verifier) on the same database.
	store2 := db.NewStore(a.pool, db.WithHub(dbtest.Hub(t, a.pool)))
	srv2 := httptest.NewServer(httpapi.New(httpapi.Config{
		Store: store2, Verifier: auth.NewVerifier(a.keys, store2, auth.VerifierOptions{}), Log: slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv2.Close)

	inst := uuid.NewString()
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"Go?","requires_user_input":true}`)
	qid := q["message_id"].(string)

	done := make(chan map[string]any, 1)
	go func() {
		r := a.call("GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+qid+"&wait=60", a.token, "")
		if r.status != 200 {
			t.Errorf("long poll: %d %s", r.status, r.body)
			done <- nil
			return
		}
		done <- r.json(t)
	}()
	// The person answers through the other server.
	ts := a.ts
	a.ts = srv2
	ans := a.ok(200, "POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"Go","mark_as_read":false}`)
	a.ts = ts

	got := <-done
	if got == nil {
		t.FailNow()
	}
	msgs := list(t, got["messages"])
	if got["status"] != "ok" || len(msgs) != 1 {
		t.Fatalf("long poll returned %v", got)
	}
	wantMessage(t, msgs[0], ans["message_id"].(string), "Go", "USER", false)
}

// At the deadline a long poll gives the ordinary empty answer.
func TestLongPollDeadline(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"?","requires_user_input":true}`)
	got := a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+q["message_id"].(string)+"&wait=0.05", "")
	wantFields(t, "deadline", got, map[string]any{"agent_instance_id": inst, "messages": []any{}, "status": "ok"})
}
