package mcpproxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/internal/mcpproxy"
)

type echoIn struct {
	Text string `json:"text,omitempty"`
}

type echoOut struct {
	Echo string `json:"echo"`
	N    int64  `json:"n"`
}

// remote is a small streamable MCP server: echo (counting its calls),
// fail (a tool error) and slow (progress, then it waits for release).
type remote struct {
	calls   atomic.Int64
	release chan struct{}
	// forget makes the next request on a session answer 404, as a
	// restarted server does.
	forget atomic.Bool
	url    string
	header atomic.Pointer[http.Header]
}

func newRemote(t *testing.T) *remote {
	r := &remote{release: make(chan struct{})}
	s := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "v9"}, &mcp.ServerOptions{Instructions: "be brief"})
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{Echo: in.Text, N: r.calls.Add(1)}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, echoIn) (*mcp.CallToolResult, echoOut, error) {
		return nil, echoOut{}, errors.New("no such session")
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ echoIn) (*mcp.CallToolResult, echoOut, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Total: 2, Message: "waiting"})
		}
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil, echoOut{}, ctx.Err()
		}
		return nil, echoOut{Echo: "done"}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hdr := req.Header.Clone()
		r.header.Store(&hdr)
		if req.Header.Get("Mcp-Session-Id") != "" && req.Method == http.MethodPost && r.forget.CompareAndSwap(true, false) {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(ts.Close)
	r.url = ts.URL
	return r
}

// local runs the proxy of r on an in-memory transport and returns a client
// session on it.
func local(t *testing.T, r *remote, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clientT, serverT := mcp.NewInMemoryTransports()
	done := make(chan error, 1)
	go func() {
		done <- mcpproxy.Run(ctx, mcpproxy.Config{Endpoint: r.url,
			Header: http.Header{"Authorization": {"Bearer k"}, "X-Client-Type": {"tester"}}}, serverT)
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "local", Version: "v0"}, opts).Connect(ctx, clientT, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); cancel(); <-done })
	return cs
}

func TestProxyForwardsToolsAndResults(t *testing.T) {
	r := newRemote(t)
	cs := local(t, r, nil)
	if init := cs.InitializeResult(); init.Instructions != "be brief" || init.ServerInfo.Name != "remote" {
		t.Fatalf("initialize: %+v", init)
	}
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.InputSchema == nil || (tool.Name == "echo" && tool.OutputSchema == nil) {
			t.Errorf("%s lost its schemas: %+v", tool.Name, tool)
		}
		names = append(names, tool.Name)
	}
	if len(names) != 3 {
		t.Fatalf("tools %v", names)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("echo: %v %+v", err, res)
	}
	if m, _ := res.StructuredContent.(map[string]any); m["echo"] != "hi" || m["n"] != float64(1) {
		t.Fatalf("structured content %#v", res.StructuredContent)
	}
	if h := *r.header.Load(); h.Get("Authorization") != "Bearer k" || h.Get("X-Client-Type") != "tester" {
		t.Fatalf("headers at the remote: %v", h)
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{}})
	if err != nil || !res.IsError || len(res.Content) == 0 || res.Content[0].(*mcp.TextContent).Text != "no such session" {
		t.Fatalf("a tool error at the remote: %v %+v", err, res)
	}
	// Arguments the remote's schema refuses: its error, not a crash.
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": 5}})
	if err == nil && !res.IsError {
		t.Fatalf("bad arguments accepted: %+v", res)
	}
}

// A session the remote forgot (it restarted) is reopened, and the call
// that met the 404 runs once.
func TestProxyReconnectsWhenTheRemoteForgetsTheSession(t *testing.T) {
	r := newRemote(t)
	cs := local(t, r, nil)
	call := func() {
		t.Helper()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		if err != nil || res.IsError {
			t.Fatalf("echo: %v %+v", err, res)
		}
	}
	call()
	r.forget.Store(true)
	call()
	if r.forget.Load() {
		t.Fatal("the remote was never asked with the old session")
	}
	call()
	if n := r.calls.Load(); n != 3 {
		t.Fatalf("echo ran %d times, want 3", n)
	}
}

// Progress of the remote call reaches the local caller under its token.
func TestProxyRelaysProgress(t *testing.T) {
	r := newRemote(t)
	got := make(chan *mcp.ProgressNotificationParams, 1)
	cs := local(t, r, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
		select {
		case got <- req.Params:
		default:
		}
	}})
	params := &mcp.CallToolParams{Name: "slow", Arguments: map[string]any{}}
	params.SetProgressToken("mine-7")
	done := make(chan error, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), params)
		if err == nil && res.IsError {
			err = errors.New("tool error")
		}
		done <- err
	}()
	var p *mcp.ProgressNotificationParams
	select {
	case p = <-got:
	case err := <-done:
		t.Fatalf("the call ended before any progress: %v", err)
	}
	close(r.release)
	if p.ProgressToken != "mine-7" || p.Progress != 1 || p.Total != 2 || p.Message != "waiting" {
		t.Fatalf("progress %+v", p)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
