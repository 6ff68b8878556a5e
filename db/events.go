package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Kinds of events of a person's live view.
const (
	EventMessage  = "message"  // a message was added (by the agent or a person)
	EventStatus   = "status"   // the status changed without a message (ended, say)
	EventInstance = "instance" // a session was created
)

// Change is an event of a user's sessions, in the order the live view
// shows them. (Xid, Seq) is its place: a stream resumes after it.
type Change struct {
	Xid, Seq        int64
	Kind            string
	AgentInstanceID uuid.UUID
	MessageID       *uuid.UUID
	Status          AgentStatus
	CreatedAt       time.Time
}

// EventCursor is a place in a user's event stream.
type EventCursor struct{ Xid, Seq int64 }

func recordEvent(ctx context.Context, q *Queries, inst AgentInstance, kind string, messageID *uuid.UUID) error {
	if err := q.AddEvent(ctx, AddEventParams{
		UserID: inst.UserID, AgentInstanceID: inst.ID, Kind: kind, MessageID: messageID, Status: inst.Status,
	}); err != nil {
		return fmt.Errorf("add event: %w", err)
	}
	return nil
}

// EventsStart is where a stream that names no last event begins: only
// what happens from now on.
func (s *Store) EventsStart(ctx context.Context) (EventCursor, error) {
	xmin, err := New(s.pool).EventHorizon(ctx)
	// Events of transactions older than xmin are history; any xid from
	// xmin on may still commit, and all its events come after (xmin-1, max).
	return EventCursor{Xid: xmin - 1, Seq: 1<<63 - 1}, err
}

// EventsAfter returns up to limit of the user's final events after c, in
// order, and whether later events exist that still wait for older
// transactions to end (look again shortly).
func (s *Store) EventsAfter(ctx context.Context, userID uuid.UUID, c EventCursor, limit int) ([]Change, bool, error) {
	q := New(s.pool)
	rows, err := q.EventsAfter(ctx, EventsAfterParams{UserID: userID, AfterXid: c.Xid, AfterSeq: c.Seq, Lim: int32(limit)})
	if err != nil {
		return nil, false, fmt.Errorf("events: %w", err)
	}
	out := make([]Change, len(rows))
	for i, r := range rows {
		out[i] = Change{Xid: r.Xid, Seq: r.Seq, Kind: r.Kind, AgentInstanceID: r.AgentInstanceID,
			MessageID: r.MessageID, Status: r.Status, CreatedAt: r.CreatedAt}
	}
	if len(out) == limit {
		return out, false, nil
	}
	blocked, err := q.EventsBlocked(ctx, EventsBlockedParams{UserID: userID, AfterXid: c.Xid, AfterSeq: c.Seq})
	return out, blocked, err
}

// Watch subscribes to changes of an id (a user's events, an instance):
// its C signals when it may have changed after Watch returned. Close it
// when done. Without a hub it never signals.
func (s *Store) Watch(ctx context.Context, id uuid.UUID) (*Subscription, error) {
	if s.hub == nil {
		return &Subscription{C: make(chan struct{})}, nil
	}
	return s.hub.Subscribe(ctx, id)
}

// Stopped is closed when the process shuts down: streams end then.
func (s *Store) Stopped() <-chan struct{} {
	if s.hub == nil {
		return nil
	}
	return s.hub.Stopped()
}
