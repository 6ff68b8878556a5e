package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// The person's side of the API (handoff's own routes, user scope unless
// noted): sessions, their conversations, answering, who am I.

type questionJSON struct {
	ID        string    `json:"id"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// instanceJSON is a session as the user API shows it. agent_type_id and
// agent_type_name are also what Omnara's SDK reads from this route.
type instanceJSON struct {
	ID               string          `json:"id"`
	AgentType        string          `json:"agent_type"`
	AgentTypeID      string          `json:"agent_type_id"`
	AgentTypeName    string          `json:"agent_type_name"`
	Name             *string         `json:"name"`
	Status           string          `json:"status"`
	StartedAt        time.Time       `json:"started_at"`
	EndedAt          *time.Time      `json:"ended_at"`
	LastActivityAt   time.Time       `json:"last_activity_at"`
	LastHeartbeatAt  *time.Time      `json:"last_heartbeat_at"`
	InstanceMetadata json.RawMessage `json:"instance_metadata"`
	OpenQuestion     *questionJSON   `json:"open_question"`
	GitDiff          *string         `json:"git_diff,omitempty"`
	// PermissionRules: what the person allowed for the rest of the
	// session (Bash(ls:*), Edit).
	PermissionRules []string `json:"permission_rules"`
}

func instanceResponse(i db.InstanceInfo, withDiff bool) instanceJSON {
	out := instanceJSON{
		ID: i.ID.String(), AgentType: i.AgentTypeName, AgentTypeID: i.UserAgentID.String(), AgentTypeName: i.AgentTypeName,
		Name: i.Name, Status: string(i.Status), StartedAt: i.StartedAt, EndedAt: i.EndedAt,
		LastActivityAt: i.LastActivityAt, LastHeartbeatAt: i.LastHeartbeatAt, InstanceMetadata: i.InstanceMetadata,
		PermissionRules: i.PermissionRules,
	}
	if out.PermissionRules == nil {
		out.PermissionRules = []string{}
	}
	if len(out.InstanceMetadata) == 0 {
		out.InstanceMetadata = json.RawMessage("null")
	}
	if q := i.OpenQuestion; q != nil {
		out.OpenQuestion = &questionJSON{ID: q.ID.String(), Content: q.Content, CreatedAt: q.CreatedAt}
	}
	if withDiff {
		out.GitDiff = i.GitDiff
	}
	return out
}

// GET /api/v1/agent-instances?status=&limit=&cursor=
type listQuery struct {
	userID uuid.UUID
	status *db.AgentStatus
	after  *db.InstanceCursor
	limit  int
}

var agentStatuses = map[string]db.AgentStatus{}

func init() {
	for _, s := range []db.AgentStatus{db.AgentStatusACTIVE, db.AgentStatusAWAITINGINPUT, db.AgentStatusPAUSED,
		db.AgentStatusSTALE, db.AgentStatusCOMPLETED, db.AgentStatusFAILED, db.AgentStatusKILLED,
		db.AgentStatusDISCONNECTED, db.AgentStatusDELETED} {
		agentStatuses[string(s)] = s
	}
}

func parseListInstances(r *http.Request, _ http.ResponseWriter, p auth.Principal) (listQuery, error) {
	q := r.URL.Query()
	lq := listQuery{userID: p.UserID}
	var err error
	if lq.limit, err = pageLimit(q.Get("limit"), 50); err != nil {
		return lq, err
	}
	if raw := q.Get("status"); raw != "" {
		st, ok := agentStatuses[strings.ToUpper(raw)]
		if !ok {
			return lq, badRequest(http.StatusUnprocessableEntity, "status must be one of ACTIVE, AWAITING_INPUT, COMPLETED, …, not %q", truncate(raw, 32))
		}
		lq.status = &st
	}
	if raw := q.Get("cursor"); raw != "" {
		c, err := decodeCursor(raw)
		if err != nil {
			return lq, badRequest(http.StatusUnprocessableEntity, "cursor is not one this server gave out")
		}
		lq.after = &c
	}
	return lq, nil
}

func pageLimit(raw string, def int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > db.MaxPageSize {
		return 0, badRequest(http.StatusUnprocessableEntity, "limit must be a whole number from 1 to %d", db.MaxPageSize)
	}
	return n, nil
}

// Cursors are opaque to clients: base64 of "<unix microseconds>.<id>".
func encodeCursor(c db.InstanceCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.At.UnixMicro(), 10) + "." + c.ID.String()))
}

func decodeCursor(s string) (db.InstanceCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return db.InstanceCursor{}, err
	}
	at, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return db.InstanceCursor{}, errBadCursor
	}
	us, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return db.InstanceCursor{}, err
	}
	uid, err := uuid.Parse(id)
	return db.InstanceCursor{At: time.UnixMicro(us), ID: uid}, err
}

var errBadCursor = &requestError{status: http.StatusUnprocessableEntity, detail: "bad cursor"}

type instancePage struct {
	items []db.InstanceInfo
	next  *db.InstanceCursor
}

func (s *Server) listInstances(ctx context.Context, q listQuery) (instancePage, error) {
	items, next, err := s.store.ListInstances(ctx, q.userID, q.status, q.after, q.limit)
	return instancePage{items, next}, err
}

func renderInstancePage(p instancePage) (int, any) {
	out := struct {
		AgentInstances []instanceJSON `json:"agent_instances"`
		NextCursor     *string        `json:"next_cursor"`
	}{AgentInstances: make([]instanceJSON, len(p.items))}
	for i, inst := range p.items {
		out.AgentInstances[i] = instanceResponse(inst, false)
	}
	if p.next != nil {
		c := encodeCursor(*p.next)
		out.NextCursor = &c
	}
	return http.StatusOK, out
}

// GET /api/v1/agent-instances/{agent_instance_id} (agent scope too: Omnara's
// SDK reads it after a 409 from registering; message_limit is accepted and
// ignored — the conversation has its own route).
func (s *Server) getInstance(ctx context.Context, ref instanceRef) (db.InstanceInfo, error) {
	return s.store.GetInstance(ctx, ref.userID, ref.id)
}

func renderInstance(i db.InstanceInfo) (int, any) { return http.StatusOK, instanceResponse(i, true) }

// GET /api/v1/agent-instances/{agent_instance_id}/messages?after_seq=&limit=
type messagesQuery struct {
	instanceRef
	afterSeq int64
	limit    int
}

func parseListMessages(r *http.Request, w http.ResponseWriter, p auth.Principal) (messagesQuery, error) {
	ref, err := pathRef("agent_instance_id")(r, w, p)
	if err != nil {
		return messagesQuery{}, err
	}
	mq := messagesQuery{instanceRef: ref}
	q := r.URL.Query()
	if mq.limit, err = pageLimit(q.Get("limit"), 100); err != nil {
		return mq, err
	}
	if raw := q.Get("after_seq"); raw != "" {
		if mq.afterSeq, err = strconv.ParseInt(raw, 10, 64); err != nil || mq.afterSeq < 0 {
			return mq, badRequest(http.StatusUnprocessableEntity, "after_seq must be a whole number, 0 or more")
		}
	}
	return mq, nil
}

type messagePage struct {
	msgs []db.Message
	more bool
}

func (s *Server) listMessages(ctx context.Context, q messagesQuery) (messagePage, error) {
	msgs, more, err := s.store.ListMessages(ctx, q.userID, q.id, q.afterSeq, q.limit)
	return messagePage{msgs, more}, err
}

// conversationMessage is a message in the user API: with its seq (the
// order, and the after_seq cursor) and metadata.
type conversationMessage struct {
	ID                string          `json:"id"`
	Seq               int64           `json:"seq"`
	SenderType        string          `json:"sender_type"`
	Content           string          `json:"content"`
	RequiresUserInput bool            `json:"requires_user_input"`
	CreatedAt         time.Time       `json:"created_at"`
	MessageMetadata   json.RawMessage `json:"message_metadata"`
	// Options: a question's choices; Kind: permission (a request) or
	// decision (the person's answer to one), else null.
	Options    []string        `json:"options"`
	Kind       *string         `json:"kind"`
	Permission json.RawMessage `json:"permission"`
	Decision   json.RawMessage `json:"decision"`
	// ExpiresAt: when a permission request stops waiting.
	ExpiresAt *time.Time `json:"expires_at"`
	// ReplyTo, OptionIndex: the question a person's message answers and
	// the option it chose.
	ReplyTo     *uuid.UUID `json:"reply_to"`
	OptionIndex *int32     `json:"option_index"`
}

// rawOrNull is a jsonb column as JSON (null when NULL).
func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func renderMessagePage(p messagePage) (int, any) {
	out := struct {
		Messages []conversationMessage `json:"messages"`
		HasMore  bool                  `json:"has_more"`
	}{Messages: make([]conversationMessage, len(p.msgs)), HasMore: p.more}
	for i, m := range p.msgs {
		out.Messages[i] = conversationMessage{ID: m.ID.String(), Seq: m.Seq, SenderType: string(m.SenderType),
			Content: m.Content, RequiresUserInput: m.RequiresUserInput, CreatedAt: m.CreatedAt,
			MessageMetadata: rawOrNull(m.MessageMetadata), Options: m.Options, Kind: m.Kind,
			Permission: rawOrNull(m.Permission), Decision: rawOrNull(m.Decision), ExpiresAt: m.ExpiresAt,
			ReplyTo: m.ReplyTo, OptionIndex: m.OptionIndex}
	}
	return http.StatusOK, out
}

// POST /api/v1/agent-instances/{agent_instance_id}/messages {content}: the
// person's answer or instruction, handed to the agent (and waking it).
func parsePersonMessage(r *http.Request, w http.ResponseWriter, p auth.Principal) (db.CreateUserMessageParams, error) {
	ref, err := pathRef("agent_instance_id")(r, w, p)
	if err != nil {
		return db.CreateUserMessageParams{}, err
	}
	var req struct {
		Content *string `json:"content"`
		answerChoice
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return db.CreateUserMessageParams{}, err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return db.CreateUserMessageParams{}, err
	}
	params := db.CreateUserMessageParams{UserID: p.UserID, InstanceID: ref.id, Content: valueOr(req.Content, ""), IdempotencyKey: key}
	return params, req.answerChoice.apply(&params, req.Content != nil)
}

func renderPersonMessage(res db.CreateUserMessageResult) (int, any) {
	return http.StatusCreated, map[string]any{
		"id": res.MessageID.String(), "agent_instance_id": res.InstanceID.String(), "answered": res.Answered,
		"question_id": res.QuestionID, "option_index": res.OptionIndex, "decision": res.Decision, "late": res.Late,
	}
}

// GET /api/v1/me
func principalItself(_ *http.Request, _ http.ResponseWriter, p auth.Principal) (auth.Principal, error) {
	return p, nil
}

type me struct {
	user db.User
	p    auth.Principal
}

func (s *Server) me(ctx context.Context, p auth.Principal) (me, error) {
	u, err := s.store.GetUser(ctx, p.UserID)
	return me{u, p}, err
}

func renderMe(m me) (int, any) {
	var keyID *string
	if m.p.KeyID != uuid.Nil {
		k := m.p.KeyID.String()
		keyID = &k
	}
	return http.StatusOK, map[string]any{
		"id": m.user.ID.String(), "email": m.user.Email, "display_name": m.user.DisplayName,
		"created_at": m.user.CreatedAt, "scope": string(m.p.Scope), "key_id": keyID,
	}
}
