package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// Omnara's agent routes (contract §2): for each, the request parser, the
// store operation and the response renderer that endpoint joins.

// messageResponse is Omnara's MessageResponse: exactly these five keys
// (Omnara's SDK builds a dataclass from them, so an extra key breaks it).
type messageResponse struct {
	ID                string `json:"id"`
	Content           string `json:"content"`
	SenderType        string `json:"sender_type"`
	CreatedAt         string `json:"created_at"`
	RequiresUserInput bool   `json:"requires_user_input"`
}

func messagesResponse(msgs []db.Message) []messageResponse {
	out := make([]messageResponse, len(msgs))
	for i, m := range msgs {
		out[i] = messageResponse{
			ID: m.ID.String(), Content: m.Content, SenderType: string(m.SenderType),
			CreatedAt: omnaraTime(m.CreatedAt), RequiresUserInput: m.RequiresUserInput,
		}
	}
	return out
}

// omnaraTime formats t as Omnara does (Python's isoformat of a naive UTC
// datetime): no offset, microseconds only when not zero.
func omnaraTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

func idempotencyKey(r *http.Request) (string, error) {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if len(key) > db.MaxIdempotencyKeyLen {
		return "", badRequest(http.StatusBadRequest, "Idempotency-Key is longer than %d characters", db.MaxIdempotencyKeyLen)
	}
	return key, nil
}

// messageBody is what both message routes take: an instance, the content,
// and an optional Idempotency-Key header.
type messageBody struct {
	AgentInstanceID *string `json:"agent_instance_id"`
	Content         *string `json:"content"`
	// contentOptional: an answer that chooses an option needs no text;
	// contentMissing: decode found none.
	contentOptional, contentMissing bool
}

type messageFields struct {
	id      uuid.UUID
	content string
	key     string
}

// decode reads the body into req (the struct that embeds m) and checks
// the shared fields.
func (m *messageBody) decode(r *http.Request, w http.ResponseWriter, req any) (messageFields, error) {
	var f messageFields
	if err := decodeJSON(w, r, req, false); err != nil {
		return f, err
	}
	var err error
	if f.id, err = requiredUUID(m.AgentInstanceID, "agent_instance_id"); err != nil {
		return f, err
	}
	if m.contentOptional && m.Content == nil {
		m.contentMissing = true
	} else if f.content, err = required(m.Content, "content"); err != nil {
		return f, err
	}
	f.key, err = idempotencyKey(r)
	return f, err
}

// POST /api/v1/messages/agent (contract §2.1). send_email, send_sms and
// send_push mean "notify the person": they decide whether the message's
// webhooks fire.
func parseSendAgentMessage(r *http.Request, w http.ResponseWriter, p auth.Principal) (db.SendAgentMessageParams, error) {
	var req struct {
		messageBody
		AgentType         *string         `json:"agent_type"`
		RequiresUserInput *bool           `json:"requires_user_input"`
		SendEmail         *bool           `json:"send_email"`
		SendSMS           *bool           `json:"send_sms"`
		SendPush          *bool           `json:"send_push"`
		GitDiff           *string         `json:"git_diff"`
		MessageMetadata   json.RawMessage `json:"message_metadata"`
		Options           []string        `json:"options"`
	}
	m, err := req.decode(r, w, &req)
	return db.SendAgentMessageParams{
		UserID: p.UserID, InstanceID: m.id, AgentType: valueOr(req.AgentType, ""), Content: m.content,
		RequiresUserInput: valueOr(req.RequiresUserInput, false), GitDiff: req.GitDiff, Options: req.Options,
		Metadata: req.MessageMetadata, IdempotencyKey: m.key, Notify: notifyFlags(req.SendPush, req.SendEmail, req.SendSMS),
	}, err
}

// notifyFlags reads Omnara's send_push/send_email/send_sms as "notify the
// person" (the webhooks): any true notifies, else any false does not, else
// the default (questions notify, steps do not).
func notifyFlags(flags ...*bool) *bool {
	var out *bool
	for _, f := range flags {
		if f == nil {
			continue
		}
		if *f {
			t := true
			return &t
		}
		out = f
	}
	return out
}

// createMessageResponse is Omnara's CreateMessageResponse.
type createMessageResponse struct {
	Success            bool              `json:"success"`
	AgentInstanceID    string            `json:"agent_instance_id"`
	MessageID          string            `json:"message_id"`
	QueuedUserMessages []messageResponse `json:"queued_user_messages"`
}

func renderSendAgentMessage(res db.SendAgentMessageResult) (int, any) {
	return http.StatusOK, createMessageResponse{
		Success: true, AgentInstanceID: res.InstanceID.String(), MessageID: res.MessageID.String(),
		QueuedUserMessages: messagesResponse(res.Queued),
	}
}

