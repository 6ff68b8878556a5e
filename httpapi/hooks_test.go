package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
)

// fixture is a hook event as Claude Code sends it (testdata/claude-code),
// with its placeholders (SESSION, COMMAND, ACTIVE) replaced.
func fixture(t testing.TB, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/claude-code/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(replace...).Replace(string(b))
}

const hookPath = "/api/v1/hooks/claude-code"

// hookAsync posts a hook event and returns its response when it comes.
func (a *api) hookAsync(body string) <-chan response {
	out := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, a.ts.URL+hookPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token)
		res, err := a.ts.Client().Do(req)
		if err != nil {
			out <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		out <- response{status: res.StatusCode, header: res.Header, body: b}
	}()
	return out
}

// waitOpen returns once the session has n permission requests waiting.
func (a *api) waitOpen(inst uuid.UUID, n int) []db.Message {
	a.t.Helper()
	return dbtest.OpenPermissions(a.t, a.store, a.user, inst, n)
}

// decide answers as the person, over the person's REST route.
func (a *api) decide(inst uuid.UUID, body string) map[string]any {
	a.t.Helper()
	r := a.call("POST", "/api/v1/agent-instances/"+inst.String()+"/messages", a.tokenFor(a.user, auth.ScopeUser), body)
	if r.status != http.StatusCreated {
		a.t.Fatalf("decide: %d %s", r.status, r.body)
	}
	return r.json(a.t)
}

// wantJSON fails unless body is the JSON want (compared as values).
func wantJSON(t *testing.T, what string, body []byte, want string) {
	t.Helper()
	var got, w any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%s: %q is not JSON", what, body)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	ww, _ := json.Marshal(w)
	if string(g) != string(ww) {
		t.Fatalf("%s: got %s, want %s", what, g, ww)
	}
}

func hookDone(t *testing.T, ch <-chan response) response {
	t.Helper()
	var r response
	select {
	case r = <-ch:
	case <-time.After(2 * time.Minute): // a deadline, so a lost answer fails here, not at go test's timeout
		t.Fatal("hook: no answer")
	}
	if r.status != http.StatusOK {
		t.Fatalf("hook: %d %s", r.status, r.body)
	}
	return r
}

func TestHookPermissionRequestAllowAndDeny(t *testing.T) {
	a := newAPI(t)
	inst := uuid.New()
	ch := a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(), "COMMAND", "rm -rf build"))
	open := a.waitOpen(inst, 1)
	// The person sees the request with its options, the tool and input.
	page := a.call("GET", "/api/v1/agent-instances/"+inst.String()+"/messages", a.tokenFor(a.user, auth.ScopeUser), "").json(t)
	msgs := list(t, page["messages"])
	req := msgs[len(msgs)-1].(map[string]any)
	wantFields(t, "request", req, map[string]any{"kind": "permission", "requires_user_input": true,
		"options": []string{"Yes", "Yes and approve rm for rest of session", "No"}, "decision": nil})
	if p := req["permission"].(map[string]any); p["tool_name"] != "Bash" || p["tool_input"].(map[string]any)["command"] != "rm -rf build" {
		t.Fatalf("permission %v", p)
	}
	ans := a.decide(inst, `{"question_id":"`+open[0].ID.String()+`","option_index":0}`)
	wantFields(t, "answer", ans, map[string]any{"answered": true, "option_index": 0, "late": false})
	r := hookDone(t, ch)
	wantJSON(t, "allow", r.body, `{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}`)

	ch = a.hookAsync(fixture(t, "permission_request_edit", "SESSION", inst.String()))
	open = a.waitOpen(inst, 1)
	// Words that name no request are an instruction, not a decision.
	ans = a.decide(inst, `{"content":"Yes"}`)
	wantFields(t, "untargeted", ans, map[string]any{"answered": false, "decision": nil, "question_id": nil})
	a.decide(inst, `{"question_id":"`+open[0].ID.String()+`","content":"use the logger instead of fmt"}`)
	r = hookDone(t, ch)
	wantJSON(t, "deny", r.body,
		`{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"use the logger instead of fmt"}}}`)

	info := a.call("GET", "/api/v1/agent-instances/"+inst.String(), a.token, "").json(t)
	wantFields(t, "session", info, map[string]any{"agent_type": "claude code", "status": "ACTIVE",
		"instance_metadata": map[string]string{"cwd": "/home/dev/app", "source": "hooks"}})
}

