package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MaxAgentTypeLen is the longest agent type name accepted.
const MaxAgentTypeLen = 255

// Pending-read statuses, as Omnara spells them.
const (
	ReadOK    = "ok"
	ReadStale = "stale"
)

// NormalizeAgentType is how agent types are stored and compared: trimmed and
// lowercased, so "Claude Code" and "claude code" are one agent type.
func NormalizeAgentType(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// SendAgentMessageParams is an agent's message. AgentType is needed only when
// the message creates its instance. InstanceID uuid.Nil starts a new
// session (see NewSessionID).
type SendAgentMessageParams struct {
	UserID            uuid.UUID       `json:"-"`
	InstanceID        uuid.UUID       `json:"agent_instance_id"`
	AgentType         string          `json:"agent_type"`
	Content           string          `json:"content"`
	RequiresUserInput bool            `json:"requires_user_input"`
	GitDiff           *string         `json:"git_diff"`
	Metadata          json.RawMessage `json:"message_metadata"`
	IdempotencyKey    string          `json:"-"`
	// Notify: send the person this message's webhooks. nil: questions
	// notify, steps do not (Omnara's send_push/email/sms default).
	Notify *bool `json:"notify"`
	// Options: a question's choices. A question without them may carry
	// Omnara's options block at the end of its content instead.
	Options []string `json:"options,omitempty"`
	// InstanceMetadata describes the session when this message starts it.
	InstanceMetadata json.RawMessage `json:"-"`
	// Reopen: an ended session is active again (an agent resumed it).
	Reopen bool `json:"-"`
	// KeepQueue: hand nothing over and leave the read cursor: the message
	// records what an agent's hook reported, and the agent will not see
	// what a send returns.
	KeepQueue bool `json:"-"`
	// extra: the columns of a permission request (RequestPermission).
	extra *messageExtra
}

// messageExtra is what a permission request's message stores besides an
// ordinary question's.
type messageExtra struct {
	kind                 string
	permission, decision []byte
	expiresAt            *time.Time
}

// SendAgentMessageResult is what a sent agent message returns: its ids and
// the user messages the agent had not read yet, oldest first.
type SendAgentMessageResult struct {
	InstanceID uuid.UUID `json:"agent_instance_id"`
	MessageID  uuid.UUID `json:"message_id"`
	Queued     []Message `json:"queued"`
	// StepNumber is Omnara's step_number (the MCP log_step result): the
	// instance's agent messages that are not questions, this one included.
	StepNumber int64 `json:"step_number,omitempty"`
	// Replayed is set when an idempotent retry returned the stored result.
	Replayed bool `json:"-"`
}

// SendAgentMessage records an agent message. In one transaction it creates
// the instance on first use, returns every USER message after the read
// cursor (in seq order), stores the message, moves the cursor to it, and
// sets the status: AWAITING_INPUT for a question, ACTIVE otherwise, except
// that COMPLETED stays. A git diff replaces the instance's latest diff.
func (s *Store) SendAgentMessage(ctx context.Context, p SendAgentMessageParams) (SendAgentMessageResult, error) {
	if err := validateContent(p.Content); err != nil {
		return SendAgentMessageResult{}, err
	}
	if err := validateMetadata(p.Metadata); err != nil {
		return SendAgentMessageResult{}, err
	}
	if len(p.Options) > 0 && !p.RequiresUserInput {
		return SendAgentMessageResult{}, Errorf(EInvalid, "options are for questions (requires_user_input)")
	}
	if len(p.Options) == 0 && p.RequiresUserInput {
		_, p.Options = SplitOptions(p.Content)
	}
	if err := validateOptions(p.Options); err != nil {
		return SendAgentMessageResult{}, err
	}
	if p.InstanceID == uuid.Nil {
		p.InstanceID = NewSessionID(p.UserID, p.IdempotencyKey)
	}
	op := instanceOp{userID: p.UserID, id: p.InstanceID, mode: createMissing, agentType: p.AgentType,
		metadata: nullJSON(p.InstanceMetadata), operation: "send_agent_message", key: p.IdempotencyKey, request: p}
	res, replayed, err := withInstance(ctx, s, op, func(t *instanceTx) (SendAgentMessageResult, error) {
		return s.appendAgentMessage(ctx, t, p)
	})
	res.Replayed = replayed
	if err == nil {
		observeMessage(SenderTypeAGENT, replayed, p.RequiresUserInput)
	}
	return res, err
}

// retrySessions is the namespace of session ids derived from a user and an
// idempotency key.
var retrySessions = uuid.MustParse("7d5e2f0a-3c41-4b8e-9a6f-1e2d3c4b5a69")

// NewSessionID is the id of a session that a message naming none starts:
// with an idempotency key, derived from the user and the key, so a retry
// names the same new session as the first call; without, a random one.
func NewSessionID(userID uuid.UUID, idempotencyKey string) uuid.UUID {
	if idempotencyKey == "" {
		return uuid.New()
	}
	return uuid.NewSHA1(retrySessions, []byte(userID.String()+"/"+idempotencyKey))
}

// appendAgentMessage is the one way an agent message is appended, on a
// locked instance: one statement inserts it (with everything it changes)
// and reads the queue it hands over (see InsertAgentMessage); then its
// webhooks are enqueued. It needs nothing of the locked row, so the lock
// rides with the insert.
func (s *Store) appendAgentMessage(ctx context.Context, t *instanceTx, p SendAgentMessageParams) (SendAgentMessageResult, error) {
	notify := p.RequiresUserInput
	if p.Notify != nil {
		notify = *p.Notify
	}
	insert := t.Queries
	if !notify || s.jobs == nil {
		insert = t.Final() // nothing follows the insert
	}
	diff, setDiff := SanitizeGitDiff(p.GitDiff)
	params := InsertAgentMessageParams{
		UserID: p.UserID, AgentInstanceID: p.InstanceID, Content: p.Content, RequiresUserInput: p.RequiresUserInput,
		MessageMetadata: nullJSON(p.Metadata), SetGitDiff: setDiff, GitDiff: diff, Options: p.Options, Reopen: p.Reopen,
		KeepQueue: p.KeepQueue,
	}
	if x := p.extra; x != nil {
		params.Kind, params.Permission, params.Decision, params.ExpiresAt = &x.kind, x.permission, x.decision, x.expiresAt
	} else if p.KeepQueue {
		record := KindRecord
		params.Kind = &record
	}
	rows, err := insert.InsertAgentMessage(ctx, params)
	if err == nil && len(rows) == 0 {
		err = errors.New("no row returned")
	}
	if err != nil {
		return SendAgentMessageResult{}, fmt.Errorf("insert agent message: %w", err)
	}
	res := SendAgentMessageResult{InstanceID: p.InstanceID, MessageID: rows[0].MessageID, StepNumber: rows[0].StepCount,
		Queued: make([]Message, 0, len(rows))}
	for _, r := range rows {
		if r.QueuedID == nil {
			continue
		}
		res.Queued = append(res.Queued, Message{ID: *r.QueuedID, Seq: *r.QueuedSeq, UserID: p.UserID,
			AgentInstanceID: p.InstanceID, SenderType: SenderTypeUSER, Content: *r.QueuedContent, CreatedAt: *r.QueuedCreatedAt})
	}
	if !notify {
		return res, nil
	}
	data := WebhookData{AgentInstanceID: p.InstanceID, MessageID: &res.MessageID, SenderType: string(SenderTypeAGENT),
		Content: p.Content, RequiresUserInput: p.RequiresUserInput, Options: p.Options}
	types := []string{EventMessageCreated}
	switch {
	case p.extra != nil && p.RequiresUserInput:
		data.Kind, data.Permission, data.expiresAt = p.extra.kind, p.extra.permission, p.extra.expiresAt
		types = []string{EventPermissionRequested, EventMessageCreated}
	case p.RequiresUserInput:
		types = []string{EventQuestionAsked, EventMessageCreated}
	}
	return res, s.enqueueWebhooks(ctx, t, p.UserID, data, types...)
}

// CreateUserMessageParams is a person's message to an agent instance.
// MarkAsRead moves the agent's read cursor to it, so the agent is not handed
// it (Omnara's wrappers use this for what the person typed at the agent
// itself).
type CreateUserMessageParams struct {
	UserID         uuid.UUID `json:"-"`
	InstanceID     uuid.UUID `json:"agent_instance_id"`
	Content        string    `json:"content"`
	MarkAsRead     bool      `json:"mark_as_read"`
	IdempotencyKey string    `json:"-"`
	// ReplyTo names the question the message answers. Without it, the
	// message answers the session's open question: the latest ordinary
	// one, else a permission request when exactly one waits.
	ReplyTo *uuid.UUID `json:"reply_to,omitempty"`
	// OptionIndex chooses among the question's options; Content may then
	// be empty (it becomes the option's label) or must be that label.
	OptionIndex *int `json:"option_index,omitempty"`
}

// CreateUserMessageResult is the stored user message.
type CreateUserMessageResult struct {
	InstanceID   uuid.UUID `json:"agent_instance_id"`
	MessageID    uuid.UUID `json:"message_id"`
	MarkedAsRead bool      `json:"marked_as_read"`
	// Answered is set when the message answered a waiting question.
	Answered bool `json:"answered"`
	// QuestionID and OptionIndex: the question it answers and the option
	// it chose.
	QuestionID  *uuid.UUID `json:"question_id,omitempty"`
	OptionIndex *int       `json:"option_index,omitempty"`
	// Decision: what it decided of a permission request. With Late, the
	// request had expired: the decision is recorded, not applied.
	Decision *Decision `json:"decision,omitempty"`
	Late     bool      `json:"late,omitempty"`
	Replayed bool      `json:"-"`
}

// CreateUserMessage stores a USER message on one of the user's instances. It
// answers a waiting question: an AWAITING_INPUT instance becomes ACTIVE
// unless another question still waits (COMPLETED stays COMPLETED). An
// answer to a permission request is its decision (see decisionOf): kept
// out of the agent's queue, applied while the request waits, recorded as
// late after it expired, refused once the request is decided.
func (s *Store) CreateUserMessage(ctx context.Context, p CreateUserMessageParams) (CreateUserMessageResult, error) {
	if p.OptionIndex == nil {
		if err := validateContent(p.Content); err != nil {
			return CreateUserMessageResult{}, err
		}
	}
	op := instanceOp{userID: p.UserID, id: p.InstanceID, mode: mustExist,
		operation: "create_user_message", key: p.IdempotencyKey, request: p}
	res, replayed, err := withInstance(ctx, s, op, func(t *instanceTx) (CreateUserMessageResult, error) {
		return s.appendUserMessage(ctx, t, p)
	})
	res.Replayed = replayed
	if err == nil {
		observeMessage(SenderTypeUSER, replayed, false)
		if res.Answered && !replayed {
			countQuestion("answered")
		}
	}
	return res, err
}

// appendUserMessage is CreateUserMessage on the locked instance.
func (s *Store) appendUserMessage(ctx context.Context, t *instanceTx, p CreateUserMessageParams) (CreateUserMessageResult, error) {
	inst, err := t.Instance(ctx)
	if err != nil {
		return CreateUserMessageResult{}, err
	}
	target, err := answerTarget(ctx, t.Queries, inst, p.ReplyTo)
	if err != nil {
		return CreateUserMessageResult{}, err
	}
	in := InsertMessageParams{UserID: p.UserID, AgentInstanceID: inst.ID, SenderType: SenderTypeUSER, Content: p.Content}
	if p.OptionIndex != nil {
		if in.Content, err = chosenLabel(target, p.OptionIndex, p.Content); err != nil {
			return CreateUserMessageResult{}, err
		}
		i := int32(*p.OptionIndex)
		in.OptionIndex = &i
	}
	decides := target != nil && target.Kind != nil && *target.Kind == KindPermission
	if target != nil && (p.ReplyTo != nil || p.OptionIndex != nil) {
		in.ReplyTo = &target.ID
	}
	markAsRead := p.MarkAsRead
	var d Decision // what the message decides of a request
	late := false
	if decides {
		prior := ParseDecision(target.Decision)
		if prior != nil && (prior.Outcome != OutcomeExpired || prior.Late != nil) {
			return CreateUserMessageResult{}, Errorf(EConflict, "This permission request was decided already")
		}
		late = prior != nil || target.ExpiresAt == nil || !target.ExpiresAt.After(time.Now())
		d = decisionOf(*target, Message{Content: in.Content, OptionIndex: in.OptionIndex, ReplyTo: in.ReplyTo})
		// A decision is never in the queue; but the words of a late deny
		// reach the agent as an instruction instead of being lost.
		markAsRead = false
		if !late || d.Outcome != OutcomeDeny || d.Message == DeniedMessage {
			kind := KindDecision
			in.Kind = &kind
		}
	}
	msg, err := t.InsertMessage(ctx, in)
	if err != nil {
		return CreateUserMessageResult{}, fmt.Errorf("insert user message: %w", err)
	}
	res := CreateUserMessageResult{InstanceID: inst.ID, MessageID: msg.ID, MarkedAsRead: markAsRead}
	if target != nil {
		res.QuestionID, res.OptionIndex = &target.ID, OptionIndex(*target, msg)
	}
	data := WebhookData{AgentInstanceID: inst.ID, MessageID: &msg.ID, SenderType: string(SenderTypeUSER), Content: msg.Content,
		QuestionID: res.QuestionID, OptionIndex: res.OptionIndex}
	switch {
	case decides:
		d.AnswerID = &msg.ID
		res.Decision, res.Late, res.Answered = &d, late, !late
		record := d
		if late {
			record = Decision{Outcome: OutcomeExpired, Late: &d}
		}
		if err := applyDecision(ctx, t.Queries, inst, *target, record); err != nil {
			return CreateUserMessageResult{}, err
		}
		data.Decision = &record
	case target != nil:
		res.Answered = inst.Status == AgentStatusAWAITINGINPUT && (p.ReplyTo == nil || *p.ReplyTo == target.ID)
	}
	waiting := false
	if inst.Status == AgentStatusAWAITINGINPUT {
		if waiting, err = stillWaiting(ctx, t.Queries, inst); err != nil {
			return CreateUserMessageResult{}, err
		}
	}
	if err := t.RecordUserMessage(ctx, RecordUserMessageParams{
		MarkAsRead: markAsRead, MessageID: msg.ID, MessageSeq: msg.Seq, ID: inst.ID, UserID: p.UserID, StillWaiting: waiting,
	}); err != nil {
		return CreateUserMessageResult{}, fmt.Errorf("update instance: %w", err)
	}
	types := []string{EventMessageCreated}
	if res.Answered {
		types = []string{EventQuestionAnswered, EventMessageCreated}
	}
	return res, s.enqueueWebhooks(ctx, t, p.UserID, data, types...)
}

// answerTarget is the question a person's message answers: the one it
// names (which must be a question of the instance), else the instance's
// open ordinary question. A permission request is decided only by a
// message that names it: a message without a name is an instruction, so
// a "yes" never allows a request the person may not have seen.
func answerTarget(ctx context.Context, q *Queries, inst AgentInstance, replyTo *uuid.UUID) (*Message, error) {
	if replyTo != nil {
		m, err := q.GetAgentMessage(ctx, GetAgentMessageParams{ID: *replyTo, UserID: inst.UserID})
		if isNoRows(err) || (err == nil && (m.AgentInstanceID != inst.ID || !m.RequiresUserInput)) {
			return nil, Errorf(EInvalid, "reply_to is not a question of this session")
		} else if err != nil {
			return nil, fmt.Errorf("get question: %w", err)
		}
		return &m, nil
	}
	if inst.Status != AgentStatusAWAITINGINPUT {
		return nil, nil
	}
	plain, err := q.OpenPlainQuestion(ctx, OpenPlainQuestionParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
	if err != nil || !plain {
		return nil, wrapErr("open question", err)
	}
	m, err := q.LatestPlainQuestion(ctx, LatestPlainQuestionParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
	if err != nil {
		return nil, fmt.Errorf("latest question: %w", err)
	}
	return &m, nil
}

// wrapErr wraps err with what failed; nil stays nil.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// chosenLabel is the content of an answer that chose option idx of the
// question: the label, given or not; or, denying a permission request,
// the person's reason.
func chosenLabel(question *Message, idx *int, content string) (string, error) {
	if question == nil || len(question.Options) == 0 {
		return "", Errorf(EInvalid, "option_index: there is no question with options to answer")
	}
	if *idx < 0 || *idx >= len(question.Options) {
		return "", Errorf(EInvalid, "option_index must be from 0 to %d", len(question.Options)-1)
	}
	label := question.Options[*idx]
	if *idx == denyOption && question.Kind != nil && *question.Kind == KindPermission && strings.TrimSpace(content) != "" {
		return content, nil // a deny with the person's reason
	}
	if strings.TrimSpace(content) != "" && labelKey(content) != labelKey(label) {
		return "", Errorf(EInvalid, "content must be empty or the chosen option's label")
	}
	return label, nil
}

// PendingResult is the answer to a read of the queue: the user messages
// after the cursor, and ReadOK, or ReadStale (no messages) when the caller's
// cursor is no longer the instance's: another reader consumed them.
type PendingResult struct {
	InstanceID uuid.UUID `json:"agent_instance_id"`
	Messages   []Message `json:"messages"`
	Status     string    `json:"status"`
	// Ended: the session is COMPLETED (no answer will come to a wait).
	Ended bool `json:"-"`
}

// PendingMessages returns the USER messages after the instance's read
// cursor. With lastRead nil it only reads. With lastRead set it must equal
// the instance's cursor (else ReadStale, and nothing changes), and the
// cursor moves to the last message returned.
func (s *Store) PendingMessages(ctx context.Context, userID, instanceID uuid.UUID, lastRead *uuid.UUID) (PendingResult, error) {
	res, _, err := withInstance(ctx, s, instanceOp{userID: userID, id: instanceID, mode: mustExist},
		func(t *instanceTx) (PendingResult, error) {
			inst, err := t.Instance(ctx)
			if err != nil {
				return PendingResult{}, err
			}
			return consumeQueue(ctx, t, inst, lastRead)
		})
	return res, err
}

// MaxPendingWait is the longest a read of the queue may wait.
const MaxPendingWait = 60 * time.Second

// PendingMessagesWait is PendingMessages that, when there is nothing to
// return, waits until there is (or the read turns stale, or the session
// ends), ctx ends or deadline passes; then it returns the ordinary empty
// answer.
func (s *Store) PendingMessagesWait(ctx context.Context, userID, instanceID uuid.UUID, lastRead *uuid.UUID, deadline time.Time) (PendingResult, error) {
	var res PendingResult
	err := s.waitFor(ctx, instanceID, deadline, func() (bool, error) {
		var err error
		res, err = s.PendingMessages(ctx, userID, instanceID, lastRead)
		return len(res.Messages) > 0 || res.Status == ReadStale || res.Ended, err
	})
	return res, err
}

// consumeQueue is the read half of Omnara's get_queued_user_messages on a
// locked instance.
func consumeQueue(ctx context.Context, t *instanceTx, inst AgentInstance, lastRead *uuid.UUID) (PendingResult, error) {
	res := PendingResult{InstanceID: inst.ID, Messages: []Message{}, Status: ReadOK, Ended: inst.Status == AgentStatusCOMPLETED}
	if lastRead != nil && (inst.LastReadMessageID == nil || *inst.LastReadMessageID != *lastRead) {
		res.Status = ReadStale
		return res, nil
	}
	read := t.Queries
	if lastRead == nil {
		read = t.Final() // a read only: COMMIT rides with it
	}
	msgs, err := queueAfter(ctx, read, inst)
	if err != nil {
		return PendingResult{}, err
	}
	res.Messages = msgs
	if lastRead != nil && len(msgs) > 0 {
		last := msgs[len(msgs)-1]
		if err := t.Final().SetReadCursor(ctx, SetReadCursorParams{
			MessageID: last.ID, MessageSeq: last.Seq, ID: inst.ID, UserID: inst.UserID,
		}); err != nil {
			return PendingResult{}, fmt.Errorf("move read cursor: %w", err)
		}
	}
	return res, nil
}

// RequestInputResult is the answer to turning an agent message into a
// question: the messages already waiting for it, if any.
type RequestInputResult struct {
	MessageID  uuid.UUID `json:"message_id"`
	InstanceID uuid.UUID `json:"agent_instance_id"`
	Messages   []Message `json:"messages"`
	Status     string    `json:"status"`
}

// RequestInput marks an earlier agent message as a question. User messages
// already queued after it (with it as the read cursor) are returned and
// consumed; if there are none, the instance waits for input.
func (s *Store) RequestInput(ctx context.Context, userID, messageID uuid.UUID) (RequestInputResult, error) {
	notFound := Errorf(ENotFound, "Agent message not found or access denied")
	found, err := New(s.pool).GetAgentMessage(ctx, GetAgentMessageParams{ID: messageID, UserID: userID})
	if isNoRows(err) {
		return RequestInputResult{}, notFound
	} else if err != nil {
		return RequestInputResult{}, fmt.Errorf("get message: %w", err)
	}
	op := instanceOp{userID: userID, id: found.AgentInstanceID, mode: mustExist}
	res, _, err := withInstance(ctx, s, op, func(t *instanceTx) (RequestInputResult, error) {
		inst, err := t.Instance(ctx)
		if err != nil {
			return RequestInputResult{}, err
		}
		// Read again under the instance lock: a concurrent request may have
		// turned it into a question since.
		msg, err := t.GetAgentMessage(ctx, GetAgentMessageParams{ID: messageID, UserID: userID})
		if err != nil {
			return RequestInputResult{}, fmt.Errorf("get message: %w", err)
		}
		if msg.RequiresUserInput {
			return RequestInputResult{}, Errorf(EInvalid, "Message already requires user input")
		}
		if err := t.SetRequiresUserInput(ctx, SetRequiresUserInputParams{ID: msg.ID, UserID: userID}); err != nil {
			return RequestInputResult{}, fmt.Errorf("mark question: %w", err)
		}
		t.finalCommits = false // more follows the queue read
		read, err := consumeQueue(ctx, t, inst, &msg.ID)
		if err != nil {
			return RequestInputResult{}, err
		}
		if len(read.Messages) == 0 {
			if err := t.SetStatusUnlessCompleted(ctx, SetStatusUnlessCompletedParams{
				Status: AgentStatusAWAITINGINPUT, ID: inst.ID, UserID: userID,
			}); err != nil {
				return RequestInputResult{}, fmt.Errorf("update status: %w", err)
			}
		}
		inst, err = t.GetInstance(ctx, GetInstanceParams{ID: inst.ID, UserID: userID})
		if err != nil {
			return RequestInputResult{}, fmt.Errorf("get instance: %w", err)
		}
		if err := recordEvent(ctx, t.Queries, inst, EventMessage, &msg.ID); err != nil {
			return RequestInputResult{}, err
		}
		if len(read.Messages) == 0 {
			if err := s.enqueueWebhooks(ctx, t, userID, WebhookData{AgentInstanceID: inst.ID, MessageID: &msg.ID,
				SenderType: string(SenderTypeAGENT), Content: msg.Content, RequiresUserInput: true}, EventQuestionAsked); err != nil {
				return RequestInputResult{}, err
			}
		}
		return RequestInputResult{MessageID: msg.ID, InstanceID: inst.ID, Messages: read.Messages, Status: read.Status}, nil
	})
	if ErrorCode(err) == ENotFound {
		return RequestInputResult{}, notFound
	}
	if err == nil {
		countQuestion("asked")
	}
	return res, err
}

func queueAfter(ctx context.Context, q *Queries, inst AgentInstance) ([]Message, error) {
	var after int64
	if inst.LastReadSeq != nil {
		after = *inst.LastReadSeq
	}
	msgs, err := q.ListUserMessagesAfter(ctx, ListUserMessagesAfterParams{
		AgentInstanceID: inst.ID, UserID: inst.UserID, AfterSeq: after,
	})
	if err != nil {
		return nil, fmt.Errorf("read queue: %w", err)
	}
	return msgs, nil
}

func validateContent(content string) error {
	if strings.TrimSpace(content) == "" {
		return Errorf(EInvalid, "content must not be empty")
	}
	return nil
}

func validateMetadata(m json.RawMessage) error {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(m, &obj); err != nil {
		return Errorf(EInvalid, "message_metadata must be a JSON object")
	}
	return nil
}

func nullJSON(m json.RawMessage) []byte {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}
