// Package mcpproxy serves a remote MCP server's tools on a local transport:
// `handoff mcp-stdio` uses it to offer a handoff server's /mcp/ endpoint to
// MCP clients that only speak stdio. It knows nothing of handoff's tools:
// it lists them from the remote and forwards every call, so the bridge
// always has the server's tools, schemas, instructions and results.
package mcpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Config says which remote to proxy and how to reach it.
type Config struct {
	// Endpoint is the remote's streamable HTTP endpoint, such as
	// http://127.0.0.1:8080/mcp/.
	Endpoint string
	// Header is added to every request to the remote (Authorization,
	// X-Client-Type).
	Header http.Header
	// Transport carries the requests; default http.DefaultTransport.
	Transport http.RoundTripper
	// Log receives the go-sdk's own logs; default none.
	Log *slog.Logger
	// Version is reported to the remote as the proxy client's.
	Version string
}

// Run connects to the remote, registers its tools (and instructions) on a
// local MCP server, and serves that on t until the local client leaves or
// ctx ends. Each local call is forwarded to the remote's CallTool and its
// result, tool errors included, returned as is; progress notifications of
// the remote call are relayed to the local caller under its own token.
func Run(ctx context.Context, cfg Config, t mcp.Transport) error {
	p, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.close()
	server, err := p.localServer(ctx)
	if err != nil {
		return err
	}
	return server.Run(ctx, t)
}

// proxy holds the session with the remote, reopened when the remote loses
// it (a restarted server).
type proxy struct {
	cfg    Config
	client *mcp.Client
	http   *http.Client

	mu sync.Mutex
	cs *mcp.ClientSession

	// progress maps the token of a forwarded call to the local caller's.
	progress sync.Map // string -> progressTarget
	nextTok  atomic.Int64
}

type progressTarget struct {
	session *mcp.ServerSession
	token   any
}

func connect(ctx context.Context, cfg Config) (*proxy, error) {
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	p := &proxy{cfg: cfg, http: &http.Client{Transport: headerRT{cfg.Header, cfg.Transport}}}
	p.client = mcp.NewClient(&mcp.Implementation{Name: "handoff-mcp-stdio", Version: cfg.Version},
		&mcp.ClientOptions{Logger: cfg.Log, ProgressNotificationHandler: p.relayProgress})
	if _, err := p.session(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// session returns the open session with the remote, opening one if needed.
func (p *proxy) session(ctx context.Context) (*mcp.ClientSession, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cs != nil {
		return p.cs, nil
	}
	// No standalone SSE stream: the remote sends nothing outside a call,
	// and a call's progress comes on the call's own stream.
	cs, err := p.client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: p.cfg.Endpoint, HTTPClient: p.http, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		return nil, explain(p.cfg.Endpoint, err)
	}
	p.cs = cs
	return cs, nil
}

// drop forgets cs (if still current) so that the next call reconnects.
func (p *proxy) drop(cs *mcp.ClientSession) {
	p.mu.Lock()
	if p.cs == cs {
		p.cs = nil
	}
	p.mu.Unlock()
	_ = cs.Close()
}

func (p *proxy) close() {
	p.mu.Lock()
	cs := p.cs
	p.cs = nil
	p.mu.Unlock()
	if cs != nil {
		_ = cs.Close()
	}
}

// localServer mirrors the remote: its name, instructions and tools.
func (p *proxy) localServer(ctx context.Context) (*mcp.Server, error) {
	cs, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	info := &mcp.Implementation{Name: "handoff", Version: "dev"}
	opts := &mcp.ServerOptions{Logger: p.cfg.Log}
	if init := cs.InitializeResult(); init != nil {
		if init.ServerInfo != nil {
			info = init.ServerInfo
		}
		opts.Instructions = init.Instructions
	}
	server := mcp.NewServer(info, opts)
	n := 0
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list the tools of %s: %w", p.cfg.Endpoint, err)
		}
		server.AddTool(tool, p.forward(tool.Name))
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s offers no tools", p.cfg.Endpoint)
	}
	return server, nil
}

// forward is the local handler of the remote tool name.
func (p *proxy) forward(name string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		params := &mcp.CallToolParams{Name: name}
		if len(req.Params.Arguments) > 0 {
			params.Arguments = req.Params.Arguments
		}
		if tok := req.Params.GetProgressToken(); tok != nil && req.Session != nil {
			// The remote sees a token of ours, unique across local
			// sessions; its notifications go back under the caller's.
			remote := "mcp-stdio-" + strconv.FormatInt(p.nextTok.Add(1), 10)
			p.progress.Store(remote, progressTarget{req.Session, tok})
			defer p.progress.Delete(remote)
			params.SetProgressToken(remote)
		}
		return p.call(ctx, params)
	}
}

// call runs one remote CallTool. A session the remote no longer knows (it
// restarted) is reopened and the call sent once more: the remote answered
// 404 without running it.
func (p *proxy) call(ctx context.Context, params *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	for attempt := 0; ; attempt++ {
		cs, err := p.session(ctx)
		if err != nil {
			return nil, err
		}
		res, err := cs.CallTool(ctx, params)
		if err == nil {
			return res, nil
		}
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) && ctx.Err() == nil {
			// Not the remote's answer: the session may be broken; the
			// next call opens a fresh one.
			p.drop(cs)
		}
		if errors.Is(err, mcp.ErrSessionMissing) && attempt == 0 {
			continue
		}
		return nil, err
	}
}

// relayProgress sends a remote progress notification to the local caller
// whose call it belongs to.
func (p *proxy) relayProgress(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
	tok, ok := req.Params.ProgressToken.(string)
	if !ok {
		return
	}
	v, ok := p.progress.Load(tok)
	if !ok {
		return
	}
	t := v.(progressTarget)
	err := t.session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
		ProgressToken: t.token, Progress: req.Params.Progress, Total: req.Params.Total, Message: req.Params.Message,
	})
	if err != nil {
		p.cfg.Log.Debug("relay progress", "err", err)
	}
}

// headerRT adds the configured headers to every request.
type headerRT struct {
	h    http.Header
	next http.RoundTripper
}

func (rt headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range rt.h {
		r.Header[k] = v
	}
	return rt.next.RoundTrip(r)
}

// explain turns a failed connect into one line an operator can act on:
// the server is not there, does not answer, or refuses the key.
func explain(endpoint string, err error) error {
	var dns *net.DNSError
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach the handoff server at %s: connection refused (is it running? check HANDOFF_URL)", endpoint)
	case errors.As(err, &dns):
		return fmt.Errorf("cannot reach the handoff server at %s: no such host %q (check HANDOFF_URL)", endpoint, dns.Name)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("the handoff server at %s did not answer in time", endpoint)
	case strings.Contains(msg, "401") || strings.Contains(msg, "Unauthorized"):
		return fmt.Errorf("the handoff server at %s refused the API key (401): check HANDOFF_API_KEY", endpoint)
	case strings.Contains(msg, "403") || strings.Contains(msg, "Forbidden"):
		return fmt.Errorf("the handoff server at %s refused the API key's scope (403): use an agent key", endpoint)
	}
	return fmt.Errorf("cannot connect to the handoff server at %s: %w", endpoint, err)
}
