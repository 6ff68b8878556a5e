package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

// The stdio bridge, driven by the go-sdk client over real pipes, proxies
// a real server's /mcp/: the server's tools, instructions, step numbers,
// retried sends, tool errors and progress.
func TestMCPStdioBridge(t *testing.T) {
	// Progress every 10 ms: the test waits for the first one, not a time.
	srv := testserver.New(t, testserver.Options{MCP: &mcpapi.Config{ProgressEvery: 10 * time.Millisecond}})
	store, user := srv.Store, srv.User()
	agentKey := srv.Token(user, auth.ScopeAgent)
	person := client.New(srv.URL, srv.Token(user, auth.ScopeUser), nil)

	// Two real pipes: client -> bridge stdin, bridge stdout -> client.
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	kv := map[string]string{"HANDOFF_URL": srv.URL, "HANDOFF_API_KEY": agentKey, "HANDOFF_CLIENT_TYPE": "Claude Code"}
	go func() { done <- serveStdio(ctx, nil, envOf(kv), inR, outW, io.Discard) }()

	progress := make(chan *mcp.ProgressNotificationParams, 1)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			select {
			case progress <- req.Params:
			default:
			}
		},
	}).Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ins := cs.InitializeResult().Instructions; !strings.Contains(ins, "log_step") {
		t.Fatalf("the server's instructions did not come through: %q", ins)
	}
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if len(names) != 6 {
		t.Fatalf("tools %v", names)
	}
	call := func(name string, args map[string]any) map[string]any {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", name, err, res)
		}
		b, _ := json.Marshal(res.StructuredContent)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}

	// Step numbers are the server's.
	step := call("log_step", map[string]any{"step_description": "reading"})
	inst, _ := step["agent_instance_id"].(string)
	if step["success"] != true || step["step_number"] != float64(1) || uuid.Validate(inst) != nil {
		t.Fatalf("log_step: %v", step)
	}
	got, err := store.GetInstance(ctx, user, uuid.MustParse(inst))
	if err != nil || got.AgentTypeName != "claude code" {
		t.Fatalf("agent type %q %v", got.AgentTypeName, err)
	}
	if _, err := person.Answer(ctx, inst, "also docs"); err != nil {
		t.Fatal(err)
	}
	step2 := call("log_step", map[string]any{"agent_instance_id": inst, "step_description": "editing"})
	if step2["step_number"] != float64(2) || len(step2["user_feedback"].([]any)) != 1 {
		t.Fatalf("second log_step: %v", step2)
	}

	// A retried send_message (same key, no session id) lands in the same
	// session, once.
	first := call("send_message", map[string]any{"content": "started", "idempotency_key": "k-1"})
	retry := call("send_message", map[string]any{"content": "started", "idempotency_key": "k-1"})
	if first["agent_instance_id"] != retry["agent_instance_id"] || first["message_id"] != retry["message_id"] ||
		first["agent_instance_id"] == inst {
		t.Fatalf("retried send_message: %v then %v", first, retry)
	}

	// A question: the server's progress reaches the caller under its own
	// token; the person answers once it is waiting.
	answered := make(chan map[string]any, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "ask_question", Arguments: map[string]any{"agent_instance_id": inst, "question_text": "Ship?"}}
		params.SetProgressToken("ask-1")
		res, err := cs.CallTool(ctx, params)
		var m map[string]any
		if err == nil && !res.IsError {
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &m)
		}
		answered <- m
	}()
	var p *mcp.ProgressNotificationParams
	select {
	case p = <-progress:
	case a := <-answered:
		t.Fatalf("ask_question ended before any progress: %v", a)
	}
	if p.ProgressToken != "ask-1" || p.Total <= 0 {
		t.Fatalf("progress %+v", p)
	}
	if _, err := person.Answer(ctx, inst, "ship"); err != nil {
		t.Fatal(err)
	}
	if a := <-answered; a["answer"] != "ship" || a["status"] != nil {
		t.Fatalf("ask_question: %v", a)
	}

	if end := call("end_session", map[string]any{"agent_instance_id": inst}); end["final_status"] != "COMPLETED" {
		t.Fatalf("end_session: %v", end)
	}
	// A tool error on the server is a tool error on the bridge.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "end_session", Arguments: map[string]any{"agent_instance_id": uuid.NewString()}})
	if err != nil || !res.IsError || len(res.Content) == 0 {
		t.Fatalf("unknown session: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "log_step", Arguments: map[string]any{"agent_instance_id": "nope", "step_description": "x"}})
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "Invalid agent_instance_id") {
		t.Fatalf("bad session id: %v %+v", err, res)
	}
	cs.Close()
	cancel()
	<-done
}

func TestMCPStdioBadConfig(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "mcp-stdio needs an agent key"},
		{map[string]string{"HANDOFF_API_KEY": "k", "HANDOFF_URL": "localhost:8080"}, "must be an http(s) URL"},
	} {
		if code, _, stderr := cli(t, c.env, "mcp-stdio"); code != exitConfig || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: %d %q", c.env, code, stderr)
		}
	}
}

// A bridge that cannot start says why in one line: no server there, or a
// key the server refuses.
func TestMCPStdioSaysWhyItCannotStart(t *testing.T) {
	srv := testserver.New(t, testserver.Options{MCP: &mcpapi.Config{}})
	gone := testserver.New(t, testserver.Options{})
	gone.TS.Close() // a port nobody listens on any more
	for _, c := range []struct{ url, key, want string }{
		{gone.URL, "x", "connection refused (is it running? check HANDOFF_URL)"},
		{srv.URL, "not-a-token", "refused the API key (401): check HANDOFF_API_KEY"},
	} {
		inR, _, _ := os.Pipe()
		_, outW, _ := os.Pipe()
		err := serveStdio(context.Background(), nil, envOf(map[string]string{"HANDOFF_URL": c.url, "HANDOFF_API_KEY": c.key}),
			inR, outW, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s with key %q: %v, want one line with %q", c.url, c.key, err, c.want)
		}
	}
}
