package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Outcomes of waiting for an answer.
const (
	// AnswerAnswered: the person answered; Answer holds it.
	AnswerAnswered = "answered"
	// AnswerPending: no answer yet (the wait ended first). The question
	// stands; a later wait or the agent's next message gets the answer.
	AnswerPending = "pending"
	// AnswerSessionEnded: the session ended unanswered.
	AnswerSessionEnded = "session_ended"
)

// AnswerResult is the state of a question.
type AnswerResult struct {
	Status     string
	QuestionID uuid.UUID
	InstanceID uuid.UUID
	// Answer is the first USER message after the question.
	Answer *Message
	// OptionIndex: the question's option the answer chose (nil: free text,
	// or a question without options).
	OptionIndex *int
}

// CheckAnswer looks once for the answer to a question (an agent message
// that requires input): the first USER message after it. When the agent's
// read cursor is still at the question, the cursor moves to the answer, so
// the agent's next message does not hand it over again; later messages
// stay queued. Looking is two reads; only moving the cursor locks.
func (s *Store) CheckAnswer(ctx context.Context, userID, questionID uuid.UUID) (AnswerResult, error) {
	q := New(s.pool)
	question, err := q.GetAgentMessage(ctx, GetAgentMessageParams{ID: questionID, UserID: userID})
	if isNoRows(err) {
		return AnswerResult{}, Errorf(ENotFound, "Question not found")
	} else if err != nil {
		return AnswerResult{}, fmt.Errorf("get question: %w", err)
	}
	if !question.RequiresUserInput {
		return AnswerResult{}, Errorf(EInvalid, "message %s is not a question", questionID)
	}
	res := AnswerResult{Status: AnswerPending, QuestionID: questionID, InstanceID: question.AgentInstanceID}
	ans, err := q.FirstUserMessageAfter(ctx, FirstUserMessageAfterParams{
		AgentInstanceID: question.AgentInstanceID, UserID: userID, AfterSeq: question.Seq, QuestionID: questionID,
	})
	if isNoRows(err) {
		inst, err := q.GetInstance(ctx, GetInstanceParams{ID: question.AgentInstanceID, UserID: userID})
		if err != nil {
			return AnswerResult{}, fmt.Errorf("get instance: %w", err)
		}
		if inst.Status == AgentStatusCOMPLETED {
			res.Status = AnswerSessionEnded
		}
		return res, nil
	} else if err != nil {
		return AnswerResult{}, fmt.Errorf("find answer: %w", err)
	}
	res.Status, res.Answer, res.OptionIndex = AnswerAnswered, &ans, OptionIndex(question, ans)
	_, _, err = withInstance(ctx, s, instanceOp{userID: userID, id: question.AgentInstanceID, mode: mustExist},
		func(t *instanceTx) (struct{}, error) {
			inst, err := t.Instance(ctx)
			if err != nil {
				return struct{}{}, err
			}
			if inst.LastReadMessageID == nil || *inst.LastReadMessageID != questionID {
				return struct{}{}, nil
			}
			if err := t.Final().SetReadCursor(ctx, SetReadCursorParams{
				MessageID: ans.ID, MessageSeq: ans.Seq, ID: inst.ID, UserID: userID,
			}); err != nil {
				return struct{}{}, fmt.Errorf("move read cursor: %w", err)
			}
			return struct{}{}, nil
		})
	return res, err
}

// WaitForAnswer waits until the question is answered, its session ends,
// deadline passes or ctx ends, and returns the question's state then.
// Between looks it sleeps on the hub, holding no database connection.
func (s *Store) WaitForAnswer(ctx context.Context, userID, questionID uuid.UUID, deadline time.Time) (AnswerResult, error) {
	res, err := s.CheckAnswer(ctx, userID, questionID)
	if err != nil || res.Status != AnswerPending {
		return res, err
	}
	err = s.waitFor(ctx, res.InstanceID, deadline, func() (bool, error) {
		var err error
		res, err = s.CheckAnswer(ctx, userID, questionID)
		return res.Status != AnswerPending, err
	})
	return res, err
}

// AskResult is a question sent and waited for: the sent message (with the
// messages the person had written before it) and the answer's state.
type AskResult struct {
	Sent   SendAgentMessageResult
	Answer AnswerResult
}

// Ask sends p as a question and waits for its answer until deadline (see
// WaitForAnswer): an agent's blocking question in one call.
func (s *Store) Ask(ctx context.Context, p SendAgentMessageParams, deadline time.Time) (AskResult, error) {
	p.RequiresUserInput = true
	sent, err := s.SendAgentMessage(ctx, p)
	if err != nil {
		return AskResult{}, err
	}
	ans, err := s.WaitForAnswer(ctx, p.UserID, sent.MessageID, deadline)
	return AskResult{Sent: sent, Answer: ans}, err
}
