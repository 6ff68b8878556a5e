package mcpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// transports the tests run over: streamable HTTP with sessions, without
// (stateless), and legacy SSE.
var transports = []string{"streamable", "stateless", "sse"}

// env is a real handoff server (REST and MCP, real auth and store) on a
// fresh database, with a user and an agent key.
type env struct {
	t      testing.TB
	ts     *httptest.Server
	pool   *pgxpool.Pool
	store  *db.Store
	keys   *auth.Keys
	user   uuid.UUID
	token  string
	kind   string
	server *testserver.Server
}

func newEnv(t testing.TB, kind string, cfg mcpapi.Config) *env {
	cfg.Stateless = kind == "stateless"
	srv := testserver.New(t, testserver.Options{MCP: &cfg})
	e := &env{t: t, ts: srv.TS, pool: srv.Pool, store: srv.Store, keys: srv.Keys, kind: kind, server: srv}
	e.user, e.token = e.newUser()
	return e
}

func (e *env) newUser() (uuid.UUID, string) {
	e.t.Helper()
	u := e.server.User()
	return u, e.server.Token(u, auth.ScopeAgent)
}

// connect opens a client session with token and extra headers (name,
// value pairs) over the env's transport.
func (e *env) connect(token string, opts *mcp.ClientOptions, headers ...string) (*mcp.ClientSession, error) {
	h := http.Header{"Authorization": {"Bearer " + token}}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	hc := testserver.HeaderClient(h)
	var tr mcp.Transport
	switch e.kind {
	case "sse":
		tr = &mcp.SSEClientTransport{Endpoint: e.ts.URL + "/mcp/sse", HTTPClient: hc}
	default:
		tr = &mcp.StreamableClientTransport{Endpoint: e.ts.URL + "/mcp/", HTTPClient: hc}
	}
	return mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, opts).Connect(context.Background(), tr, nil)
}

func (e *env) session(headers ...string) *mcp.ClientSession {
	e.t.Helper()
	cs, err := e.connect(e.token, nil, headers...)
	if err != nil {
		e.t.Fatalf("connect over %s: %v", e.kind, err)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs
}

// call calls a tool and returns its structured result, failing on a tool
// error. It also checks that the text content is the same JSON.
func call(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) map[string]any {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: tool error %s", name, text(res))
	}
	return structured(t, res)
}

func structured(t testing.TB, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, _ := json.Marshal(res.StructuredContent)
	var sc, tc map[string]any
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	if err := json.Unmarshal([]byte(text(res)), &tc); err != nil {
		t.Fatalf("text content %q is not JSON: %v", text(res), err)
	}
	tb, _ := json.Marshal(tc)
	sb, _ := json.Marshal(sc)
	if string(tb) != string(sb) {
		t.Fatalf("text %s and structured %s differ", tb, sb)
	}
	return sc
}

func text(res *mcp.CallToolResult) string {
	if len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// toolError calls a tool that must fail and returns its message.
func toolError(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v, want a tool error", name, err)
	}
	if !res.IsError {
		t.Fatalf("%s: succeeded with %s, want a tool error", name, text(res))
	}
	return text(res)
}

// rest calls the REST API with the env's token.
func (e *env) rest(method, path, body string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		e.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// answer is the person answering through REST.
func (e *env) answer(inst, content string) {
	e.t.Helper()
	e.rest("POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"`+content+`","mark_as_read":false}`)
}

// awaitStatus returns once the instance has the status: the tool under
// test has stored its question and is waiting.
func (e *env) awaitStatus(inst string, status db.AgentStatus) {
	e.t.Helper()
	id := uuid.MustParse(inst)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		got, err := e.store.GetInstance(ctx, e.user, id)
		if err == nil && got.Status == status {
			return
		}
		if ctx.Err() != nil {
			e.t.Fatalf("instance never reached %s (last %v, %v)", status, got.Status, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func wantJSON(t testing.TB, what string, got map[string]any, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}
