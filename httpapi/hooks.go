package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// POST /api/v1/hooks/claude-code[?agent_type=Codex] (agent scope): the JSON
// Claude Code sends for a hook event (an http hook's body, or a command
// hook's stdin forwarded by `handoff hook`), answered with the hook's
// output. "No decision" is 200 with {}: the agent then does what it would
// without handoff (shows its own dialog, stops). A failure is a problem
// response, which the agent also takes as no decision: nothing is ever
// allowed by default.

// hookEvent is the input of every hook event; fields an event does not
// have stay empty.
type hookEvent struct {
	SessionID      string `json:"session_id"`
	TranscriptPath string `json:"transcript_path"`
	Cwd            string `json:"cwd"`
	PermissionMode string `json:"permission_mode"`
	HookEventName  string `json:"hook_event_name"`
	// PermissionRequest (and PreToolUse)
	ToolName  string          `json:"tool_name"`
	ToolInput json.RawMessage `json:"tool_input"`
	ToolUseID string          `json:"tool_use_id"`
	// Notification
	Message          string `json:"message"`
	NotificationType string `json:"notification_type"`
	// Stop, SubagentStop
	StopHookActive bool `json:"stop_hook_active"`
	// SessionStart, SessionEnd
	Source string `json:"source"`
	Reason string `json:"reason"`
}

// hookCall is a hook event as the principal's: its session and agent type.
type hookCall struct {
	ev        hookEvent
	userID    uuid.UUID
	instance  uuid.UUID
	agentType string
}

// hookSessions is the namespace of session ids derived from an agent's
// session id that is not a UUID.
var hookSessions = uuid.MustParse("0f3c1a52-8e4d-4b7a-9c21-5d6e7f8a9b0c")

// defaultHookAgent is the agent type of hook events that name none.
const defaultHookAgent = "Claude Code"

func parseHook(r *http.Request, w http.ResponseWriter, p auth.Principal) (hookCall, error) {
	var ev hookEvent
	if err := decodeJSON(w, r, &ev, false); err != nil {
		return hookCall{}, err
	}
	sid := strings.TrimSpace(ev.SessionID)
	if sid == "" {
		return hookCall{}, badRequest(http.StatusUnprocessableEntity, "session_id is required")
	}
	if strings.TrimSpace(ev.HookEventName) == "" {
		return hookCall{}, badRequest(http.StatusUnprocessableEntity, "hook_event_name is required")
	}
	c := hookCall{ev: ev, userID: p.UserID, agentType: defaultHookAgent}
	if at := strings.TrimSpace(r.URL.Query().Get("agent_type")); at != "" {
		if len(at) > db.MaxAgentTypeLen {
			return hookCall{}, badRequest(http.StatusUnprocessableEntity, "agent_type is longer than %d characters", db.MaxAgentTypeLen)
		}
		c.agentType = at
	}
	// The agent's session is the handoff session: its id when it is a
	// UUID, else one derived from it (the same for every event of it).
	if id, err := uuid.Parse(sid); err == nil && len(sid) == 36 {
		c.instance = id
	} else {
		c.instance = uuid.NewSHA1(hookSessions, []byte(p.UserID.String()+"/"+sid))
	}
	return c, nil
}

// hookOutput is the hook's answer: nil for no decision.
type hookOutput any

