package db_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

func TestIdempotentAgentMessage(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "start", false)
	e.person(inst, "queued answer", false)
	p := db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, Content: "step", IdempotencyKey: "k1"}

	first, err := e.s.SendAgentMessage(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed {
		t.Fatal("first call reported as a replay")
	}
	wantContents(t, "first", first.Queued, "queued answer")
	e.person(inst, "arrived after", false)

	again, err := e.s.SendAgentMessage(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.MessageID != first.MessageID || again.InstanceID != inst {
		t.Fatalf("retry: %+v, want a replay of %s", again, first.MessageID)
	}
	wantContents(t, "retry returns the same queue", again.Queued, "queued answer")
	if again.Queued[0].ID != first.Queued[0].ID || !again.Queued[0].CreatedAt.Equal(first.Queued[0].CreatedAt) {
		t.Fatal("replayed queue differs from the first response")
	}
	if n := e.count("messages"); n != 4 {
		t.Fatalf("%d messages, want 4 (the retry wrote)", n)
	}
	// The retry consumed nothing: the later answer is still queued.
	wantContents(t, "next send", e.agent(inst, "next", false).Queued, "arrived after")

	// The same key for a different request is refused.
	p.Content = "another step"
	_, err = e.s.SendAgentMessage(e.ctx, p)
	wantCode(t, err, db.EConflict, `Idempotency-Key "k1" was already used for a different request`)

	// Keys belong to their user.
	other := dbtest.User(t, e.s)
	if _, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
		UserID: other, InstanceID: uuid.New(), AgentType: "x", Content: "step", IdempotencyKey: "k1",
	}); err != nil {
		t.Fatalf("another user's key collided: %v", err)
	}
}

func TestIdempotentUserMessage(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "question", true)
	p := db.CreateUserMessageParams{UserID: e.user, InstanceID: inst, Content: "answer", IdempotencyKey: "u1"}
	first, err := e.s.CreateUserMessage(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.s.CreateUserMessage(e.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.MessageID != first.MessageID || again.MarkedAsRead != first.MarkedAsRead {
		t.Fatalf("retry %+v, first %+v", again, first)
	}
	if n := e.count("messages"); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// Racing retries with one key make one message, and all see its id.
func TestIdempotentConcurrentRetries(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "start", false)
	const n = 8
	ids := make(chan uuid.UUID, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
				UserID: e.user, InstanceID: inst, Content: "once", IdempotencyKey: "race",
			})
			if err != nil {
				errs <- err
				return
			}
			ids <- res.MessageID
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var first uuid.UUID
	for id := range ids {
		if first == uuid.Nil {
			first = id
		}
		if id != first {
			t.Fatalf("retries got different messages: %s and %s", first, id)
		}
	}
	if got := e.count("messages"); got != 2 {
		t.Fatalf("%d messages, want 2", got)
	}
}

// A refused first attempt does not burn the key.
func TestIdempotencyKeyOfFailedRequestIsFree(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	p := db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, Content: "hi", IdempotencyKey: "k"}
	_, err := e.s.SendAgentMessage(e.ctx, p)
	wantCode(t, err, db.EInvalid, "agent_type is required when creating new instance")
	if n := e.count("idempotency_keys"); n != 0 {
		t.Fatalf("%d keys kept by a failed request", n)
	}
	p.AgentType = "x"
	if _, err := e.s.SendAgentMessage(e.ctx, p); err != nil {
		t.Fatal(err)
	}
}
