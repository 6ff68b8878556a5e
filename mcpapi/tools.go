package mcpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/db"
)

const instructions = `handoff connects you to the person supervising your work.
Report progress with log_step (its result carries the person's new messages: follow them).
Ask with ask_question when you need a decision; it waits for the answer.
If a wait ends with status "pending", call wait_for_answer with the question_id: the answer is never lost.
Finish with end_session.`

// Tool descriptions tell an agent model plainly when to use each tool.
const (
	logStepDescription = `Report a step of your work to the person supervising you.
Call it at the start of a task and before each significant action (reading code, editing files, running commands, answering).
The result's user_feedback holds messages the person sent since your last call: read them and follow them.
Omit agent_instance_id on your first call; reuse the returned agent_instance_id afterwards.`
	askQuestionDescription = `Ask the person a question and wait for the answer (the call blocks).
Use it for decisions, clarifications, confirmations, or when you are blocked. Call log_step first so a session exists.
If no answer comes within the wait, the result has status "pending" and an empty answer: call wait_for_answer with question_id to keep waiting.`
	endSessionDescription = `End your session when the task is complete (confirm with ask_question first if unsure).
Marks the session COMPLETED.`
	sendMessageDescription = `Send a message to the person: progress (default), or a question with requires_user_input=true, which waits for the answer like ask_question.
Returns the message id, the session id (created on first use when agent_instance_id is omitted) and the person's queued messages, which you must read and follow.`
	waitForAnswerDescription = `Keep waiting for the answer to a question asked earlier (a question_id from ask_question or send_message whose status was "pending").
Returns status "answered" with the answer, "pending" if the wait ended again (call it again), or "session_ended".`
)

const (
	pendingInstruction = `No answer yet. Call wait_for_answer with this question_id to keep waiting; the answer will not be lost.`
	endedInstruction   = `The session ended before the person answered.`
)

// LogStepIn is log_step's input (Omnara's parameter names).
type LogStepIn struct {
	AgentInstanceID *string `json:"agent_instance_id,omitempty" jsonschema:"the session id returned by an earlier call; omit it on the first call to start a session"`
	StepDescription string  `json:"step_description,omitempty" jsonschema:"what you are doing or have just done, in a sentence"`
}

// LogStepOut is log_step's result (Omnara's keys).
type LogStepOut struct {
	Success         bool     `json:"success"`
	AgentInstanceID string   `json:"agent_instance_id"`
	StepNumber      int64    `json:"step_number"`
	UserFeedback    []string `json:"user_feedback"`
}

// AskQuestionIn is ask_question's input (Omnara's parameter names).
type AskQuestionIn struct {
	AgentInstanceID *string `json:"agent_instance_id,omitempty" jsonschema:"your session id (from log_step); required"`
	QuestionText    *string `json:"question_text,omitempty" jsonschema:"the question for the person; required"`
}

// AnswerOut is the result of ask_question and wait_for_answer: Omnara's
// answer and question_id, and when the question is not answered (or from
// wait_for_answer, always) a status, with an instruction for the model.
// UserFeedback holds messages the person sent before the question, so
// none is lost.
type AnswerOut struct {
	Answer       string   `json:"answer"`
	QuestionID   string   `json:"question_id"`
	Status       string   `json:"status,omitempty"`
	Instruction  string   `json:"instruction,omitempty"`
	UserFeedback []string `json:"user_feedback,omitempty"`
}

// EndSessionIn is end_session's input.
type EndSessionIn struct {
	AgentInstanceID string `json:"agent_instance_id" jsonschema:"your session id"`
}

// EndSessionOut is end_session's result (Omnara's keys).
type EndSessionOut struct {
	Success         bool   `json:"success"`
	AgentInstanceID string `json:"agent_instance_id"`
	FinalStatus     string `json:"final_status"`
}

// SendMessageIn is send_message's input.
type SendMessageIn struct {
	Content           string  `json:"content" jsonschema:"the message for the person"`
	AgentInstanceID   *string `json:"agent_instance_id,omitempty" jsonschema:"your session id; omit it to start a new session"`
	AgentType         *string `json:"agent_type,omitempty" jsonschema:"what kind of agent you are (e.g. claude code); defaults to what your client reports"`
	RequiresUserInput bool    `json:"requires_user_input,omitempty" jsonschema:"true to ask a question and wait for the answer"`
	GitDiff           *string `json:"git_diff,omitempty" jsonschema:"the current git diff of your work, shown to the person"`
	IdempotencyKey    *string `json:"idempotency_key,omitempty" jsonschema:"a key unique to this message: a retried call with the same key is not sent twice"`
}

