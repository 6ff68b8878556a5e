package db

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Kinds of messages besides steps and questions.
const (
	// KindPermission: an agent's permission request (a question with the
	// options allow once / allow for the session / deny), or the record
	// of one a session rule allowed at once.
	KindPermission = "permission"
	// KindDecision: the person's answer to a permission request. It is
	// about the request, not an instruction: never queued for the agent,
	// never the answer to another question.
	KindDecision = "decision"
	// KindRecord: what an agent's hook reported (a notification, a
	// subagent's end). The agent did not write it: it hands nothing over,
	// does not move on from a question, and leaves the status.
	KindRecord = "record"
)

// What became of a permission request (Decision.Outcome).
const (
	OutcomeAllow        = "allow"         // the person allowed it once
	OutcomeAllowSession = "allow_session" // and matching requests for the rest of the session
	OutcomeDeny         = "deny"          // the person denied it (Message says why)
	OutcomeAutoAllow    = "auto_allow"    // a session rule the person made allowed it
	OutcomeExpired      = "expired"       // nobody decided while the agent waited
)

// DeniedMessage is the deny message when the person chose "No" without
// saying why.
const DeniedMessage = "Permission denied by user"

// DefaultPermissionWait is how long a hook waits for the person's decision
// by default: under Claude Code's 600 s hook timeout, so the hook answers
// "no decision" (the agent asks locally) before the agent gives up on it.
const DefaultPermissionWait = 540 * time.Second

// MaxToolNameLen is the longest tool name a permission request may carry.
const MaxToolNameLen = 255

