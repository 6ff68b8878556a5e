package db

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

func newInstance(ctx context.Context, q *Queries, userID, id uuid.UUID, agentType string, name *string, metadata []byte) (AgentInstance, error) {
	agentType = NormalizeAgentType(agentType)
	if agentType == "" {
		return AgentInstance{}, Errorf(EInvalid, "agent_type is required when creating new instance")
	}
	if len(agentType) > MaxAgentTypeLen {
		return AgentInstance{}, Errorf(EInvalid, "agent_type is longer than %d characters", MaxAgentTypeLen)
	}
	ua, err := q.UpsertUserAgent(ctx, UpsertUserAgentParams{UserID: userID, Name: agentType})
	if pgCode(err) == sqlstateForeignKey {
		return AgentInstance{}, Errorf(ENotFound, "User not found")
	} else if err != nil {
		return AgentInstance{}, fmt.Errorf("agent type: %w", err)
	}
	inst, err := q.CreateInstance(ctx, CreateInstanceParams{
		ID: id, UserID: userID, UserAgentID: ua.ID, Name: name, InstanceMetadata: metadata,
	})
	if isNoRows(err) {
		return AgentInstance{}, Errorf(EConflict, "Agent instance already exists")
	} else if err != nil {
		return AgentInstance{}, fmt.Errorf("create instance: %w", err)
	}
	return inst, recordEvent(ctx, q, inst, EventInstance, nil)
}

// EndSessionResult is an ended session.
type EndSessionResult struct {
	InstanceID  uuid.UUID   `json:"agent_instance_id"`
	FinalStatus AgentStatus `json:"final_status"`
}

// EndSession marks the instance COMPLETED and sets its end time (the first
// one stays). Ending twice is not an error.
func (s *Store) EndSession(ctx context.Context, userID, instanceID uuid.UUID) (EndSessionResult, error) {
	res, _, err := withInstance(ctx, s, instanceOp{userID: userID, id: instanceID, mode: mustExist},
		func(t *instanceTx) (EndSessionResult, error) {
			before, err := t.Instance(ctx)
			if err != nil {
				return EndSessionResult{}, err
			}
			if before.Status == AgentStatusCOMPLETED {
				// Ended already: nothing changes, so nothing is announced.
				return EndSessionResult{InstanceID: before.ID, FinalStatus: before.Status}, nil
			}
			inst, err := t.EndInstance(ctx, EndInstanceParams{ID: instanceID, UserID: userID})
			if err != nil {
				return EndSessionResult{}, fmt.Errorf("end instance: %w", err)
			}
			if err := recordEvent(ctx, t.Queries, inst, EventStatus, nil); err != nil {
				return EndSessionResult{}, err
			}
			if err := s.withdrawWaiting(ctx, t, before); err != nil {
				return EndSessionResult{}, err
			}
			return EndSessionResult{InstanceID: inst.ID, FinalStatus: inst.Status}, s.enqueueWebhooks(ctx, t, userID,
				WebhookData{AgentInstanceID: inst.ID, Status: string(inst.Status)}, EventSessionEnded)
		})
	return res, err
}

// RegisterInstanceParams names a new instance before its first message.
// InstanceID nil means "choose one".
type RegisterInstanceParams struct {
	UserID     uuid.UUID
	InstanceID *uuid.UUID
	AgentType  string
	Name       *string
	Transport  *string
}

// InstanceInfo is an instance with its agent type and, while it waits for
// input, its open question.
type InstanceInfo struct {
	AgentInstance
	AgentTypeName string
	OpenQuestion  *Question
}

// Question is an agent's question waiting for an answer.
type Question struct {
	ID        uuid.UUID
	Content   string
	CreatedAt time.Time
}

func openQuestion(id uuid.UUID, content string, at time.Time) *Question {
	if id == uuid.Nil {
		return nil
	}
	return &Question{ID: id, Content: content, CreatedAt: at}
}

// RegisterInstance creates an instance ahead of its first message. An id
// that exists already (for any user) is a conflict.
func (s *Store) RegisterInstance(ctx context.Context, p RegisterInstanceParams) (InstanceInfo, error) {
	op := instanceOp{userID: p.UserID, id: uuid.New(), mode: createNew, agentType: p.AgentType, name: p.Name}
	if p.InstanceID != nil {
		op.id = *p.InstanceID
	}
	if p.Transport != nil && *p.Transport != "" {
		op.metadata, _ = json.Marshal(map[string]string{"transport": *p.Transport})
	}
	res, _, err := withInstance(ctx, s, op, func(t *instanceTx) (InstanceInfo, error) {
		inst, err := t.Instance(ctx)
		return InstanceInfo{AgentInstance: inst, AgentTypeName: NormalizeAgentType(p.AgentType)}, err
	})
	return res, err
}

// Heartbeat records that the agent of an instance is alive and returns the
// time recorded.
func (s *Store) Heartbeat(ctx context.Context, userID, instanceID uuid.UUID) (time.Time, error) {
	at, _, err := withInstance(ctx, s, instanceOp{userID: userID, id: instanceID, mode: mustExist},
		func(t *instanceTx) (time.Time, error) {
			at, err := t.Final().TouchHeartbeat(ctx, TouchHeartbeatParams{ID: instanceID, UserID: userID})
			if err != nil {
				return time.Time{}, fmt.Errorf("heartbeat: %w", err)
			}
			return *at, nil
		})
	return at, err
}

