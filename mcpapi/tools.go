package mcpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
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
	approveDescription = `For Claude Code's --permission-prompt-tool mcp__handoff__approve only: Claude Code calls it to ask the person whether a tool may run. Do not call it yourself; use ask_question for your own questions.
Blocks until the person decides.
Returns, as text, {"behavior":"allow","updatedInput":{...}} or {"behavior":"deny","message":"..."}; a request nobody decides in time is denied.`
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
	AgentInstanceID *string  `json:"agent_instance_id,omitempty" jsonschema:"your session id (from log_step); required"`
	QuestionText    *string  `json:"question_text,omitempty" jsonschema:"the question for the person; required"`
	Options         []string `json:"options,omitempty" jsonschema:"choices the person can pick with one tap (labels); the person may still answer in words"`
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
	// OptionIndex: the option the person chose (absent for free text).
	OptionIndex *int `json:"option_index,omitempty"`
}

// ApproveIn is approve's input, as Claude Code's --permission-prompt-tool
// sends it. AgentInstanceID is handoff's: without it the request belongs
// to a session of this MCP session.
type ApproveIn struct {
	ToolName        string         `json:"tool_name" jsonschema:"the tool that wants to run"`
	Input           map[string]any `json:"input,omitempty" jsonschema:"the tool's input"`
	ToolUseID       *string        `json:"tool_use_id,omitempty" jsonschema:"the tool call's id"`
	AgentInstanceID *string        `json:"agent_instance_id,omitempty" jsonschema:"your handoff session id, if you have one"`
}

// lenient: Claude Code may add fields to what it sends; they are ignored.
func (ApproveIn) lenient() {}

// ApproveOut is approve's result: Claude Code's permission decision.
type ApproveOut struct {
	Behavior     string          `json:"behavior"`
	UpdatedInput json.RawMessage `json:"updatedInput,omitempty"`
	Message      string          `json:"message,omitempty"`
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
	Content           string   `json:"content" jsonschema:"the message for the person"`
	AgentInstanceID   *string  `json:"agent_instance_id,omitempty" jsonschema:"your session id; omit it to start a new session"`
	AgentType         *string  `json:"agent_type,omitempty" jsonschema:"what kind of agent you are (e.g. claude code); defaults to what your client reports"`
	RequiresUserInput bool     `json:"requires_user_input,omitempty" jsonschema:"true to ask a question and wait for the answer"`
	Options           []string `json:"options,omitempty" jsonschema:"a question's choices (labels), with requires_user_input"`
	GitDiff           *string  `json:"git_diff,omitempty" jsonschema:"the current git diff of your work, shown to the person"`
	IdempotencyKey    *string  `json:"idempotency_key,omitempty" jsonschema:"a key unique to this message: a retried call with the same key is not sent twice"`
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
	OptionIndex        *int     `json:"option_index,omitempty"`
	Instruction        string   `json:"instruction,omitempty"`
}

// WaitForAnswerIn is wait_for_answer's input.
type WaitForAnswerIn struct {
	QuestionID string `json:"question_id" jsonschema:"the question_id of a question you asked"`
}

// Status of send_message for a message that is not a question.
const statusSent = "sent"

// tools are the MCP tools. Each decodes its input, calls one Store
// operation as the calling principal's user, and encodes the result.
type tools struct {
	cfg   Config
	store *db.Store
	log   *slog.Logger
}

func (t *tools) register(s *mcp.Server) {
	addTool(s, t, "log_step", logStepDescription, t.logStep)
	addTool(s, t, "ask_question", askQuestionDescription, t.askQuestion)
	addTool(s, t, "end_session", endSessionDescription, t.endSession)
	addTool(s, t, "send_message", sendMessageDescription, t.sendMessage)
	addTool(s, t, "wait_for_answer", waitForAnswerDescription, t.waitForAnswer)
	addTool(s, t, "approve", approveDescription, t.approve)
}

// call is one tool call: its request and the calling user.
type call struct {
	req  *mcp.CallToolRequest
	user uuid.UUID
}

// addTool registers fn as a tool whose input and output schemas come from
// In and Out, as mcp.AddTool does, but decodes and encodes with
// encoding/json once each: the SDK's typed handler validates both against
// their schemas through extra marshalling, which cost MCP a fifth of its
// throughput. The rules are the same: unknown or mistyped arguments are a
// tool error; the result is structured content with its JSON as text. It
// finds the caller and turns errors into tool errors (logged with the tool
// and the user).
func addTool[In, Out any](s *mcp.Server, t *tools, name, description string, fn func(context.Context, call, In) (Out, error)) {
	in, err := jsonschema.For[In](nil)
	if err != nil {
		panic(err)
	}
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		panic(err)
	}
	tool := &mcp.Tool{Name: name, Description: description, InputSchema: in, OutputSchema: out}
	s.AddTool(tool, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		p, err := caller(ctx, req)
		if err != nil {
			return toolError(err), nil
		}
		var args In
		_, lenient := any(args).(interface{ lenient() })
		if err := decodeArgs(req.Params.Arguments, &args, !lenient); err != nil {
			return toolError(t.fail(ctx, name, p.UserID, err)), nil
		}
		res, err := fn(ctx, call{req, p.UserID}, args)
		if err != nil {
			return toolError(t.fail(ctx, name, p.UserID, err)), nil
		}
		b, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{StructuredContent: json.RawMessage(b), Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil
	})
}

