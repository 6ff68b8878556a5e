package deploy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/internal/testserver"
)

// unpinned is the operator's config without the stick table: plain
// round-robin, each request to the next replica.
func unpinned(t *testing.T) string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(haproxyConfig(t), "\n") {
		if !strings.Contains(line, "stick") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// logSteps calls log_step n times on one session and returns the first
// error.
func logSteps(ctx context.Context, cs *mcp.ClientSession, n int) error {
	inst := uuid.NewString()
	for i := range n {
		var out struct{ Success bool }
		if err := callTool(ctx, cs, "log_step", map[string]any{"agent_instance_id": inst, "step_description": "step"}, &out); err != nil {
			return err
		}
		if !out.Success {
			return errors.New("log_step: no success")
		}
		_ = i
	}
	return nil
}

// Stateful MCP sessions across replicas: pinned by the balancer's stick
// table they work; unpinned, a request that reaches a replica that does
// not own its session gets the MCP-specified 404 (the client's
// ErrSessionMissing: re-initialise), never a hang or a 500.
func TestStatefulMCPAcrossReplicas(t *testing.T) {
	t.Parallel()
	need(t, "haproxy", "haproxy")
	c := newCluster(t)
	c.start(3)
	pinned := c.balance(haproxyConfig(t))
	plain := c.balance(unpinned(t))
	_, agent, _ := c.user()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cs, err := mcpConnect(ctx, pinned, agent)
	if err != nil {
		t.Fatalf("pinned: %v", err)
	}
	if err := logSteps(ctx, cs, 12); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	cs.Close()

	// The legacy SSE transport, pinned by the client's address.
	sse, err := mcp.NewClient(&mcp.Implementation{Name: "cluster-test", Version: "v1"}, nil).Connect(ctx,
		&mcp.SSEClientTransport{Endpoint: pinned + "/mcp/sse", HTTPClient: testserver.HeaderClient(http.Header{"Authorization": {"Bearer " + agent}})}, nil)
	if err != nil {
		t.Fatalf("pinned SSE: %v", err)
	}
	if err := logSteps(ctx, sse, 12); err != nil {
		t.Fatalf("pinned SSE: %v", err)
	}
	sse.Close()

	// Unpinned: the session's second request already goes elsewhere.
	cs, err = mcpConnect(ctx, plain, agent)
	if err == nil {
		err = logSteps(ctx, cs, 12)
		cs.Close()
	}
	if !errors.Is(err, mcp.ErrSessionMissing) {
		t.Fatalf("unpinned: %v, want the session-missing 404", err)
	}

	// The 404 itself, replica to replica.
	cs, err = mcpConnect(ctx, c.replicas[0].url, agent)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	req, _ := http.NewRequest("POST", c.replicas[1].url+"/mcp/",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
	req.Header.Set("Authorization", "Bearer "+agent)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("another replica's session: %d, want 404", res.StatusCode)
	}
}

// Stateless MCP works round-robin with no stickiness: every call on any
// replica, and a question asked through one is answered through another.
func TestStatelessMCPRoundRobin(t *testing.T) {
	t.Parallel()
	need(t, "haproxy", "haproxy")
	c := newCluster(t, "HANDOFF_MCP_STATELESS=1")
	c.start(3)
	lb := c.balance(unpinned(t))
	_, agent, person := c.user()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := mcpConnect(ctx, lb, agent)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := logSteps(ctx, cs, 12); err != nil {
		t.Fatal(err)
	}
	// A question waits on one replica; the answer is written through
	// another (the balancer's next ones).
	inst := uuid.NewString()
	got := make(chan error, 1)
	var answer struct{ Status, Answer string }
	go func() {
		got <- callTool(ctx, cs, "send_message", map[string]any{"agent_instance_id": inst, "content": "Ship it?",
			"requires_user_input": true}, &answer)
	}()
	for c.count(`SELECT count(*) FROM messages WHERE agent_instance_id = $1 AND requires_user_input`, inst) == 0 {
		time.Sleep(20 * time.Millisecond) // polling the database
	}
	p := client.New(lb, person, nil)
	for range 3 { // whichever replica takes the answer
		if _, err := p.Instance(ctx, inst); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Answer(ctx, inst, "yes"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil || answer.Status != "answered" || answer.Answer != "yes" {
		t.Fatalf("the stateless wait: %+v %v", answer, err)
	}
}
