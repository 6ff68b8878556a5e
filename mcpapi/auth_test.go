package mcpapi_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/handoffhq/handoff/mcpapi"
)

// Missing or bad tokens get 401 with WWW-Authenticate: Bearer on every MCP
// endpoint, before any session exists.
func TestMCPNeedsAToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "streamable", mcpapi.Config{})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, path := range []string{"/mcp", "/mcp/", "/mcp/sse"} {
		for _, authz := range []string{"", "Bearer nope", "Basic eDp5", "Bearer " + e.token + "x"} {
			method, body := "POST", init
			if path == "/mcp/sse" {
				method, body = "GET", ""
			}
			req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != "Bearer" || res.Header.Get("Mcp-Session-Id") != "" {
				t.Errorf("%s %s with %q: %d, WWW-Authenticate %q, session %q", method, path, authz,
					res.StatusCode, res.Header.Get("WWW-Authenticate"), res.Header.Get("Mcp-Session-Id"))
			}
		}
	}
	if _, err := e.connect("not-a-token", nil); err == nil {
		t.Fatal("a client connected with a bad token")
	}
}

// A legacy SSE session belongs to the user who opened it: another user's
// token cannot post into it.
func TestSSESessionIsItsOwners(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sse", mcpapi.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/mcp/sse", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	endpoint := ""
	sc := bufio.NewScanner(res.Body)
	for endpoint == "" && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = data
		}
	}
	if !strings.Contains(endpoint, "sessionid=") {
		t.Fatalf("no endpoint event (got %q)", endpoint)
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	post := func(token string) int {
		req, _ := http.NewRequest("POST", e.ts.URL+endpoint, strings.NewReader(ping))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	_, otherTok := e.newUser()
	if code := post(otherTok); code != http.StatusNotFound {
		t.Fatalf("another user posted into the session: %d", code)
	}
	if code := post(e.token); code >= 300 {
		t.Fatalf("the owner could not post: %d", code)
	}
}

// In stateless mode no session id is handed out.
func TestStatelessHasNoSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "stateless", mcpapi.Config{})
	cs := e.session()
	if id := cs.ID(); id != "" {
		t.Fatalf("stateless session id %q", id)
	}
	call(t, cs, "log_step", map[string]any{"step_description": "works"})
}

// A stateful session belongs to its user: another user's token with its
// session id is refused.
func TestStreamableSessionIsItsOwners(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "streamable", mcpapi.Config{})
	cs := e.session()
	if cs.ID() == "" {
		t.Fatal("no session id")
	}
	_, otherTok := e.newUser()
	req, _ := http.NewRequest("POST", e.ts.URL+"/mcp/", strings.NewReader(
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"log_step","arguments":{"step_description":"hijack"}}}`))
	req.Header.Set("Authorization", "Bearer "+otherTok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 {
		t.Fatalf("another user's call in the session: %d", res.StatusCode)
	}
	if n := e.count("messages"); n != 0 {
		t.Fatalf("the hijacked call wrote %d messages", n)
	}
}