// POST /api/v1/messages/user (contract §2.2).
func parseCreateUserMessage(r *http.Request, w http.ResponseWriter, p auth.Principal) (db.CreateUserMessageParams, error) {
	var req struct {
		messageBody
		MarkAsRead *bool `json:"mark_as_read"`
		answerChoice
	}
	req.contentOptional = true
	m, err := req.decode(r, w, &req)
	if err != nil {
		return db.CreateUserMessageParams{}, err
	}
	params := db.CreateUserMessageParams{
		UserID: p.UserID, InstanceID: m.id, Content: m.content,
		MarkAsRead: valueOr(req.MarkAsRead, true), IdempotencyKey: m.key,
	}
	return params, req.answerChoice.apply(&params, !req.contentMissing)
}

// answerChoice is what a person's message may add to name the question it
// answers and the option it chooses (handoff's fields, on both routes).
type answerChoice struct {
	QuestionID  *string `json:"question_id"`
	OptionIndex *int    `json:"option_index"`
}

// apply checks the choice and sets it on p; without an option the
// content is required (hasContent: the request had it).
func (a answerChoice) apply(p *db.CreateUserMessageParams, hasContent bool) error {
	if a.QuestionID != nil {
		id, err := parseUUID(*a.QuestionID, "question_id")
		if err != nil {
			return err
		}
		p.ReplyTo = &id
	}
	p.OptionIndex = a.OptionIndex
	if a.OptionIndex == nil && !hasContent {
		return badRequest(http.StatusUnprocessableEntity, "content is required (or option_index)")
	}
	return nil
}

func renderCreateUserMessage(res db.CreateUserMessageResult) (int, any) {
	return http.StatusOK, map[string]any{
		"success":        true,
		"message_id":     res.MessageID.String(),
		"marked_as_read": res.MarkedAsRead,
	}
}

// instanceRef names one of the principal's instances (or messages).
type instanceRef struct {
	userID, id uuid.UUID
}

// GET /api/v1/messages/pending (contract §2.3). An empty or absent
// last_read_message_id means "none": read without consuming. handoff's
// wait (seconds, 0 to 60, default 0) holds an empty answer open until there
// is something to return (long polling).
type pendingQuery struct {
	instanceRef
	lastRead *uuid.UUID
	wait     time.Duration
}

func parsePending(r *http.Request, _ http.ResponseWriter, p auth.Principal) (pendingQuery, error) {
	q := r.URL.Query()
	if !q.Has("agent_instance_id") {
		return pendingQuery{}, badRequest(http.StatusUnprocessableEntity, "agent_instance_id is required")
	}
	id, err := parseUUID(q.Get("agent_instance_id"), "agent_instance_id")
	if err != nil {
		return pendingQuery{}, err
	}
	pq := pendingQuery{instanceRef: instanceRef{p.UserID, id}}
	if raw := q.Get("last_read_message_id"); raw != "" {
		lr, err := parseUUID(raw, "last_read_message_id")
		if err != nil {
			return pendingQuery{}, err
		}
		pq.lastRead = &lr
	}
	pq.wait, err = waitParam(q.Get("wait"))
	return pq, err
}

// waitParam reads a wait in seconds, 0 to 60 ("" is 0).
func waitParam(raw string) (time.Duration, error) {
	if raw == "" {
		return 0, nil
	}
	secs, err := strconv.ParseFloat(raw, 64)
	if err != nil || secs < 0 || secs > db.MaxPendingWait.Seconds() || math.IsNaN(secs) {
		return 0, badRequest(http.StatusUnprocessableEntity,
			"wait must be a number of seconds from 0 to %d, got %q", int(db.MaxPendingWait.Seconds()), truncate(raw, 32))
	}
	return time.Duration(secs * float64(time.Second)), nil
}

func (s *Server) pendingMessages(ctx context.Context, q pendingQuery) (db.PendingResult, error) {
	if q.wait > 0 {
		return s.store.PendingMessagesWait(ctx, q.userID, q.id, q.lastRead, time.Now().Add(q.wait))
	}
	return s.store.PendingMessages(ctx, q.userID, q.id, q.lastRead)
}

func renderPending(res db.PendingResult) (int, any) {
	return http.StatusOK, map[string]any{
		"agent_instance_id": res.InstanceID.String(),
		"messages":          messagesResponse(res.Messages),
		"status":            res.Status,
	}
}

// pathRef takes the principal's id from a path wildcard.
func pathRef(name string) func(*http.Request, http.ResponseWriter, auth.Principal) (instanceRef, error) {
	return func(r *http.Request, _ http.ResponseWriter, p auth.Principal) (instanceRef, error) {
		id, err := parseUUID(r.PathValue(name), name)
		return instanceRef{p.UserID, id}, err
	}
}