// GetInstance returns one of the user's instances with its agent type.
func (s *Store) GetInstance(ctx context.Context, userID, instanceID uuid.UUID) (InstanceInfo, error) {
	row, err := New(s.pool).GetInstanceOverview(ctx, GetInstanceOverviewParams{ID: instanceID, UserID: userID})
	if isNoRows(err) {
		return InstanceInfo{}, Errorf(ENotFound, "Agent instance not found")
	} else if err != nil {
		return InstanceInfo{}, fmt.Errorf("get instance: %w", err)
	}
	return overviewInfo(row), nil
}

func overviewInfo(o InstanceOverview) InstanceInfo {
	return InstanceInfo{
		AgentInstance: AgentInstance{
			ID: o.ID, UserID: o.UserID, UserAgentID: o.UserAgentID, Status: o.Status, Name: o.Name,
			InstanceMetadata: o.InstanceMetadata, GitDiff: o.GitDiff, StartedAt: o.StartedAt, EndedAt: o.EndedAt,
			LastHeartbeatAt: o.LastHeartbeatAt, LastReadMessageID: o.LastReadMessageID, LastReadSeq: o.LastReadSeq,
			LastActivityAt: o.LastActivityAt, StepCount: o.StepCount, PermissionRules: o.PermissionRules,
		},
		AgentTypeName: o.AgentTypeName,
		OpenQuestion:  openQuestion(o.QuestionID, o.QuestionContent, o.QuestionCreatedAt),
	}
}

// InstanceCursor is where a page of instances ends: the last one's
// activity time and id.
type InstanceCursor struct {
	At time.Time
	ID uuid.UUID
}

// MaxPageSize bounds every page.
const MaxPageSize = 200

// firstPage is the cursor of a list's first page: before every row.
var firstPage = InstanceCursor{At: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), ID: uuid.Max}

// ListInstances returns a page of the user's instances, latest activity
// first (optionally only those of one status), after cursor; next is set
// when more may follow. Every page, the first or the thousandth, is one
// index range scan.
func (s *Store) ListInstances(ctx context.Context, userID uuid.UUID, status *AgentStatus, after *InstanceCursor, limit int) (page []InstanceInfo, next *InstanceCursor, err error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, nil, Errorf(EInvalid, "limit must be from 1 to %d", MaxPageSize)
	}
	c := firstPage
	if after != nil {
		c = *after
	}
	var rows []InstanceOverview
	if status != nil {
		rows, err = New(s.pool).ListInstancesByStatus(ctx, ListInstancesByStatusParams{UserID: userID, Status: *status,
			BeforeAt: c.At, BeforeID: c.ID, Lim: int32(limit) + 1})
	} else {
		rows, err = New(s.pool).ListInstances(ctx, ListInstancesParams{UserID: userID,
			BeforeAt: c.At, BeforeID: c.ID, Lim: int32(limit) + 1})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list instances: %w", err)
	}
	page = make([]InstanceInfo, 0, min(len(rows), limit))
	for i, r := range rows {
		if i == limit {
			last := page[limit-1]
			next = &InstanceCursor{At: last.LastActivityAt, ID: last.ID}
			break
		}
		page = append(page, overviewInfo(r))
	}
	return page, next, nil
}

// ListMessages returns up to limit messages of the user's instance after
// seq afterSeq, oldest first, and whether more follow.
func (s *Store) ListMessages(ctx context.Context, userID, instanceID uuid.UUID, afterSeq int64, limit int) ([]Message, bool, error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, false, Errorf(EInvalid, "limit must be from 1 to %d", MaxPageSize)
	}
	type page struct {
		msgs []Message
		more bool
	}
	res, err := withTx(ctx, s, func(q *Queries) (page, error) {
		if _, err := q.GetInstance(ctx, GetInstanceParams{ID: instanceID, UserID: userID}); isNoRows(err) {
			return page{}, Errorf(ENotFound, "Agent instance not found")
		} else if err != nil {
			return page{}, fmt.Errorf("get instance: %w", err)
		}
		msgs, err := q.ListInstanceMessages(ctx, ListInstanceMessagesParams{
			AgentInstanceID: instanceID, UserID: userID, AfterSeq: afterSeq, Lim: int32(limit) + 1,
		})
		if err != nil {
			return page{}, fmt.Errorf("list messages: %w", err)
		}
		if len(msgs) > limit {
			return page{msgs[:limit], true}, nil
		}
		return page{msgs, false}, nil
	})
	return res.msgs, res.more, err
}

// Preview is what the session list shows of a session's conversation:
// its first message (a title, when the session has no name) and its
// latest.
type Preview struct {
	First, Last string
	// LastSender: AGENT or USER ("" with no message).
	LastSender string
}

// Previews returns the previews of the user's instances (ids of other
// users' get empty ones).
func (s *Store) Previews(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]Preview, error) {
	rows, err := New(s.pool).InstancePreviews(ctx, InstancePreviewsParams{Ids: ids, UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("previews: %w", err)
	}
	out := make(map[uuid.UUID]Preview, len(rows))
	for _, r := range rows {
		out[r.ID] = Preview{First: r.FirstContent, Last: r.LastContent, LastSender: r.LastSender}
	}
	return out, nil
}