// SendMessageOut is send_message's result. Status is "sent" for a plain
// message, else the question's outcome.
type SendMessageOut struct {
	Success            bool     `json:"success"`
	AgentInstanceID    string   `json:"agent_instance_id"`
	MessageID          string   `json:"message_id"`
	QueuedUserMessages []string `json:"queued_user_messages"`
	Status             string   `json:"status"`
	Answer             string   `json:"answer,omitempty"`
	Instruction        string   `json:"instruction,omitempty"`
}

// WaitForAnswerIn is wait_for_answer's input.
type WaitForAnswerIn struct {
	QuestionID string `json:"question_id" jsonschema:"the question_id of a question you asked"`
}

// Status of send_message for a message that is not a question.
const statusSent = "sent"

// retrySessions is the namespace of session ids derived from a user and
// an idempotency key, for send_message calls that start a session.
var retrySessions = uuid.MustParse("7d5e2f0a-3c41-4b8e-9a6f-1e2d3c4b5a69")

type tools struct {
	cfg Config
	log *slog.Logger
	// backendFor is what a call runs on: the store for the calling
	// principal (the server), or a remote server (the stdio bridge).
	backendFor func(ctx context.Context, req *mcp.CallToolRequest) (backend, error)
	// agentType names the calling client's agent type.
	agentType func(ctx context.Context, req *mcp.CallToolRequest) string
}

// sendParams is an agent message as the tools send it.
type sendParams struct {
	InstanceID uuid.UUID
	AgentType  string
	Content    string
	Question   bool
	GitDiff    *string
	Key        string
	CountSteps bool
}

// sent is a sent message: its ids, the person's queued messages and, when
// asked for, Omnara's step number.
type sent struct {
	InstanceID, MessageID uuid.UUID
	Queued                []string
	StepNumber            int64
}

// backend is what the tools run on.
type backend interface {
	send(ctx context.Context, p sendParams) (sent, error)
	// wait returns the question's state once answered, ended, or at the
	// deadline (pending).
	wait(ctx context.Context, questionID uuid.UUID, deadline time.Time) (db.AnswerResult, error)
	end(ctx context.Context, instanceID uuid.UUID) (finalStatus string, err error)
	// retrySession is the id of a session that a send_message with this
	// idempotency key (and no session id) starts, the same on a retry.
	retrySession(key string) uuid.UUID
}

func (t *tools) register(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "log_step", Description: logStepDescription}, t.logStep)
	mcp.AddTool(s, &mcp.Tool{Name: "ask_question", Description: askQuestionDescription}, t.askQuestion)
	mcp.AddTool(s, &mcp.Tool{Name: "end_session", Description: endSessionDescription}, t.endSession)
	mcp.AddTool(s, &mcp.Tool{Name: "send_message", Description: sendMessageDescription}, t.sendMessage)
	mcp.AddTool(s, &mcp.Tool{Name: "wait_for_answer", Description: waitForAnswerDescription}, t.waitForAnswer)
}

func (t *tools) logStep(ctx context.Context, req *mcp.CallToolRequest, in LogStepIn) (*mcp.CallToolResult, LogStepOut, error) {
	b, err := t.backendFor(ctx, req)
	if err != nil {
		return nil, LogStepOut{}, err
	}
	id, err := instanceID(in.AgentInstanceID, true)
	if err != nil {
		return nil, LogStepOut{}, err
	}
	if in.StepDescription == "" {
		return nil, LogStepOut{}, errors.New("step_description is required")
	}
	res, err := b.send(ctx, sendParams{InstanceID: id, AgentType: t.agentType(ctx, req), Content: in.StepDescription, CountSteps: true})
	if err != nil {
		return nil, LogStepOut{}, t.fail(err)
	}
	return nil, LogStepOut{Success: true, AgentInstanceID: res.InstanceID.String(), StepNumber: res.StepNumber,
		UserFeedback: res.Queued}, nil
}

