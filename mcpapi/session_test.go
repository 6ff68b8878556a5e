package mcpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/mcpapi"
)

// A session nobody uses is closed after SessionIdle (it is gone from the
// server and its id is refused), while a call that waits longer than
// that keeps its session.
func TestIdleSessionsAreClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "streamable", mcpapi.Config{SessionIdle: 300 * time.Millisecond, Wait: 1500 * time.Millisecond})
	cs := e.session()
	inst := call(t, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"].(string)
	// The bounded wait outlasts SessionIdle several times over.
	pending := call(t, cs, "ask_question", map[string]any{"agent_instance_id": inst, "question_text": "Still there?"})
	if pending["status"] != "pending" {
		t.Fatalf("ask: %v", pending)
	}
	call(t, cs, "log_step", map[string]any{"agent_instance_id": inst, "step_description": "after the wait"})

	id := cs.ID()
	deadline := time.Now().Add(time.Minute)
	for e.server.MCP.OpenSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an idle session was never closed")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not timing
	}
	req, _ := http.NewRequest("POST", e.ts.URL+"/mcp/", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a closed session's id: %d, want 404", resp.StatusCode)
	}
	m, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, m.Body)
	if !strings.Contains(b.String(), "handoff_mcp_sessions ") {
		t.Error("/metrics has no handoff_mcp_sessions")
	}
}

// A tool call waiting for an answer when its key is revoked ends without
// its answer (nobody writes anything), and the session's next request is
// refused.
func TestRevokedKeysWaitingCallEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "streamable", mcpapi.Config{Wait: 55 * time.Second})
	tok, key, err := auth.IssueToken(context.Background(), e.store, e.keys, auth.OperatorRequest(e.user, "laptop", auth.ScopeAgent))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := e.connect(tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	inst := call(t, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"].(string)
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask_question",
			Arguments: map[string]any{"agent_instance_id": inst, "question_text": "Deploy?"}})
		done <- result{res, err}
	}()
	e.awaitStatus(inst, db.AgentStatusAWAITINGINPUT)
	if _, err := e.store.RevokeAPIKey(context.Background(), e.user, key.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err == nil && !r.res.IsError {
			t.Fatalf("the call of a revoked key answered: %+v", r.res)
		}
	case <-time.After(time.Minute):
		t.Fatal("the revoked key's call is still waiting")
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "log_step",
		Arguments: map[string]any{"agent_instance_id": inst, "step_description": "after"}}); err == nil {
		t.Fatal("a revoked key's session still works")
	}
}
