// Package growth holds the growth benchmark: the agent's and the person's
// hot calls on a new database (a user with just enough sessions to fill
// a page of the list) and on one grown to a user with 100,000 sessions,
// one of them 200,000 messages long, through the real REST and MCP
// endpoints. Their costs must stay within 15 % of each other:
//
//	go test -run '^$' -bench Growth -benchtime 2000x ./bench/growth
package growth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The databases' sizes: sessions of the user, and messages of the session
// the agent calls use. A new database has a page of sessions (the list
// returns as many rows on both) and a one-message session.
const (
	newSessions   = 60
	grownSessions = 100_000
	grownMessages = 200_000
)

func BenchmarkGrowth(b *testing.B) {
	for _, size := range []string{"new", "grown"} {
		b.Run(size, func(b *testing.B) {
			srv := testserver.New(b, testserver.Options{MCP: &mcpapi.Config{}})
			user := srv.User()
			token := srv.Token(user, auth.ScopeUser) // user scope may do all an agent may
			c := &client{b: b, url: srv.URL, token: token, hc: &http.Client{}}
			sess := uuid.New()
			c.send(sess)
			var deep string
			if size == "grown" {
				grow(b, srv.Pool, user, sess, grownSessions, grownMessages)
				deep = deepCursor(b, srv.Pool, user)
			} else {
				grow(b, srv.Pool, user, sess, newSessions, 0)
			}
			cs := mcpSession(b, srv.URL, token)
			b.Run("send", func(b *testing.B) {
				for b.Loop() {
					c.send(sess)
				}
			})
			b.Run("log_step", func(b *testing.B) {
				args := map[string]any{"agent_instance_id": sess.String(), "step_description": "step"}
				for b.Loop() {
					res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "log_step", Arguments: args})
					if err != nil || res.IsError {
						b.Fatal(err, res)
					}
				}
			})
			b.Run("pending", func(b *testing.B) {
				for b.Loop() {
					c.get("/api/v1/messages/pending?agent_instance_id=" + sess.String())
				}
			})
			b.Run("list", func(b *testing.B) {
				for b.Loop() {
					c.get("/api/v1/agent-instances?limit=50")
				}
			})
			if deep != "" {
				b.Run("list_deep", func(b *testing.B) {
					for b.Loop() {
						c.get("/api/v1/agent-instances?limit=50&cursor=" + deep)
					}
				})
			}
		})
	}
}

// grow gives the user more sessions (every fifth waiting for input,
// spread over the past of activity) and makes sess messages longer (a
// person's message after every ten of the agent's), with their events,
// then has PostgreSQL analyse the tables.
func grow(b *testing.B, pool *pgxpool.Pool, user, sess uuid.UUID, sessions, messages int) {
	b.Helper()
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO agent_instances (id, user_id, user_agent_id, status, last_activity_at, step_count)
		 SELECT gen_random_uuid(), $1, (SELECT user_agent_id FROM agent_instances WHERE id = $2),
		        CASE WHEN g % 5 = 0 THEN 'AWAITING_INPUT' WHEN g % 5 = 1 THEN 'ACTIVE' ELSE 'COMPLETED' END::agent_status,
		        now() - g * interval '1 second', 1
		 FROM generate_series(1, ` + strconv.Itoa(sessions) + `) g`,
		`INSERT INTO messages (user_id, agent_instance_id, sender_type, content, requires_user_input)
		 SELECT $1, $2, CASE WHEN g % 11 = 0 THEN 'USER' ELSE 'AGENT' END::sender_type,
		        'message ' || g || ' of a long session: reading files, running tests, editing code', false
		 FROM generate_series(1, ` + strconv.Itoa(messages) + `) g`,
		`INSERT INTO events (user_id, agent_instance_id, kind, message_id, status)
		 SELECT $1, $2, 'message', id, 'ACTIVE' FROM messages WHERE agent_instance_id = $2`,
		`UPDATE agent_instances SET
		     step_count = (SELECT count(*) FROM messages WHERE agent_instance_id = $2 AND sender_type = 'AGENT'),
		     (last_read_message_id, last_read_seq) = (SELECT id, seq FROM messages WHERE agent_instance_id = $2 ORDER BY seq DESC LIMIT 1)
		 WHERE id = $2 AND user_id = $1`,
	} {
		if _, err := pool.Exec(ctx, sql, user, sess); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

// deepCursor is the list cursor half-way down the user's sessions, as the
// server encodes it.
func deepCursor(b *testing.B, pool *pgxpool.Pool, user uuid.UUID) string {
	b.Helper()
	var at time.Time
	var id uuid.UUID
	if err := pool.QueryRow(context.Background(), `SELECT last_activity_at, id FROM agent_instances WHERE user_id = $1
		ORDER BY last_activity_at DESC, id DESC OFFSET $2 LIMIT 1`, user, grownSessions/2).Scan(&at, &id); err != nil {
		b.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "." + id.String()))
}

type client struct {
	b          *testing.B
	url, token string
	hc         *http.Client
}

func (c *client) do(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.hc.Do(req)
	if err != nil {
		c.b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		c.b.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
	}
}

func (c *client) send(sess uuid.UUID) {
	body := fmt.Sprintf(`{"agent_instance_id":%q,"agent_type":"bench","content":"step"}`, sess)
	req, _ := http.NewRequest("POST", c.url+"/api/v1/messages/agent", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	c.do(req)
}

func (c *client) get(path string) {
	req, _ := http.NewRequest("GET", c.url+path, nil)
	c.do(req)
}

func mcpSession(b *testing.B, url, token string) *mcp.ClientSession {
	b.Helper()
	hc := testserver.HeaderClient(http.Header{"Authorization": {"Bearer " + token}})
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "growth", Version: "v0"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url + "/mcp/", HTTPClient: hc}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close() })
	return cs
}