// bodyRef takes the principal's instance id from {"agent_instance_id"}.
func bodyRef(r *http.Request, w http.ResponseWriter, p auth.Principal) (instanceRef, error) {
	var req struct {
		AgentInstanceID *string `json:"agent_instance_id"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		return instanceRef{}, err
	}
	id, err := requiredUUID(req.AgentInstanceID, "agent_instance_id")
	return instanceRef{p.UserID, id}, err
}

// PATCH /api/v1/messages/{message_id}/request-input (contract §2.4).
func (s *Server) requestInput(ctx context.Context, ref instanceRef) (db.RequestInputResult, error) {
	return s.store.RequestInput(ctx, ref.userID, ref.id)
}

func renderRequestInput(res db.RequestInputResult) (int, any) {
	return http.StatusOK, map[string]any{
		"success":           true,
		"message_id":        res.MessageID.String(),
		"agent_instance_id": res.InstanceID.String(),
		"messages":          messagesResponse(res.Messages),
		"status":            res.Status,
	}
}

// POST /api/v1/sessions/end (contract §2.5).
func (s *Server) endSession(ctx context.Context, ref instanceRef) (db.EndSessionResult, error) {
	return s.store.EndSession(ctx, ref.userID, ref.id)
}

func renderEndSession(res db.EndSessionResult) (int, any) {
	return http.StatusOK, map[string]any{
		"success":           true,
		"agent_instance_id": res.InstanceID.String(),
		"final_status":      string(res.FinalStatus),
	}
}

// POST /api/v1/agent-instances (contract §2.6): 201, or 409 when the id is
// taken.
func parseRegisterInstance(r *http.Request, w http.ResponseWriter, p auth.Principal) (db.RegisterInstanceParams, error) {
	var req struct {
		AgentType       *string `json:"agent_type"`
		AgentInstanceID *string `json:"agent_instance_id"`
		Name            *string `json:"name"`
		Transport       *string `json:"transport"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		return db.RegisterInstanceParams{}, err
	}
	agentType, err := required(req.AgentType, "agent_type")
	if err != nil {
		return db.RegisterInstanceParams{}, err
	}
	params := db.RegisterInstanceParams{UserID: p.UserID, AgentType: agentType, Name: req.Name, Transport: req.Transport}
	if raw := valueOr(req.AgentInstanceID, ""); raw != "" {
		id, err := uuid.Parse(raw)
		if err != nil || len(raw) != 36 {
			return params, badRequest(http.StatusBadRequest, "Invalid agent_instance_id")
		}
		params.InstanceID = &id
	}
	return params, nil
}

func renderRegisterInstance(inst db.InstanceInfo) (int, any) {
	var metadata any
	if len(inst.InstanceMetadata) > 0 {
		metadata = json.RawMessage(inst.InstanceMetadata)
	}
	return http.StatusCreated, map[string]any{
		"agent_instance_id": inst.ID.String(),
		"agent_type_id":     inst.UserAgentID.String(),
		"agent_type_name":   inst.AgentTypeName,
		"status":            string(inst.Status),
		"name":              inst.Name,
		"instance_metadata": metadata,
	}
}

// POST /api/v1/agents/instances/{agent_instance_id}/heartbeat (contract §2.6).
type heartbeatResult struct {
	id uuid.UUID
	at time.Time
}

func (s *Server) heartbeat(ctx context.Context, ref instanceRef) (heartbeatResult, error) {
	at, err := s.store.Heartbeat(ctx, ref.userID, ref.id)
	return heartbeatResult{ref.id, at}, err
}

func renderHeartbeat(res heartbeatResult) (int, any) {
	return http.StatusOK, map[string]any{
		"agent_instance_id": res.id.String(),
		"last_heartbeat_at": omnaraTime(res.at) + "Z",
	}
}

// GET /api/v1/auth/verify (contract §2.6).
func principalUser(_ *http.Request, _ http.ResponseWriter, p auth.Principal) (uuid.UUID, error) {
	return p.UserID, nil
}

func renderVerify(u db.User) (int, any) {
	return http.StatusOK, map[string]any{
		"success":      true,
		"user_id":      u.ID.String(),
		"email":        u.Email,
		"display_name": u.DisplayName,
		"message":      "Authentication successful",
	}
}

// GET /api/v1/questions/{question_id}/answer?wait= (handoff's own, agent
// scope): the state of a question the agent asked: answered (with the
// answer: the first user message after it), pending or session_ended.
// wait (seconds, 0 to 60) holds a pending answer open. This is the REST
// form of the MCP wait_for_answer tool.
type answerQuery struct {
	instanceRef
	wait time.Duration
}

func parseAnswerQuery(r *http.Request, w http.ResponseWriter, p auth.Principal) (answerQuery, error) {
	ref, err := pathRef("question_id")(r, w, p)
	if err != nil {
		return answerQuery{}, err
	}
	wait, err := waitParam(r.URL.Query().Get("wait"))
	return answerQuery{ref, wait}, err
}

func (s *Server) questionAnswer(ctx context.Context, q answerQuery) (db.AnswerResult, error) {
	return s.store.WaitForAnswer(ctx, q.userID, q.id, time.Now().Add(q.wait))
}

func renderAnswer(res db.AnswerResult) (int, any) {
	var answer *string
	if res.Answer != nil {
		answer = &res.Answer.Content
	}
	return http.StatusOK, map[string]any{
		"question_id": res.QuestionID.String(), "agent_instance_id": res.InstanceID.String(),
		"status": res.Status, "answer": answer, "option_index": res.OptionIndex,
	}
}