// hook runs one hook event. Each event is one store operation.
func (s *Server) hook(ctx context.Context, c hookCall) (hookOutput, error) {
	ev := c.ev
	step := func(content string) db.SendAgentMessageParams {
		meta, _ := json.Marshal(map[string]string{"cwd": ev.Cwd, "source": "hooks"})
		return db.SendAgentMessageParams{UserID: c.userID, InstanceID: c.instance, AgentType: c.agentType,
			Content: content, InstanceMetadata: meta}
	}
	notify := true
	switch ev.HookEventName {
	case "PermissionRequest":
		if ev.ToolName == "AskUserQuestion" {
			// Claude's own question to the person, not a permission: the
			// person answers it at the terminal (allowing it would answer
			// nothing). The page hears of it.
			p := step("Asks at its terminal: " + askedQuestions(ev.ToolInput))
			p.Notify, p.KeepQueue = &notify, true
			_, err := s.store.SendAgentMessage(ctx, p)
			return nil, err
		}
		res, err := s.store.RequestPermission(ctx, db.RequestPermissionParams{UserID: c.userID, InstanceID: c.instance,
			AgentType: c.agentType, InstanceMetadata: step("").InstanceMetadata, ToolName: ev.ToolName,
			ToolInput: ev.ToolInput, ToolUseID: ev.ToolUseID}, time.Now().Add(s.permissionWait))
		if err != nil {
			return nil, err
		}
		return permissionHookOutput(res.Decision), nil
	case "Stop":
		p := step("Finished its turn.")
		p.Notify = &notify
		// The agent may carry on only when this stop is not already the
		// end of a carry-on (stop_hook_active): else messages stay queued
		// for its next turn.
		p.KeepQueue = ev.StopHookActive
		res, err := s.store.SendAgentMessage(ctx, p)
		if err != nil || len(res.Queued) == 0 {
			return nil, err
		}
		// Carry on with what the person wrote (handed over once: the
		// step moved the read cursor past it).
		texts := make([]string, len(res.Queued))
		for i, m := range res.Queued {
			texts[i] = m.Content
		}
		return map[string]any{"decision": "block", "reason": strings.Join(texts, "\n\n")}, nil
	case "Notification", "SubagentStop", "SessionStart":
		var p db.SendAgentMessageParams
		switch ev.HookEventName {
		case "Notification":
			p = step(nonEmpty(ev.Message, "Notification: "+ev.NotificationType))
			// A permission prompt's notification repeats the request
			// (PermissionRequest notifies): the person hears once.
			if ev.NotificationType != "permission_prompt" {
				p.Notify = &notify
			}
		case "SubagentStop":
			p = step("A subagent finished.")
		default:
			p = step("Session started (" + nonEmpty(ev.Source, "startup") + ").")
			p.Reopen = true
		}
		p.KeepQueue = true // the agent does not read what a record returns
		_, err := s.store.SendAgentMessage(ctx, p)
		return nil, err
	case "SessionEnd":
		_, err := s.store.EndSession(ctx, c.userID, c.instance)
		if db.ErrorCode(err) == db.ENotFound {
			err = nil // a session handoff never saw: nothing to end
		}
		return nil, err
	}
	s.log.InfoContext(ctx, "hook event not handled", "event", truncate(ev.HookEventName, 64))
	return nil, nil
}

// askedQuestions is the text of AskUserQuestion's questions.
func askedQuestions(input json.RawMessage) string {
	var in struct {
		Questions []struct {
			Question string `json:"question"`
		} `json:"questions"`
	}
	_ = json.Unmarshal(input, &in)
	var qs []string
	for _, q := range in.Questions {
		if strings.TrimSpace(q.Question) != "" {
			qs = append(qs, q.Question)
		}
	}
	return nonEmpty(strings.Join(qs, "\n"), "a question")
}

// permissionHookOutput is a PermissionRequest hook's answer: allow, deny
// with the person's message, or (expired, session ended) no decision.
// Only behavior and message are sent: Codex refuses a decision that
// carries updatedInput or updatedPermissions.
func permissionHookOutput(d db.Decision) hookOutput {
	var decision map[string]any
	switch {
	case d.Allows():
		decision = map[string]any{"behavior": "allow"}
	case d.Outcome == db.OutcomeDeny:
		decision = map[string]any{"behavior": "deny", "message": nonEmpty(d.Message, db.DeniedMessage)}
	default:
		return nil
	}
	return map[string]any{"hookSpecificOutput": map[string]any{
		"hookEventName": "PermissionRequest", "decision": decision}}
}

func renderHook(out hookOutput) (int, any) {
	if out == nil {
		return http.StatusOK, struct{}{}
	}
	return http.StatusOK, out
}

func nonEmpty(s, otherwise string) string {
	if strings.TrimSpace(s) == "" {
		return otherwise
	}
	return s
}