// PermissionRequest is what an agent asks permission for (a permission
// request's permission column).
type PermissionRequest struct {
	ToolName  string          `json:"tool_name"`
	ToolInput json.RawMessage `json:"tool_input"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	// Rule is what "allow for the rest of the session" allows: Bash(ls:*)
	// (a Bash command's first word) or the tool's name.
	Rule string `json:"rule"`
}

// Decision is what became of a permission request (its decision column).
type Decision struct {
	Outcome string `json:"outcome"`
	// Message: why the person denied (the agent is told).
	Message string `json:"message,omitempty"`
	// Rule: the session rule made (allow_session) or applied (auto_allow).
	Rule string `json:"rule,omitempty"`
	// AnswerID: the person's message that decided.
	AnswerID *uuid.UUID `json:"answer_id,omitempty"`
	// Late: a decision the person made after the request expired;
	// recorded, not applied.
	Late *Decision `json:"late,omitempty"`
}

// Allows reports whether the decision lets the tool run.
func (d Decision) Allows() bool {
	return d.Outcome == OutcomeAllow || d.Outcome == OutcomeAllowSession || d.Outcome == OutcomeAutoAllow
}

// ParseDecision reads a message's decision column (nil: none yet).
func ParseDecision(raw []byte) *Decision { return parseColumn[Decision](raw) }

// ParsePermission reads a message's permission column (nil: none).
func ParsePermission(raw []byte) *PermissionRequest { return parseColumn[PermissionRequest](raw) }

// parseColumn reads a jsonb column the store wrote (nil: NULL).
func parseColumn[T any](raw []byte) *T {
	if len(raw) == 0 {
		return nil
	}
	var v T
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return &v
}

// RequestPermissionParams is an agent's request to use a tool.
type RequestPermissionParams struct {
	UserID     uuid.UUID
	InstanceID uuid.UUID
	// AgentType and InstanceMetadata describe the session when the
	// request starts it.
	AgentType        string
	InstanceMetadata json.RawMessage
	ToolName         string
	ToolInput        json.RawMessage
	ToolUseID        string
}

// PermissionResult is a permission request's end: the person's decision,
// a session rule's, or expired (nobody decided in time; the agent must
// ask locally, never run the tool).
type PermissionResult struct {
	InstanceID uuid.UUID
	RequestID  uuid.UUID
	Decision   Decision
	// Ended: the session ended (or had ended) before a decision.
	Ended bool
}

// RequestPermission asks the person whether the agent may use a tool, and
// waits until deadline for the decision. A session rule that matches
// allows it at once (recorded, for the person to see). Otherwise it is a
// question of kind permission with the options allow once, allow for the
// session, deny. When the wait ends undecided (deadline, ctx, session
// ended) the request is marked expired in the same transaction that looks
// a last time, so a decision is either returned here or recorded as late:
// never applied unseen, never lost.
func (s *Store) RequestPermission(ctx context.Context, p RequestPermissionParams, deadline time.Time) (PermissionResult, error) {
	req, err := newPermissionRequest(p)
	if err != nil {
		return PermissionResult{}, err
	}
	if p.InstanceID == uuid.Nil {
		p.InstanceID = uuid.New()
	}
	op := instanceOp{userID: p.UserID, id: p.InstanceID, mode: createMissing, agentType: p.AgentType,
		metadata: nullJSON(p.InstanceMetadata)}
	// Opening is not cut short by the caller going away: a request that
	// committed while the caller left must be known here, to be expired
	// below rather than left open with nobody waiting.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultOpTimeout)
	res, _, err := withInstance(octx, s, op, func(t *instanceTx) (PermissionResult, error) {
		return s.openPermission(octx, t, p, req, deadline)
	})
	cancel()
	if err != nil || res.Decision.Outcome != "" || res.Ended {
		return res, err
	}
	countPermission("requested")
	var decided *Decision
	werr := s.waitFor(ctx, res.InstanceID, deadline, func() (bool, error) {
		var ended bool
		var err error
		decided, ended, err = s.lookDecision(ctx, p.UserID, res.RequestID)
		return decided != nil || ended, err
	})
	if werr == nil && decided != nil {
		res.Decision = *decided
	} else {
		// Undecided, or the wait failed: expire it, looking a last time
		// under the lock, whatever ended the wait (even the caller going
		// away), so no request stays open with nobody waiting for it.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultOpTimeout)
		res.Decision, res.Ended, _, err = s.expirePermission(ectx, p.UserID, res.InstanceID, res.RequestID)
		cancel()
		if err != nil && werr != nil {
			err = fmt.Errorf("%w (and the wait: %v)", err, werr)
		}
	}
	if err == nil {
		countPermission(res.Decision.Outcome)
	}
	return res, err
}

// newPermissionRequest checks an agent's request and derives its rule.
func newPermissionRequest(p RequestPermissionParams) (PermissionRequest, error) {
	tool := strings.TrimSpace(p.ToolName)
	switch {
	case tool == "":
		return PermissionRequest{}, Errorf(EInvalid, "tool_name is required")
	case utf8.RuneCountInString(tool) > MaxToolNameLen:
		return PermissionRequest{}, Errorf(EInvalid, "tool_name is longer than %d characters", MaxToolNameLen)
	}
	input := bytes.TrimSpace(p.ToolInput)
	if len(input) == 0 || string(input) == "null" {
		input = json.RawMessage("{}")
	}
	var obj map[string]any
	if json.Unmarshal(input, &obj) != nil {
		return PermissionRequest{}, Errorf(EInvalid, "tool_input must be a JSON object")
	}
	rule, _, _ := permissionRule(tool, input)
	return PermissionRequest{ToolName: tool, ToolInput: input, ToolUseID: p.ToolUseID, Rule: rule}, nil
}

// openPermission is RequestPermission's first transaction, on the locked
// instance: allowed at once by a rule, or a new question.
func (s *Store) openPermission(ctx context.Context, t *instanceTx, p RequestPermissionParams, req PermissionRequest,
	deadline time.Time) (PermissionResult, error) {
	inst, err := t.Instance(ctx)
	if err != nil {
		return PermissionResult{}, err
	}
	res := PermissionResult{InstanceID: inst.ID}
	if inst.Status == AgentStatusCOMPLETED {
		res.Ended = true
		return res, nil
	}
	_, what, simple := permissionRule(req.ToolName, req.ToolInput)
	text := permissionText(req)
	raw, err := json.Marshal(req)
	if err != nil {
		return PermissionResult{}, err
	}
	// KeepQueue: the person's messages stay queued (a request hands the
	// agent nothing).
	msg := SendAgentMessageParams{UserID: p.UserID, InstanceID: inst.ID, Content: text, KeepQueue: true,
		extra: &messageExtra{kind: KindPermission, permission: raw}}
	if simple && slices.Contains(inst.PermissionRules, req.Rule) {
		res.Decision = Decision{Outcome: OutcomeAutoAllow, Rule: req.Rule}
		msg.extra.decision, _ = json.Marshal(res.Decision)
		msg.Content = "Allowed by the session rule " + req.Rule + ": " + text
		notify := false
		msg.Notify = &notify
		sent, err := s.appendAgentMessage(ctx, t, msg)
		res.RequestID = sent.MessageID
		return res, err
	}
	msg.Options = []string{"Yes", "Yes and approve " + what + " for rest of session", "No"}
	msg.Content = withOptionsBlock(text, msg.Options)
	msg.RequiresUserInput = true
	msg.extra.expiresAt = &deadline
	sent, err := s.appendAgentMessage(ctx, t, msg)
	if err != nil {
		return PermissionResult{}, err
	}
	res.RequestID = sent.MessageID
	return res, s.enqueueExpiry(ctx, t, ExpirePermissionArgs{UserID: p.UserID, InstanceID: inst.ID, RequestID: res.RequestID}, deadline)
}

// lookDecision reads a request's decision once, and whether its session
// has ended.
func (s *Store) lookDecision(ctx context.Context, userID, requestID uuid.UUID) (*Decision, bool, error) {
	q := New(s.pool)
	m, err := q.GetAgentMessage(ctx, GetAgentMessageParams{ID: requestID, UserID: userID})
	if err != nil {
		return nil, false, fmt.Errorf("get request: %w", err)
	}
	if d := ParseDecision(m.Decision); d != nil {
		return d, false, nil
	}
	inst, err := q.GetInstance(ctx, GetInstanceParams{ID: m.AgentInstanceID, UserID: userID})
	if err != nil {
		return nil, false, fmt.Errorf("get instance: %w", err)
	}
	return nil, inst.Status == AgentStatusCOMPLETED, nil
}

// expirePermission ends the wait for a request: under the instance's lock
// it returns the decision made in the meantime, or records "expired"
// (and says so: expired). ended: the session has ended.
func (s *Store) expirePermission(ctx context.Context, userID, instanceID, requestID uuid.UUID) (d Decision, ended, expired bool, err error) {
	type out struct {
		d              Decision
		ended, expired bool
	}
	res, _, err := withInstance(ctx, s, instanceOp{userID: userID, id: instanceID, mode: mustExist},
		func(t *instanceTx) (out, error) {
			inst, err := t.Instance(ctx)
			if err != nil {
				return out{}, err
			}
			m, err := t.GetAgentMessage(ctx, GetAgentMessageParams{ID: requestID, UserID: userID})
			if err != nil {
				return out{}, fmt.Errorf("get request: %w", err)
			}
			if d := ParseDecision(m.Decision); d != nil {
				return out{d: *d}, nil
			}
			d := Decision{Outcome: OutcomeExpired}
			if err := s.setDecision(ctx, t, inst, m, d); err != nil {
				return out{}, err
			}
			return out{d: d, ended: inst.Status == AgentStatusCOMPLETED, expired: true}, nil
		})
	return res.d, res.ended, res.expired, err
}

// applyDecision records what became of a request; "allow for the
// session" adds its rule to the session.
func applyDecision(ctx context.Context, q *Queries, inst AgentInstance, req Message, d Decision) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := q.SetDecision(ctx, SetDecisionParams{Decision: raw, ID: req.ID, UserID: inst.UserID}); err != nil {
		return fmt.Errorf("set decision: %w", err)
	}
	if d.Outcome == OutcomeAllowSession && d.Rule != "" {
		if err := q.AddPermissionRule(ctx, AddPermissionRuleParams{Rule: d.Rule, ID: inst.ID, UserID: inst.UserID}); err != nil {
			return fmt.Errorf("add rule: %w", err)
		}
	}
	return nil
}

// setDecision applies a decision nobody's message carries (expired),
// settles the instance's status (it waits while another question does)
// and tells the live view.
func (s *Store) setDecision(ctx context.Context, t *instanceTx, inst AgentInstance, req Message, d Decision) error {
	if err := applyDecision(ctx, t.Queries, inst, req, d); err != nil {
		return err
	}
	if inst.Status == AgentStatusAWAITINGINPUT {
		waiting, err := stillWaiting(ctx, t.Queries, inst)
		if err != nil {
			return err
		}
		if !waiting {
			if err := t.SetStatusUnlessCompleted(ctx, SetStatusUnlessCompletedParams{
				Status: AgentStatusACTIVE, ID: inst.ID, UserID: inst.UserID,
			}); err != nil {
				return fmt.Errorf("update status: %w", err)
			}
			inst.Status = AgentStatusACTIVE
		}
	}
	if err := recordEvent(ctx, t.Queries, inst, EventMessage, &req.ID); err != nil {
		return err
	}
	// The devices that show the request close it.
	return s.withdraw(ctx, t, inst.UserID, inst.ID, req.ID)
}

// stillWaiting reports whether a question of the instance waits for the
// person: an open permission request, or a question no message answered.
func stillWaiting(ctx context.Context, q *Queries, inst AgentInstance) (bool, error) {
	open, err := q.OpenPermissions(ctx, OpenPermissionsParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
	if err != nil {
		return false, fmt.Errorf("open requests: %w", err)
	}
	if len(open) > 0 {
		return true, nil
	}
	plain, err := q.OpenPlainQuestion(ctx, OpenPlainQuestionParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
	if err != nil {
		return false, fmt.Errorf("open question: %w", err)
	}
	return plain, nil
}

// decisionOf is what a person's answer to a permission request decides:
// by its option (allow once, allow for the session, deny) or, for free
// text, a deny whose message is that text (it guides the agent).
func decisionOf(req Message, answer Message) Decision {
	perm := ParsePermission(req.Permission)
	d := Decision{AnswerID: &answer.ID}
	idx := OptionIndex(req, answer)
	if answer.OptionIndex != nil && int(*answer.OptionIndex) == denyOption {
		idx = &denyOption // chosen, with or without a reason
	}
	switch {
	case idx == nil:
		d.Outcome, d.Message = OutcomeDeny, answer.Content
	case *idx == 0:
		d.Outcome = OutcomeAllow
	case *idx == 1 && perm != nil && perm.Rule != "":
		d.Outcome, d.Rule = OutcomeAllowSession, perm.Rule
	case *idx == 1:
		d.Outcome = OutcomeAllow
	case labelKey(answer.Content) == labelKey(req.Options[denyOption]):
		d.Outcome, d.Message = OutcomeDeny, DeniedMessage
	default:
		d.Outcome, d.Message = OutcomeDeny, answer.Content
	}
	return d
}

// denyOption is the index of a permission request's "No": it may carry
// the person's reason as its content.
var denyOption = 2

// permissionRule is a request's session rule, the words its option shows
// ("Yes and approve <what> for rest of session"), and whether the rule may
// allow this request at once. For Bash the rule is the command's first
// word, and only a simple command (no chaining, pipes, redirection,
// substitution or variables) matches it: "allow ls" must not allow
// "ls; rm -rf ~".
func permissionRule(tool string, input json.RawMessage) (rule, what string, simple bool) {
	if tool == "AskUserQuestion" {
		return "", tool, false // a question for the person: never allowed by a rule
	}
	if tool != "Bash" {
		return tool, tool, true
	}
	var in struct {
		Command string `json:"command"`
	}
	_ = json.Unmarshal(input, &in)
	fields := strings.Fields(in.Command)
	if len(fields) == 0 {
		return "", "Bash", false
	}
	first := fields[0]
	simple = !strings.ContainsAny(in.Command, ";&|<>$`\\(){}\n\r!*?[]#~'\"") && !strings.Contains(first, "=")
	return "Bash(" + first + ":*)", first, simple
}

