package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

func TestCheckAnswer(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "step", false)
	q := e.agent(inst, "Which region?", true)

	res, err := e.s.CheckAnswer(e.ctx, e.user, q.MessageID)
	if err != nil || res.Status != db.AnswerPending || res.Answer != nil || res.QuestionID != q.MessageID || res.InstanceID != inst {
		t.Fatalf("before an answer: %+v, %v", res, err)
	}
	ans := e.person(inst, "eu-west", false)
	e.person(inst, "and hurry", false)
	for i := 0; i < 2; i++ {
		res, err = e.s.CheckAnswer(e.ctx, e.user, q.MessageID)
		if err != nil || res.Status != db.AnswerAnswered || res.Answer.ID != ans.MessageID || res.Answer.Content != "eu-west" {
			t.Fatalf("check %d: %+v, %v", i, res, err)
		}
	}
	if cur := e.instance(inst).LastReadMessageID; *cur != ans.MessageID {
		t.Fatalf("cursor %s, want the answer", cur)
	}
	// The answer was handed over; what came after it is still queued.
	wantContents(t, "next send", e.agent(inst, "next", false).Queued, "and hurry")
	// Checking again after the agent moved on still names the answer and
	// leaves the cursor alone.
	res, err = e.s.CheckAnswer(e.ctx, e.user, q.MessageID)
	if err != nil || res.Status != db.AnswerAnswered || res.Answer.ID != ans.MessageID {
		t.Fatalf("after moving on: %+v, %v", res, err)
	}
	if cur := e.instance(inst).LastReadMessageID; *cur == ans.MessageID {
		t.Fatal("a late check moved the cursor back")
	}

	q2 := e.agent(inst, "Shall I stop?", true)
	if _, err := e.s.EndSession(e.ctx, e.user, inst); err != nil {
		t.Fatal(err)
	}
	if res, err := e.s.CheckAnswer(e.ctx, e.user, q2.MessageID); err != nil || res.Status != db.AnswerSessionEnded {
		t.Fatalf("ended session: %+v, %v", res, err)
	}

	step := e.agent(inst, "a step", false)
	_, err = e.s.CheckAnswer(e.ctx, e.user, step.MessageID)
	wantCode(t, err, db.EInvalid, "message "+step.MessageID.String()+" is not a question")
	_, err = e.s.CheckAnswer(e.ctx, e.user, uuid.New())
	wantCode(t, err, db.ENotFound, "Question not found")
	_, err = e.s.CheckAnswer(e.ctx, dbtest.User(t, e.s), q.MessageID)
	wantCode(t, err, db.ENotFound, "Question not found")
}

func TestWaitForAnswer(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	q := e.agent(inst, "Go?", true)

	// A deadline already passed: one look, pending.
	res, err := e.s.WaitForAnswer(e.ctx, e.user, q.MessageID, time.Now())
	if err != nil || res.Status != db.AnswerPending {
		t.Fatalf("past deadline: %+v, %v", res, err)
	}
	// An answer written while the wait runs ends it with the answer.
	done := make(chan db.AnswerResult, 1)
	go func() {
		r, err := e.s.WaitForAnswer(e.ctx, e.user, q.MessageID, time.Now().Add(time.Minute))
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	e.person(inst, "go", false)
	if r := <-done; r.Status != db.AnswerAnswered || r.Answer.Content != "go" {
		t.Fatalf("wait: %+v", r)
	}
	// A cancelled wait returns pending, without error.
	q2 := e.agent(inst, "Again?", true)
	ctx, cancel := contextWithCancel(e)
	cancel()
	if r, err := e.s.WaitForAnswer(ctx, e.user, q2.MessageID, time.Now().Add(time.Minute)); err == nil && r.Status != db.AnswerPending {
		t.Fatalf("cancelled: %+v", r)
	}
}