func (t *tools) askQuestion(ctx context.Context, req *mcp.CallToolRequest, in AskQuestionIn) (*mcp.CallToolResult, AnswerOut, error) {
	b, err := t.backendFor(ctx, req)
	if err != nil {
		return nil, AnswerOut{}, err
	}
	if in.AgentInstanceID == nil || *in.AgentInstanceID == "" {
		return nil, AnswerOut{}, errors.New("agent_instance_id is required")
	}
	if in.QuestionText == nil || *in.QuestionText == "" {
		return nil, AnswerOut{}, errors.New("question_text is required")
	}
	id, err := instanceID(in.AgentInstanceID, false)
	if err != nil {
		return nil, AnswerOut{}, err
	}
	// As Omnara: a question does not create a session (no agent type).
	q, err := b.send(ctx, sendParams{InstanceID: id, Content: *in.QuestionText, Question: true})
	if err != nil {
		return nil, AnswerOut{}, t.fail(err)
	}
	res, err := t.wait(ctx, req, b, q.MessageID)
	if err != nil {
		return nil, AnswerOut{}, err
	}
	out := answerOut(res)
	if out.Status == db.AnswerAnswered {
		out.Status = "" // Omnara's keys exactly, when answered
	}
	out.UserFeedback = q.Queued
	return nil, out, nil
}

func (t *tools) endSession(ctx context.Context, req *mcp.CallToolRequest, in EndSessionIn) (*mcp.CallToolResult, EndSessionOut, error) {
	b, err := t.backendFor(ctx, req)
	if err != nil {
		return nil, EndSessionOut{}, err
	}
	id, err := instanceID(&in.AgentInstanceID, false)
	if err != nil {
		return nil, EndSessionOut{}, err
	}
	final, err := b.end(ctx, id)
	if err != nil {
		return nil, EndSessionOut{}, t.fail(err)
	}
	return nil, EndSessionOut{Success: true, AgentInstanceID: id.String(), FinalStatus: final}, nil
}

func (t *tools) sendMessage(ctx context.Context, req *mcp.CallToolRequest, in SendMessageIn) (*mcp.CallToolResult, SendMessageOut, error) {
	b, err := t.backendFor(ctx, req)
	if err != nil {
		return nil, SendMessageOut{}, err
	}
	id, err := instanceID(in.AgentInstanceID, true)
	if err != nil {
		return nil, SendMessageOut{}, err
	}
	key := valueOr(in.IdempotencyKey)
	if valueOr(in.AgentInstanceID) == "" && key != "" {
		// A retry must name the same new session as the first call.
		id = b.retrySession(key)
	}
	kind := t.agentType(ctx, req)
	if in.AgentType != nil && *in.AgentType != "" {
		kind = *in.AgentType
	}
	msg, err := b.send(ctx, sendParams{InstanceID: id, AgentType: kind, Content: in.Content,
		Question: in.RequiresUserInput, GitDiff: in.GitDiff, Key: key})
	if err != nil {
		return nil, SendMessageOut{}, t.fail(err)
	}
	out := SendMessageOut{Success: true, AgentInstanceID: msg.InstanceID.String(), MessageID: msg.MessageID.String(),
		QueuedUserMessages: msg.Queued, Status: statusSent}
	if !in.RequiresUserInput {
		return nil, out, nil
	}
	res, err := t.wait(ctx, req, b, msg.MessageID)
	if err != nil {
		return nil, SendMessageOut{}, err
	}
	a := answerOut(res)
	out.Status, out.Answer, out.Instruction = a.Status, a.Answer, a.Instruction
	return nil, out, nil
}

func (t *tools) waitForAnswer(ctx context.Context, req *mcp.CallToolRequest, in WaitForAnswerIn) (*mcp.CallToolResult, AnswerOut, error) {
	b, err := t.backendFor(ctx, req)
	if err != nil {
		return nil, AnswerOut{}, err
	}
	qid, err := uuid.Parse(in.QuestionID)
	if err != nil {
		return nil, AnswerOut{}, fmt.Errorf("Invalid question_id format: must be a valid UUID, got '%s'", in.QuestionID)
	}
	res, err := t.wait(ctx, req, b, qid)
	if err != nil {
		return nil, AnswerOut{}, err
	}
	return nil, answerOut(res), nil
}

