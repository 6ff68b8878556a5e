package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

// Every response says nosniff; /static/ serves files only (no listing,
// problem+json for anything else).
func TestResponsesAreNotSniffedAndStaticListsNothing(t *testing.T) {
	a := newAPI(t)
	for _, c := range []struct {
		method, path, token string
		status              int
		problem             bool
	}{
		{"GET", "/healthz", "", 200, false},
		{"GET", "/static/app.css", "", 200, false},
		{"GET", "/api/v1/agent-instances", "", 401, true},
		{"GET", "/no/such/route", "", 404, true},
		{"GET", "/static/", "", 404, true},
		{"GET", "/static/nope.css", "", 404, true},
		{"GET", "/static/../static/app.css", "", 200, false}, // cleaned by the client
	} {
		r := a.call(c.method, c.path, c.token, "")
		if r.status != c.status {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, r.status, c.status, r.body)
			continue
		}
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q", c.method, c.path, got)
		}
		if ct := r.header.Get("Content-Type"); c.problem != strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: Content-Type %q, problem %v", c.method, c.path, ct, c.problem)
		}
		if c.path == "/static/" && strings.Contains(string(r.body), "app.js") {
			t.Errorf("/static/ lists its files: %s", r.body)
		}
	}
}

// A server that is not ready says so with 503 and Retry-After, and keeps
// the cause (a database error, with hosts and users in it) to its log.
func TestReadyzKeepsTheCauseToTheLog(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{Ready: func(context.Context) error {
		return errors.New(`failed to connect to host=db.internal user=handoff: password authentication failed`)
	}}})
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("not ready: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, leak := range []string{"db.internal", "password", "user="} {
		if strings.Contains(string(body), leak) {
			t.Errorf("/readyz tells the client %q: %s", leak, body)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Health probes come every few seconds: at info they would drown the
// log, so they are logged at debug; other requests at info.
func TestProbesAreLoggedAtDebug(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{
		Log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}})
	for _, p := range []string{"/healthz", "/readyz", "/health", "/no/such/route"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	log := buf.String()
	if !strings.Contains(log, `"path":"/no/such/route"`) {
		t.Fatalf("an ordinary request was not logged at info:\n%s", log)
	}
	for _, p := range []string{"/healthz", "/readyz", "/health"} {
		if strings.Contains(log, `"path":"`+p+`"`) {
			t.Errorf("%s logged at info", p)
		}
	}
}

// The page's cookie opens only what the page reads; a GET that consumes
// (the agent's queue moves its read cursor) needs the bearer header.
func TestCookieOpensOnlyThePagesReads(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	inst := uuid.NewString()
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"Name?","requires_user_input":true}`)
	if r := a.call("POST", "/api/v1/agent-instances/"+inst+"/messages", person, `{"content":"Ada"}`); r.status >= 300 {
		t.Fatalf("the person's answer: %d %s", r.status, r.body)
	}
	cursor := func() string {
		var c *string
		if err := a.pool.QueryRow(context.Background(), "SELECT last_read_message_id::text FROM agent_instances WHERE id = $1", inst).Scan(&c); err != nil {
			t.Fatal(err)
		}
		if c == nil {
			return ""
		}
		return *c
	}
	before := cursor()
	get := func(path string) *http.Response {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", a.ts.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: person})
		resp, err := a.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	// With the agent's cursor, as the agent would send it: a read that
	// consumes "Ada".
	pending := "/api/v1/messages/pending?agent_instance_id=" + inst + "&last_read_message_id=" + q["message_id"].(string)
	for path, want := range map[string]int{
		pending:                   401,
		"/api/v1/agent-instances": 401,
		"/api/v1/auth/api-keys":   401,
		"/api/v1/agent-instances/" + inst + "/messages?limit=200": 200,
		"/api/v1/events": 200,
	} {
		r := get(path)
		if r.StatusCode != want {
			t.Errorf("GET %s with the cookie only: %d, want %d", path, r.StatusCode, want)
		}
		ct := r.Header.Get("Content-Type")
		if want == 401 && !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("GET %s with the cookie only: Content-Type %q, want a problem", path, ct)
		}
		if path == "/api/v1/events" && ct != "text/event-stream" {
			t.Errorf("the page's event stream with the cookie: Content-Type %q", ct)
		}
	}
	if before != q["message_id"] {
		t.Fatalf("the agent's cursor is %q, not its question", before)
	}
	if after := cursor(); after != before {
		t.Fatalf("a cookie GET moved the agent's read cursor from %s to %s", before, after)
	}
}

// MCP's answers say nosniff too: a session's start, the SDK's own refusal
// and ours.
func TestMCPResponsesAreNotSniffed(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{MCP: &mcpapi.Config{}})
	tok := srv.Token(srv.User(), auth.ScopeAgent)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	for _, c := range []struct {
		what, method, token, body string
		status                    int
	}{
		{"initialize", "POST", tok, initialize, 200},
		{"no session", "GET", tok, "", 400},
		{"no token", "POST", "", initialize, 401},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+"/mcp/", strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.what, resp.StatusCode, c.status)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.what, got)
		}
	}
}