func TestHookPermissionRequestTimeoutIsNoDecision(t *testing.T) {
	t.Parallel()
	// A wait that ends at once: the request expires unanswered.
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{PermissionWait: time.Nanosecond}})
	a := &api{srv: srv.API, t: t, ts: srv.TS, pool: srv.Pool, store: srv.Store, keys: srv.Keys, server: srv}
	a.user, a.token = a.newUser()
	inst := uuid.New()
	r := hookDone(t, a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(), "COMMAND", "ls")))
	wantJSON(t, "timeout", r.body, `{}`)
	// A decision after that is recorded as late, not applied.
	msgs, _, err := a.store.ListMessages(context.Background(), a.user, inst, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	req := msgs[len(msgs)-1]
	ans := a.decide(inst, `{"question_id":"`+req.ID.String()+`","option_index":1}`)
	wantFields(t, "late", ans, map[string]any{"late": true, "answered": false})
	if info := a.call("GET", "/api/v1/agent-instances/"+inst.String(), a.token, "").json(t); len(list(t, info["permission_rules"])) != 0 {
		t.Fatalf("a late decision made a rule: %v", info["permission_rules"])
	}
}

func TestHookAllowForSession(t *testing.T) {
	a := newAPI(t)
	inst := uuid.New()
	ch := a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(), "COMMAND", "go test ./..."))
	a.decide(inst, `{"question_id":"`+a.waitOpen(inst, 1)[0].ID.String()+`","option_index":1}`)
	allow := `{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}`
	wantJSON(t, "first", hookDone(t, ch).body, allow)
	// The next matching request is allowed at once, and recorded.
	wantJSON(t, "matching", hookDone(t, a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(),
		"COMMAND", "go vet ./db"))).body, allow)
	info := a.call("GET", "/api/v1/agent-instances/"+inst.String(), a.token, "").json(t)
	wantFields(t, "rules", info, map[string]any{"permission_rules": []string{"Bash(go:*)"}})
	page := a.call("GET", "/api/v1/agent-instances/"+inst.String()+"/messages", a.tokenFor(a.user, auth.ScopeUser), "").json(t)
	msgs := list(t, page["messages"])
	rec := msgs[len(msgs)-1].(map[string]any)
	wantFields(t, "record", rec, map[string]any{"kind": "permission", "requires_user_input": false,
		"decision": map[string]string{"outcome": "auto_allow", "rule": "Bash(go:*)"}})
	// A different command waits for the person.
	ch = a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(), "COMMAND", "rm -rf /tmp/x"))
	a.decide(inst, `{"question_id":"`+a.waitOpen(inst, 1)[0].ID.String()+`","option_index":2}`)
	wantJSON(t, "different", hookDone(t, ch).body,
		`{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"Permission denied by user"}}}`)
}

func TestHookStopHandsOverQueuedMessagesOnce(t *testing.T) {
	a := newAPI(t)
	inst := uuid.New()
	sid := inst.String()
	wantJSON(t, "start", hookDone(t, a.hookAsync(fixture(t, "session_start", "SESSION", sid))).body, `{}`)
	stop := func(active string) []byte {
		return hookDone(t, a.hookAsync(fixture(t, "stop", "SESSION", sid, "ACTIVE", active))).body
	}
	wantJSON(t, "nothing queued", stop("false"), `{}`)
	a.decide(inst, `{"content":"also update the README"}`)
	a.decide(inst, `{"content":"and run the linter"}`)
	wantJSON(t, "queued", stop("false"), `{"decision":"block","reason":"also update the README\n\nand run the linter"}`)
	wantJSON(t, "handed over once", stop("true"), `{}`)
	// While the agent carries on (stop_hook_active), a new message waits
	// for the next stop rather than being dropped.
	a.decide(inst, `{"content":"one more thing"}`)
	wantJSON(t, "carrying on", stop("true"), `{}`)
	// Records (notifications) do not consume it either.
	wantJSON(t, "notification", hookDone(t, a.hookAsync(fixture(t, "notification", "SESSION", sid))).body, `{}`)
	wantJSON(t, "next stop", stop("false"), `{"decision":"block","reason":"one more thing"}`)

	wantJSON(t, "end", hookDone(t, a.hookAsync(fixture(t, "session_end", "SESSION", sid))).body, `{}`)
	info := a.call("GET", "/api/v1/agent-instances/"+sid, a.token, "").json(t)
	wantFields(t, "ended", info, map[string]any{"status": "COMPLETED"})
	// A resumed session starts again.
	hookDone(t, a.hookAsync(strings.Replace(fixture(t, "session_start", "SESSION", sid), "startup", "resume", 1)))
	info = a.call("GET", "/api/v1/agent-instances/"+sid, a.token, "").json(t)
	wantFields(t, "resumed", info, map[string]any{"status": "ACTIVE", "ended_at": nil})
}

