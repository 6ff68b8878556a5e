package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

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

// fail writes a request error or a store error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if re, ok := err.(*requestError); ok {
		writeProblem(w, re.status, re.detail)
		return
	}
	s.writeError(w, r, err)
}

// POST /api/v1/messages/agent (contract §2.1).
func (s *Server) sendAgentMessage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req struct {
		AgentInstanceID   *string         `json:"agent_instance_id"`
		AgentType         *string         `json:"agent_type"`
		Content           *string         `json:"content"`
		RequiresUserInput *bool           `json:"requires_user_input"`
		SendEmail         *bool           `json:"send_email"`
		SendSMS           *bool           `json:"send_sms"`
		SendPush          *bool           `json:"send_push"`
		GitDiff           *string         `json:"git_diff"`
		MessageMetadata   json.RawMessage `json:"message_metadata"`
	}
	params, err := func() (db.SendAgentMessageParams, error) {
		if err := decodeJSON(w, r, &req, false); err != nil {
			return db.SendAgentMessageParams{}, err
		}
		id, err := requiredUUID(req.AgentInstanceID, "agent_instance_id")
		if err != nil {
			return db.SendAgentMessageParams{}, err
		}
		content, err := required(req.Content, "content")
		if err != nil {
			return db.SendAgentMessageParams{}, err
		}
		key, err := idempotencyKey(r)
		return db.SendAgentMessageParams{
			UserID: p.UserID, InstanceID: id, AgentType: valueOr(req.AgentType, ""), Content: content,
			RequiresUserInput: valueOr(req.RequiresUserInput, false), GitDiff: req.GitDiff,
			Metadata: req.MessageMetadata, IdempotencyKey: key,
		}, err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.store.SendAgentMessage(r.Context(), params)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":              true,
		"agent_instance_id":    res.InstanceID.String(),
		"message_id":           res.MessageID.String(),
		"queued_user_messages": messagesResponse(res.Queued),
	})
}

// POST /api/v1/messages/user (contract §2.2).
func (s *Server) createUserMessage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req struct {
		AgentInstanceID *string `json:"agent_instance_id"`
		Content         *string `json:"content"`
		MarkAsRead      *bool   `json:"mark_as_read"`
	}
	params, err := func() (db.CreateUserMessageParams, error) {
		if err := decodeJSON(w, r, &req, false); err != nil {
			return db.CreateUserMessageParams{}, err
		}
		id, err := requiredUUID(req.AgentInstanceID, "agent_instance_id")
		if err != nil {
			return db.CreateUserMessageParams{}, err
		}
		content, err := required(req.Content, "content")
		if err != nil {
			return db.CreateUserMessageParams{}, err
		}
		key, err := idempotencyKey(r)
		return db.CreateUserMessageParams{
			UserID: p.UserID, InstanceID: id, Content: content,
			MarkAsRead: valueOr(req.MarkAsRead, true), IdempotencyKey: key,
		}, err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.store.CreateUserMessage(r.Context(), params)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":        true,
		"message_id":     res.MessageID.String(),
		"marked_as_read": res.MarkedAsRead,
	})
}

// GET /api/v1/messages/pending (contract §2.3). An empty or absent
// last_read_message_id means "none": read without consuming.
func (s *Server) pendingMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	q := r.URL.Query()
	if !q.Has("agent_instance_id") {
		s.fail(w, r, badRequest(http.StatusUnprocessableEntity, "agent_instance_id is required"))
		return
	}
	id, err := parseUUID(q.Get("agent_instance_id"), "agent_instance_id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var lastRead *uuid.UUID
	if raw := q.Get("last_read_message_id"); raw != "" {
		lr, err := parseUUID(raw, "last_read_message_id")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		lastRead = &lr
	}
	res, err := s.store.PendingMessages(r.Context(), p.UserID, id, lastRead)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"agent_instance_id": res.InstanceID.String(),
		"messages":          messagesResponse(res.Messages),
		"status":            res.Status,
	})
}

// PATCH /api/v1/messages/{message_id}/request-input (contract §2.4).
func (s *Server) requestInput(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, err := parseUUID(r.PathValue("message_id"), "message_id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.store.RequestInput(r.Context(), p.UserID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":           true,
		"message_id":        res.MessageID.String(),
		"agent_instance_id": res.InstanceID.String(),
		"messages":          messagesResponse(res.Messages),
		"status":            res.Status,
	})
}

// POST /api/v1/sessions/end (contract §2.5).
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req struct {
		AgentInstanceID *string `json:"agent_instance_id"`
	}
	id, err := func() (uuid.UUID, error) {
		if err := decodeJSON(w, r, &req, false); err != nil {
			return uuid.Nil, err
		}
		return requiredUUID(req.AgentInstanceID, "agent_instance_id")
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.store.EndSession(r.Context(), p.UserID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":           true,
		"agent_instance_id": res.InstanceID.String(),
		"final_status":      string(res.FinalStatus),
	})
}

// POST /api/v1/agent-instances (contract §2.6): 201, or 409 when the id is
// taken.
func (s *Server) registerInstance(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req struct {
		AgentType       *string `json:"agent_type"`
		AgentInstanceID *string `json:"agent_instance_id"`
		Name            *string `json:"name"`
		Transport       *string `json:"transport"`
	}
	params, err := func() (db.RegisterInstanceParams, error) {
		if err := decodeJSON(w, r, &req, false); err != nil {
			return db.RegisterInstanceParams{}, err
		}
		agentType, err := required(req.AgentType, "agent_type")
		if err != nil {
			return db.RegisterInstanceParams{}, err
		}
		params := db.RegisterInstanceParams{UserID: p.UserID, AgentType: agentType, Name: req.Name, Transport: req.Transport}
		if req.AgentInstanceID != nil && *req.AgentInstanceID != "" {
			id, err := uuid.Parse(*req.AgentInstanceID)
			if err != nil || len(*req.AgentInstanceID) != 36 {
				return params, badRequest(http.StatusBadRequest, "Invalid agent_instance_id")
			}
			params.InstanceID = &id
		}
		return params, nil
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inst, err := s.store.RegisterInstance(r.Context(), params)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var metadata any
	if len(inst.InstanceMetadata) > 0 {
		metadata = json.RawMessage(inst.InstanceMetadata)
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"agent_instance_id": inst.ID.String(),
		"agent_type_id":     inst.UserAgentID.String(),
		"agent_type_name":   inst.AgentTypeName,
		"status":            string(inst.Status),
		"name":              inst.Name,
		"instance_metadata": metadata,
	})
}

// POST /api/v1/agents/instances/{agent_instance_id}/heartbeat (contract §2.6).
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, err := parseUUID(r.PathValue("agent_instance_id"), "agent_instance_id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	at, err := s.store.Heartbeat(r.Context(), p.UserID, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"agent_instance_id": id.String(),
		"last_heartbeat_at": omnaraTime(at) + "Z",
	})
}

// GET /api/v1/auth/verify (contract §2.6).
func (s *Server) verifyAuth(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	u, err := s.store.GetUser(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"success":      true,
		"user_id":      u.ID.String(),
		"email":        u.Email,
		"display_name": u.DisplayName,
		"message":      "Authentication successful",
	})
}