func toolError(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(err)
	return &res
}

// decodeArgs reads a tool's arguments: an object with In's fields, of
// their types, and (strict) no others.
func decodeArgs(raw json.RawMessage, dst any, strict bool) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if strict {
		dec.DisallowUnknownFields()
	}
	dec.UseNumber() // numbers in free-form input (approve's) keep their digits
	err := dec.Decode(dst)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return db.Errorf(db.EInvalid, "validating \"arguments\": %s must be of type %s", typeErr.Field, jsonType(typeErr.Type.Kind()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return db.Errorf(db.EInvalid, "validating \"arguments\": unexpected additional properties [%s]",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return db.Errorf(db.EInvalid, "validating \"arguments\": must be an object of the tool's parameters")
}

func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "number"
	}
	return "object"
}

func (t *tools) logStep(ctx context.Context, c call, in LogStepIn) (LogStepOut, error) {
	id, err := instanceID(in.AgentInstanceID, true)
	if err != nil {
		return LogStepOut{}, err
	}
	if in.StepDescription == "" {
		return LogStepOut{}, db.Errorf(db.EInvalid, "step_description is required")
	}
	res, err := t.store.SendAgentMessage(ctx, db.SendAgentMessageParams{
		UserID: c.user, InstanceID: id, AgentType: requestAgentType(ctx, c.req), Content: in.StepDescription,
	})
	if err != nil {
		return LogStepOut{}, err
	}
	return LogStepOut{Success: true, AgentInstanceID: res.InstanceID.String(), StepNumber: res.StepNumber,
		UserFeedback: contents(res.Queued)}, nil
}

func (t *tools) askQuestion(ctx context.Context, c call, in AskQuestionIn) (AnswerOut, error) {
	if in.AgentInstanceID == nil || *in.AgentInstanceID == "" {
		return AnswerOut{}, db.Errorf(db.EInvalid, "agent_instance_id is required")
	}
	if in.QuestionText == nil || *in.QuestionText == "" {
		return AnswerOut{}, db.Errorf(db.EInvalid, "question_text is required")
	}
	id, err := instanceID(in.AgentInstanceID, false)
	if err != nil {
		return AnswerOut{}, err
	}
	// As Omnara: a question does not create a session (no agent type).
	res, err := t.ask(ctx, c, db.SendAgentMessageParams{UserID: c.user, InstanceID: id, Content: *in.QuestionText,
		Options: in.Options})
	if err != nil {
		return AnswerOut{}, err
	}
	out := answerOut(res.Answer)
	if out.Status == db.AnswerAnswered {
		out.Status = "" // Omnara's keys exactly, when answered
	}
	out.UserFeedback = contents(res.Sent.Queued)
	return out, nil
}

func (t *tools) endSession(ctx context.Context, c call, in EndSessionIn) (EndSessionOut, error) {
	id, err := instanceID(&in.AgentInstanceID, false)
	if err != nil {
		return EndSessionOut{}, err
	}
	res, err := t.store.EndSession(ctx, c.user, id)
	if err != nil {
		return EndSessionOut{}, err
	}
	return EndSessionOut{Success: true, AgentInstanceID: id.String(), FinalStatus: string(res.FinalStatus)}, nil
}

func (t *tools) sendMessage(ctx context.Context, c call, in SendMessageIn) (SendMessageOut, error) {
	id, err := instanceID(in.AgentInstanceID, true)
	if err != nil {
		return SendMessageOut{}, err
	}
	kind := requestAgentType(ctx, c.req)
	if in.AgentType != nil && *in.AgentType != "" {
		kind = *in.AgentType
	}
	// No session id: the store starts one (the same one on a retry with
	// the same idempotency key).
	p := db.SendAgentMessageParams{UserID: c.user, InstanceID: id, AgentType: kind, Content: in.Content,
		GitDiff: in.GitDiff, IdempotencyKey: valueOr(in.IdempotencyKey), Options: in.Options}
	if !in.RequiresUserInput {
		res, err := t.store.SendAgentMessage(ctx, p)
		if err != nil {
			return SendMessageOut{}, err
		}
		return sendOut(res, statusSent), nil
	}
	res, err := t.ask(ctx, c, p)
	if err != nil {
		return SendMessageOut{}, err
	}
	out := sendOut(res.Sent, res.Answer.Status)
	a := answerOut(res.Answer)
	out.Answer, out.Instruction, out.OptionIndex = a.Answer, a.Instruction, a.OptionIndex
	return out, nil
}

// approveSessions is the namespace of the sessions of approve calls that
// name none: one per MCP session.
var approveSessions = uuid.MustParse("5b0e9d3c-7a61-4f28-8e4b-2c9d1a6f3e70")

