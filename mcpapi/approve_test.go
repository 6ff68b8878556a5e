package mcpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/mcpapi"
)

// callAsync calls a tool and returns its text result when it comes.
func callAsync(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) <-chan string {
	out := make(chan string, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
			out <- ""
		case res.IsError:
			t.Errorf("%s: tool error %s", name, text(res))
			out <- ""
		default:
			out <- text(res)
		}
	}()
	return out
}

// awaitOpen returns the id of the session's first waiting permission
// request, once there is one.
func (e *env) awaitOpen(inst string) uuid.UUID {
	e.t.Helper()
	return dbtest.OpenPermissions(e.t, e.store, e.user, uuid.MustParse(inst), 1)[0].ID
}

// Claude Code's --permission-prompt-tool: approve waits for the person
// and answers with the decision as text.
func TestApprove(t *testing.T) {
	forEachTransport(t, mcpapi.Config{}, func(t *testing.T, e *env) {
		cs := e.session()
		inst := uuid.NewString()
		args := map[string]any{"tool_name": "Bash", "input": map[string]any{"command": "ls -la", "timeout": json.Number("9007199254740993")},
			"tool_use_id": "toolu_1", "agent_instance_id": inst}
		ch := callAsync(t, cs, "approve", args)
		req := e.awaitOpen(inst)
		e.rest("POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","question_id":"`+req.String()+`","option_index":0}`)
		if got := <-ch; got != `{"behavior":"allow","updatedInput":{"command":"ls -la","timeout":9007199254740993}}` {
			t.Fatalf("allow: %s", got)
		}
		ch = callAsync(t, cs, "approve", args)
		req = e.awaitOpen(inst)
		e.rest("POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","question_id":"`+req.String()+`","content":"list only src"}`)
		if got := <-ch; got != `{"behavior":"deny","message":"list only src"}` {
			t.Fatalf("deny: %s", got)
		}
	})
}

func TestApproveTimeoutDenies(t *testing.T) {
	forEachTransport(t, mcpapi.Config{PermissionWait: time.Nanosecond}, func(t *testing.T, e *env) {
		cs := e.session()
		args := map[string]any{"tool_name": "Write", "input": map[string]any{"file_path": "a.go", "content": "package a"},
			"tool_use_id": "toolu_2", "a_field_claude_may_add": true}
		for range 2 {
			if got := <-callAsync(t, cs, "approve", args); got !=
				`{"behavior":"deny","message":"Permission request timed out: the person did not decide in time."}` {
				t.Fatalf("timeout: %s", got)
			}
		}
		// Requests without a session id belong to one session per MCP
		// session id (stateless and SSE servers give none: one each).
		want := 1
		if e.kind != "streamable" {
			want = 2
		}
		if n := e.count("agent_instances"); n != want {
			t.Fatalf("%d sessions, want %d", n, want)
		}
	})
}

// A question with options: the person taps one, the agent hears which.
func TestAskQuestionOptions(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: time.Minute}, func(t *testing.T, e *env) {
		cs := e.session()
		inst := call(t, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"].(string)
		ch := callAsync(t, cs, "ask_question", map[string]any{"agent_instance_id": inst, "question_text": "Deploy where?",
			"options": []string{"staging", "production"}})
		e.awaitStatus(inst, "AWAITING_INPUT")
		e.rest("POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","option_index":1}`)
		got := <-ch
		if got == "" {
			t.FailNow()
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(got), &m); err != nil {
			t.Fatal(err)
		}
		if m["answer"] != "production" || m["option_index"] != float64(1) {
			t.Fatalf("answer %s", got)
		}
	})
}
