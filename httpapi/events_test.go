package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/httpapi"
)

// sseEvent is one event (or, with comment set, one comment) of a stream.
type sseEvent struct {
	id, name, comment string
	data              map[string]any
}

// stream opens the event stream and delivers what it reads on a channel.
func (a *api) stream(token, lastEventID string) (<-chan sseEvent, func()) {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", a.ts.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		a.t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.id != "" || ev.comment != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.data)
			}
		}
	}()
	return out, cancel
}

// next returns the next event of a stream that is not a comment.
func next(t *testing.T, c <-chan sseEvent) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-c:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.comment == "" {
				return ev
			}
		case <-time.After(time.Minute):
			t.Fatal("no event")
		}
	}
}

func TestEventStreamResumesWithoutGapOrRepeat(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	events, stop := a.stream(person, "")

	inst := uuid.NewString()
	first := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"hello"}`)
	created := next(t, events)
	if created.name != "instance" || created.data["agent_instance_id"] != inst {
		t.Fatalf("first event %+v", created)
	}
	msg := next(t, events)
	if msg.name != "message" || msg.data["message_id"] != first["message_id"] || msg.data["status"] != "ACTIVE" {
		t.Fatalf("message event %+v", msg)
	}
	stop()

	// While disconnected: a question, an answer, the end.
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"Go?","requires_user_input":true}`)
	ans := a.as(person, 201, "POST", "/api/v1/agent-instances/"+inst+"/messages", `{"content":"Go"}`)
	a.ok(200, "POST", "/api/v1/sessions/end", `{"agent_instance_id":"`+inst+`"}`)

	resumed, stop2 := a.stream(person, msg.id)
	defer stop2()
	want := []struct{ name, message, status string }{
		{"message", q["message_id"].(string), "AWAITING_INPUT"},
		{"message", ans["id"].(string), "ACTIVE"},
		{"status", "", "COMPLETED"},
	}
	for i, w := range want {
		ev := next(t, resumed)
		got, _ := ev.data["message_id"].(string)
		if ev.name != w.name || got != w.message || ev.data["status"] != w.status || ev.data["agent_instance_id"] != inst {
			t.Fatalf("missed event %d: %+v, want %+v", i, ev, w)
		}
	}
	// Live again, and nothing repeats.
	inst2 := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst2+`","agent_type":"x","content":"again"}`)
	if ev := next(t, resumed); ev.name != "instance" || ev.data["agent_instance_id"] != inst2 {
		t.Fatalf("after the missed ones: %+v", ev)
	}
}

// A stream shows only its user's events, and refuses agent keys and bad
// Last-Event-IDs.
func TestEventStreamTenancy(t *testing.T) {
	a := newAPI(t)
	otherUser, otherAgent := a.newUser()
	other := a.tokenFor(otherUser, auth.ScopeUser)
	events, stop := a.stream(a.tokenFor(a.user, auth.ScopeUser), "")
	defer stop()
	// The other user's write commits first; then one of ours.
	if r := a.call("POST", "/api/v1/messages/agent", otherAgent, `{"agent_instance_id":"`+uuid.NewString()+`","agent_type":"x","content":"theirs"}`); r.status != 200 {
		t.Fatal(r.status)
	}
	mine := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+mine+`","agent_type":"x","content":"mine"}`)
	if ev := next(t, events); ev.data["agent_instance_id"] != mine {
		t.Fatalf("saw another user's event: %+v", ev)
	}
	if r := a.call("GET", "/api/v1/events", a.token, ""); r.status != http.StatusForbidden {
		t.Fatalf("agent key on the stream: %d", r.status)
	}
	if r := a.call("GET", "/api/v1/events", other, "", "Last-Event-ID", "yesterday"); r.status != 422 {
		t.Fatalf("bad Last-Event-ID: %d", r.status)
	}
}

// An idle stream sends heartbeats.
func TestEventStreamHeartbeat(t *testing.T) {
	a := newAPI(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		Store: a.store, Verifier: auth.NewVerifier(a.keys, a.store, auth.VerifierOptions{}),
		Heartbeat: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
	}))
	defer srv.Close()
	a.ts = srv
	events, stop := a.stream(a.tokenFor(a.user, auth.ScopeUser), "")
	defer stop()
	select {
	case ev := <-events:
		if ev.comment != "keepalive" {
			t.Fatalf("first thing on an idle stream: %+v", ev)
		}
	case <-time.After(time.Minute):
		t.Fatal("no heartbeat")
	}
}

// A stream ends once its key is revoked (checked at each heartbeat).
func TestEventStreamEndsWhenKeyRevoked(t *testing.T) {
	a := newAPI(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{
		Store: a.store, Verifier: auth.NewVerifier(a.keys, a.store, auth.VerifierOptions{CacheTTL: time.Millisecond}),
		Heartbeat: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
	}))
	defer srv.Close()
	a.ts = srv
	tok := a.tokenFor(a.user, auth.ScopeUser)
	events, stop := a.stream(tok, "")
	defer stop()
	if ev := <-events; ev.comment != "keepalive" {
		t.Fatalf("first: %+v", ev)
	}
	keys, err := a.store.ListAPIKeys(t.Context(), a.user)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Scope == "user" {
			if _, err := a.store.RevokeAPIKey(t.Context(), a.user, k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for ev := range events {
		if ev.comment != "keepalive" {
			t.Fatalf("event after revocation: %+v", ev)
		}
	}
	// The channel closed: the server ended the stream.
}
