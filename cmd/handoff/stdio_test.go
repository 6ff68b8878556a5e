package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/internal/testserver"
)

// The stdio bridge, driven by the go-sdk client over real pipes, offers
// the tools of /mcp/ and forwards them to a server over REST.
func TestMCPStdioBridge(t *testing.T) {
	srv := testserver.New(t, testserver.Options{})
	store, user := srv.Store, srv.User()
	agentKey := srv.Token(user, auth.ScopeAgent)
	person := client.New(srv.URL, srv.Token(user, auth.ScopeUser), nil)
	ts := srv.TS

	// Two real pipes: client -> bridge stdin, bridge stdout -> client.
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	kv := map[string]string{"HANDOFF_URL": ts.URL, "HANDOFF_API_KEY": agentKey, "HANDOFF_CLIENT_TYPE": "Claude Code"}
	go func() { done <- serveStdio(ctx, nil, envOf(kv), inR, outW) }()

	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(ctx,
		&mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if len(names) != 5 {
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

	answered := make(chan map[string]any, 1)
	go func() {
		answered <- call("ask_question", map[string]any{"agent_instance_id": inst, "question_text": "Ship?"})
	}()
	awaitStatus(t, store, user, inst, db.AgentStatusAWAITINGINPUT)
	if _, err := person.Answer(ctx, inst, "ship"); err != nil {
		t.Fatal(err)
	}
	if a := <-answered; a["answer"] != "ship" || a["status"] != nil {
		t.Fatalf("ask_question: %v", a)
	}
	if end := call("end_session", map[string]any{"agent_instance_id": inst}); end["final_status"] != "COMPLETED" {
		t.Fatalf("end_session: %v", end)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "end_session", Arguments: map[string]any{"agent_instance_id": uuid.NewString()}})
	if err != nil || !res.IsError {
		t.Fatalf("unknown session: %v %+v", err, res)
	}
	cs.Close()
	cancel()
	<-done
}