// Deny messages of approve when the person did not decide.
const (
	approveTimedOut = "Permission request timed out: the person did not decide in time."
	approveEnded    = "The session ended before the person decided."
)

func (t *tools) approve(ctx context.Context, c call, in ApproveIn) (ApproveOut, error) {
	id, err := instanceID(in.AgentInstanceID, true)
	if err != nil {
		return ApproveOut{}, err
	}
	if id == uuid.Nil {
		id = uuid.New()
		if c.req.Session != nil && c.req.Session.ID() != "" {
			id = uuid.NewSHA1(approveSessions, []byte(c.user.String()+"/"+c.req.Session.ID()))
		}
	}
	stop := t.progress(ctx, c.req)
	deadline := time.Now().Add(t.cfg.PermissionWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if in.Input == nil {
		in.Input = map[string]any{}
	}
	input, err := json.Marshal(in.Input)
	if err != nil {
		return ApproveOut{}, err
	}
	res, err := t.store.RequestPermission(ctx, db.RequestPermissionParams{UserID: c.user, InstanceID: id,
		AgentType: requestAgentType(ctx, c.req), ToolName: in.ToolName, ToolInput: input,
		ToolUseID: valueOr(in.ToolUseID)}, deadline)
	stop()
	if err != nil {
		return ApproveOut{}, err
	}
	switch d := res.Decision; {
	case d.Allows():
		return ApproveOut{Behavior: "allow", UpdatedInput: input}, nil
	case d.Outcome == db.OutcomeDeny:
		return ApproveOut{Behavior: "deny", Message: d.Message}, nil
	case res.Ended:
		return ApproveOut{Behavior: "deny", Message: approveEnded}, nil
	}
	return ApproveOut{Behavior: "deny", Message: approveTimedOut}, nil
}

func sendOut(res db.SendAgentMessageResult, status string) SendMessageOut {
	return SendMessageOut{Success: true, AgentInstanceID: res.InstanceID.String(), MessageID: res.MessageID.String(),
		QueuedUserMessages: contents(res.Queued), Status: status}
}

func (t *tools) waitForAnswer(ctx context.Context, c call, in WaitForAnswerIn) (AnswerOut, error) {
	qid, err := uuid.Parse(in.QuestionID)
	if err != nil {
		return AnswerOut{}, db.Errorf(db.EInvalid, "Invalid question_id format: must be a valid UUID, got '%s'", in.QuestionID)
	}
	stop := t.progress(ctx, c.req)
	res, err := t.store.WaitForAnswer(ctx, c.user, qid, t.deadline(ctx))
	stop()
	if err != nil {
		return AnswerOut{}, err
	}
	return answerOut(res), nil
}

// ask sends a question and waits for its answer, with progress
// notifications while it waits.
func (t *tools) ask(ctx context.Context, c call, p db.SendAgentMessageParams) (db.AskResult, error) {
	stop := t.progress(ctx, c.req)
	defer stop()
	return t.store.Ask(ctx, p, t.deadline(ctx))
}

// deadline bounds a wait: cfg.Wait from now, or the call's own deadline.
func (t *tools) deadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(t.cfg.Wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// progress sends a progress notification every cfg.ProgressEvery until
// the returned stop is called (and returns only when none is in flight),
// when the client asked for them with a progress token.
func (t *tools) progress(ctx context.Context, req *mcp.CallToolRequest) (stop func()) {
	token := req.Params.GetProgressToken()
	if token == nil || req.Session == nil {
		return func() {}
	}
	start := time.Now()
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
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: now.Sub(start).Seconds(), Total: t.cfg.Wait.Seconds(),
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
		out.Answer, out.OptionIndex = res.Answer.Content, res.OptionIndex
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
// new session (uuid.Nil: the store picks its id).
func instanceID(s *string, orNew bool) (uuid.UUID, error) {
	if s == nil || *s == "" {
		if orNew {
			return uuid.Nil, nil
		}
		return uuid.Nil, db.Errorf(db.EInvalid, "agent_instance_id is required")
	}
	id, err := uuid.Parse(*s)
	if err != nil || len(*s) != 36 {
		return uuid.Nil, db.Errorf(db.EInvalid, "Invalid agent_instance_id format: must be a valid UUID, got '%s'", *s)
	}
	return id, nil
}

// fail turns a store error into a tool error with a client message. Every
// failure is logged with the tool and the user; internal ones in full, at
// error level, and their details never reach the client.
func (t *tools) fail(ctx context.Context, tool string, user uuid.UUID, err error) error {
	if db.ErrorCode(err) == db.EInternal {
		t.log.ErrorContext(ctx, "mcp tool failed", "tool", tool, "user_id", user, "err", err)
	} else {
		t.log.InfoContext(ctx, "mcp tool refused", "tool", tool, "user_id", user, "code", db.ErrorCode(err), "err", err)
	}
	return errors.New(db.ErrorMessage(err))
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