// wait waits for the answer to a question, at most cfg.Wait (or the call's
// own deadline), sending progress notifications when the client asked for
// them.
func (t *tools) wait(ctx context.Context, req *mcp.CallToolRequest, b backend, questionID uuid.UUID) (db.AnswerResult, error) {
	start := time.Now()
	deadline := start.Add(t.cfg.Wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := t.progress(ctx, req, start)
	res, err := b.wait(ctx, questionID, deadline)
	stop()
	if err != nil {
		return res, t.fail(err)
	}
	return res, nil
}

// progress sends a progress notification every cfg.ProgressEvery until
// the returned stop is called (and returns only when none is in flight).
func (t *tools) progress(ctx context.Context, req *mcp.CallToolRequest, start time.Time) (stop func()) {
	token := req.Params.GetProgressToken()
	if token == nil || req.Session == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(t.cfg.ProgressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-tick.C:
				elapsed := now.Sub(start).Seconds()
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: elapsed, Total: t.cfg.Wait.Seconds(),
					Message: "waiting for the person's answer",
				})
				if err != nil {
					t.log.DebugContext(ctx, "progress notification", "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func answerOut(res db.AnswerResult) AnswerOut {
	out := AnswerOut{QuestionID: res.QuestionID.String(), Status: res.Status}
	switch res.Status {
	case db.AnswerAnswered:
		out.Answer = res.Answer.Content
	case db.AnswerPending:
		out.Instruction = pendingInstruction
	case db.AnswerSessionEnded:
		out.Instruction = endedInstruction
	}
	return out
}

// caller is the principal of a tool call: the one that authenticated this
// HTTP request (streamable), else the one that opened the session (SSE).
func caller(ctx context.Context, req *mcp.CallToolRequest) (auth.Principal, error) {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		if p, ok := req.Extra.TokenInfo.Extra[principalKey].(auth.Principal); ok {
			return p, nil
		}
	}
	if p, ok := auth.FromContext(ctx); ok {
		return p, nil
	}
	return auth.Principal{}, errors.New("Authentication required. Please provide a valid API key.")
}

// requestAgentType is the calling client's agent type (X-Client-Type or
// User-Agent), from this request's headers where the transport has them.
func requestAgentType(ctx context.Context, req *mcp.CallToolRequest) string {
	if req.Extra != nil && req.Extra.Header != nil {
		return AgentType(req.Extra.Header)
	}
	if s, ok := ctx.Value(clientTypeKey{}).(string); ok {
		return s
	}
	return "unknown"
}

// instanceID parses a session id argument; with orNew an absent one is a
// new session.
func instanceID(s *string, orNew bool) (uuid.UUID, error) {
	if s == nil || *s == "" {
		if orNew {
			return uuid.New(), nil
		}
		return uuid.Nil, errors.New("agent_instance_id is required")
	}
	id, err := uuid.Parse(*s)
	if err != nil || len(*s) != 36 {
		return uuid.Nil, fmt.Errorf("Invalid agent_instance_id format: must be a valid UUID, got '%s'", *s)
	}
	return id, nil
}

// fail turns a store or REST error into a tool error with a client
// message; internal errors are logged.
func (t *tools) fail(err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return errors.New(ae.Detail)
	}
	if db.ErrorCode(err) == db.EInternal {
		t.log.Error("mcp tool: internal error", "err", err)
	}
	return errors.New(db.ErrorMessage(err))
}

// storeBackend runs the tools on the store, as the calling principal.
type storeBackend struct {
	store  *db.Store
	userID uuid.UUID
}

func storeBackendFor(store *db.Store) func(context.Context, *mcp.CallToolRequest) (backend, error) {
	return func(ctx context.Context, req *mcp.CallToolRequest) (backend, error) {
		p, err := caller(ctx, req)
		if err != nil {
			return nil, err
		}
		return storeBackend{store, p.UserID}, nil
	}
}

func (b storeBackend) send(ctx context.Context, p sendParams) (sent, error) {
	res, err := b.store.SendAgentMessage(ctx, db.SendAgentMessageParams{
		UserID: b.userID, InstanceID: p.InstanceID, AgentType: p.AgentType, Content: p.Content,
		RequiresUserInput: p.Question, GitDiff: p.GitDiff, IdempotencyKey: p.Key,
	})
	return sent{InstanceID: res.InstanceID, MessageID: res.MessageID, Queued: contents(res.Queued), StepNumber: res.StepNumber}, err
}

func (b storeBackend) wait(ctx context.Context, questionID uuid.UUID, deadline time.Time) (db.AnswerResult, error) {
	return b.store.WaitForAnswer(ctx, b.userID, questionID, deadline)
}

func (b storeBackend) retrySession(key string) uuid.UUID {
	return uuid.NewSHA1(retrySessions, []byte(b.userID.String()+"/"+key))
}

func (b storeBackend) end(ctx context.Context, instanceID uuid.UUID) (string, error) {
	res, err := b.store.EndSession(ctx, b.userID, instanceID)
	return string(res.FinalStatus), err
}

func contents(msgs []db.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Content
	}
	return out
}

func valueOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
