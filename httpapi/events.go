package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// DefaultHeartbeat is how often an idle event stream sends a comment, so
// proxies and clients know it is alive.
const DefaultHeartbeat = 15 * time.Second

// eventBatch is the most events read per database round trip.
const eventBatch = 100

// GET /api/v1/events: Server-Sent Events of the user's sessions (messages,
// status changes, new sessions; ids and small values, never content).
// Every event has an id; a client that reconnects with Last-Event-ID (or
// ?last_event_id=) gets exactly what it missed. Without one it gets what
// happens from now on.
func (s *Server) events(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	ctx := r.Context()
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	var cursor db.EventCursor
	if last != "" {
		c, ok := parseEventID(last)
		if !ok {
			writeProblem(w, http.StatusUnprocessableEntity, "Last-Event-ID is not an event id this server gave out")
			return
		}
		cursor = c
	} else {
		c, err := s.store.EventsStart(ctx)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cursor = c
	}
	// Watch before the first read, so nothing committed in between is
	// missed.
	sub, err := s.store.Watch(ctx, p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()

	lastWrite := time.Now()
	blockedWait := 20 * time.Millisecond
	for {
		evs, blocked, err := s.store.EventsAfter(ctx, p.UserID, cursor, eventBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "event stream", "err", err)
			}
			return
		}
		for _, ev := range evs {
			if err := writeEvent(w, ev); err != nil {
				return
			}
			cursor = db.EventCursor{Xid: ev.Xid, Seq: ev.Seq}
		}
		if len(evs) > 0 {
			if rc.Flush() != nil {
				return
			}
			lastWrite = time.Now()
		}
		if len(evs) == eventBatch {
			continue
		}
		wait := s.streamHeartbeat - time.Since(lastWrite)
		if blocked {
			// Later events wait for an older transaction to end; look
			// again soon rather than at the next notification, backing off
			// while a long transaction holds them back.
			wait = min(wait, blockedWait)
			blockedWait = min(blockedWait*2, time.Second)
		} else {
			blockedWait = 20 * time.Millisecond
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.store.Stopped():
			t.Stop()
			return
		case <-sub.C:
			t.Stop()
		case <-t.C:
		}
		if time.Since(lastWrite) >= s.streamHeartbeat {
			// A stream lives long: its key must still be good.
			if _, err := s.authenticate(r); err != nil {
				return
			}
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			lastWrite = time.Now()
		}
	}
}

func writeEvent(w http.ResponseWriter, ev db.Change) error {
	var msg string
	if ev.MessageID != nil {
		msg = fmt.Sprintf(`,"message_id":%q`, ev.MessageID.String())
	}
	_, err := fmt.Fprintf(w, "id: %d.%d\nevent: %s\ndata: {\"kind\":%q,\"agent_instance_id\":%q%s,\"status\":%q,\"created_at\":%q}\n\n",
		ev.Xid, ev.Seq, ev.Kind, ev.Kind, ev.AgentInstanceID.String(), msg, string(ev.Status), ev.CreatedAt.UTC().Format(time.RFC3339Nano))
	return err
}

// parseEventID reads "<xid>.<seq>".
func parseEventID(s string) (db.EventCursor, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return db.EventCursor{}, false
	}
	xid, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || xid < 0 || seq < 0 {
		return db.EventCursor{}, false
	}
	return db.EventCursor{Xid: xid, Seq: seq}, true
}