// permissionText is a request's question as text (the page shows the
// request from its permission column; this is for every other reader).
func permissionText(req PermissionRequest) string {
	var in map[string]any
	_ = json.Unmarshal(req.ToolInput, &in)
	str := func(k string) string { s, _ := in[k].(string); return s }
	switch {
	case req.ToolName == "Bash" && str("command") != "":
		fence := codeFence(str("command"))
		text := "Allow Bash?\n\n" + fence + "bash\n" + str("command") + "\n" + fence
		if d := str("description"); d != "" {
			text += "\n" + d
		}
		return text
	case str("file_path") != "":
		return "Allow " + req.ToolName + " on " + str("file_path") + "?"
	}
	pretty, err := json.MarshalIndent(in, "", "  ")
	if err != nil || len(in) == 0 {
		return "Allow " + req.ToolName + "?"
	}
	fence := codeFence(string(pretty))
	return "Allow " + req.ToolName + "?\n\n" + fence + "json\n" + string(pretty) + "\n" + fence
}

// codeFence is a Markdown fence that text cannot close: one backtick more
// than its longest run (at least three).
func codeFence(text string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// OpenPermissionRequests returns the session's permission requests that
// wait for the person, oldest first.
func (s *Store) OpenPermissionRequests(ctx context.Context, userID, instanceID uuid.UUID) ([]Message, error) {
	msgs, err := New(s.pool).OpenPermissions(ctx, OpenPermissionsParams{AgentInstanceID: instanceID, UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("open requests: %w", err)
	}
	return msgs, nil
}