func TestHookEventsAndBadInput(t *testing.T) {
	a := newAPI(t)
	// Claude's own question comes as a permission request: it is shown,
	// never allowed (the person answers it at the terminal).
	ask := uuid.New()
	wantJSON(t, "AskUserQuestion", hookDone(t, a.hookAsync(fixture(t, "permission_request_ask", "SESSION", ask.String()))).body, `{}`)
	if open, _ := a.store.OpenPermissionRequests(context.Background(), a.user, ask); len(open) != 0 {
		t.Fatalf("AskUserQuestion became a request: %v", open)
	}
	page := a.call("GET", "/api/v1/agent-instances/"+ask.String()+"/messages", a.tokenFor(a.user, auth.ScopeUser), "").json(t)
	wantFields(t, "question shown", list(t, page["messages"])[0].(map[string]any),
		map[string]any{"content": "Asks at its terminal: Which database should the tests use?", "kind": "record"})
	if _, err := a.pool.Exec(context.Background(), "DELETE FROM agent_instances"); err != nil {
		t.Fatal(err)
	}
	// Unknown events: 200, no decision, nothing written.
	r := hookDone(t, a.hookAsync(fixture(t, "pre_tool_use", "SESSION", uuid.NewString())))
	wantJSON(t, "unknown event", r.body, `{}`)
	if n := a.count("agent_instances"); n != 0 {
		t.Fatalf("an unknown event made %d sessions", n)
	}
	// A session id that is not a UUID is the same session every time, and
	// another user's same id is another session.
	ev := fixture(t, "notification", "SESSION", "not-a-uuid")
	hookDone(t, a.hookAsync(ev))
	hookDone(t, a.hookAsync(ev))
	other := &api{srv: a.srv, t: t, ts: a.ts, pool: a.pool, store: a.store, keys: a.keys, server: a.server}
	other.user, other.token = other.newUser()
	hookDone(t, other.hookAsync(ev))
	if n := a.count("agent_instances"); n != 2 {
		t.Fatalf("%d sessions, want one per user", n)
	}

	before := a.count("messages")
	for _, tc := range []struct {
		body   string
		status int
		detail string
	}{
		{`{"hook_event_name":"Stop"}`, 422, "session_id is required"},
		{`{"session_id":"x"}`, 422, "hook_event_name is required"},
		{`{"session_id":"x","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":"rm"}`, 400,
			"tool_input must be a JSON object"},
		{`{"session_id":"x","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{}`, 400, ""},
		{`[]`, 422, "request body must be a JSON object"},
	} {
		r := a.call("POST", hookPath, a.token, tc.body)
		if r.status != tc.status || r.header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(r.body), tc.detail) {
			t.Errorf("%s: %d %s", tc.body, r.status, r.body)
		}
	}
	if r := a.call("POST", hookPath, "not-a-token", fixture(t, "stop", "SESSION", "x", "ACTIVE", "false")); r.status != 401 {
		t.Errorf("bad token: %d", r.status)
	}
	if got := a.count("messages"); got != before {
		t.Fatalf("bad input wrote %d messages", got-before)
	}
}

func TestHookRacingRequestsStayOrdered(t *testing.T) {
	a := newAPI(t)
	inst := uuid.New()
	cmds := []string{"make a", "make b", "make c"}
	var wg sync.WaitGroup
	results := make([]<-chan response, len(cmds))
	start := make(chan struct{})
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(), "COMMAND", c))
		}()
	}
	close(start)
	wg.Wait()
	open := a.waitOpen(inst, len(cmds))
	// One session, three requests in seq order; each decision reaches
	// exactly the request it names.
	var prev int64
	byCmd := map[string]uuid.UUID{}
	for _, m := range open {
		if m.Seq <= prev {
			t.Fatalf("requests out of order: %d after %d", m.Seq, prev)
		}
		prev = m.Seq
		var in struct {
			Command string `json:"command"`
		}
		_ = json.Unmarshal(db.ParsePermission(m.Permission).ToolInput, &in)
		byCmd[in.Command] = m.ID
	}
	a.decide(inst, `{"question_id":"`+byCmd["make b"].String()+`","option_index":0}`)
	a.decide(inst, `{"question_id":"`+byCmd["make a"].String()+`","content":"not a"}`)
	a.decide(inst, `{"question_id":"`+byCmd["make c"].String()+`","option_index":2}`)
	want := []string{`"behavior":"deny","message":"not a"`, `"behavior":"allow"`, `"behavior":"deny","message":"Permission denied by user"`}
	for i, ch := range results {
		if r := hookDone(t, ch); !strings.Contains(string(r.body), want[i]) {
			t.Errorf("%s: %s", cmds[i], r.body)
		}
	}
	if n := a.count("agent_instances"); n != 1 {
		t.Fatalf("%d sessions", n)
	}
}
