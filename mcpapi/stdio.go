package mcpapi

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/db"
)

// StdioConfig configures the stdio bridge: an MCP server for clients that
// only speak stdio, forwarding every tool to a remote handoff over REST.
type StdioConfig struct {
	Client *client.Client
	// AgentType names new sessions (HANDOFF_CLIENT_TYPE); default
	// "unknown", as Omnara's bridge.
	AgentType string
	Wait      time.Duration
	Log       *slog.Logger
	Version   string
}

// NewStdio returns the bridge's MCP server, with the same tools and
// results as /mcp/. Run it on a stdio transport.
func NewStdio(cfg StdioConfig) *mcp.Server {
	c := Config{Wait: cfg.Wait, Log: cfg.Log, Version: cfg.Version}
	if c.Wait <= 0 {
		c.Wait = DefaultWait
	}
	c.ProgressEvery = DefaultProgressEvery
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	kind := cfg.AgentType
	if kind == "" {
		kind = "unknown"
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "handoff", Title: "handoff: a person in the loop", Version: c.Version},
		&mcp.ServerOptions{Instructions: instructions, Logger: c.Log})
	rb := &restBackend{c: cfg.Client, steps: map[uuid.UUID]int64{}}
	t := &tools{cfg: c, log: c.Log,
		backendFor: func(context.Context, *mcp.CallToolRequest) (backend, error) { return rb, nil },
		agentType:  func(context.Context, *mcp.CallToolRequest) string { return kind }}
	t.register(server)
	return server
}

// restBackend runs the tools on a remote handoff's REST API.
type restBackend struct {
	c *client.Client

	mu sync.Mutex
	// steps counts log_step per session, for Omnara's step_number (the
	// REST answer has no step count; Omnara's own bridge always said 1).
	steps map[uuid.UUID]int64
}

func (b *restBackend) send(ctx context.Context, p sendParams) (sent, error) {
	res, err := b.c.Send(ctx, client.SendParams{InstanceID: p.InstanceID.String(), AgentType: p.AgentType,
		Content: p.Content, RequiresUserInput: p.Question, GitDiff: p.GitDiff, IdempotencyKey: p.Key})
	if err != nil {
		return sent{}, err
	}
	out := sent{InstanceID: uuid.MustParse(res.InstanceID), MessageID: uuid.MustParse(res.MessageID),
		Queued: make([]string, len(res.QueuedUserMessages))}
	for i, m := range res.QueuedUserMessages {
		out.Queued[i] = m.Content
	}
	if p.CountSteps {
		b.mu.Lock()
		b.steps[out.InstanceID]++
		out.StepNumber = b.steps[out.InstanceID]
		b.mu.Unlock()
	}
	return out, nil
}

func (b *restBackend) wait(ctx context.Context, questionID uuid.UUID, deadline time.Time) (db.AnswerResult, error) {
	for {
		st, err := b.c.QuestionAnswer(ctx, questionID.String(), max(time.Until(deadline), 0))
		if err != nil {
			return db.AnswerResult{}, err
		}
		res := db.AnswerResult{Status: st.Status, QuestionID: questionID}
		if id, err := uuid.Parse(st.InstanceID); err == nil {
			res.InstanceID = id
		}
		if st.Answer != nil {
			res.Answer = &db.Message{Content: *st.Answer}
		}
		if st.Status != db.AnswerPending || !time.Now().Before(deadline) || ctx.Err() != nil {
			return res, nil
		}
	}
}

func (b *restBackend) end(ctx context.Context, instanceID uuid.UUID) (string, error) {
	res, err := b.c.End(ctx, instanceID.String())
	if err != nil {
		return "", err
	}
	return res.FinalStatus, nil
}

func (b *restBackend) retrySession(key string) uuid.UUID {
	return uuid.NewSHA1(retrySessions, []byte("stdio/"+strings.TrimSpace(key)))
}
