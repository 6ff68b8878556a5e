// Package bench is handoff's load generator (`handoff bench`): it drives a
// running server on this machine over HTTP, on loopback only, bounded in
// time and count, and reports what it measured.
//
//   - Send: agents post steps (REST, or MCP log_step) as fast as they can,
//     cycling over their share of the sessions; with PGBench, the team's
//     reference ceiling (send-ceiling.sql) runs with pgbench on the same
//     PostgreSQL in the same run, and the ratio is reported; with
//     Timeline, successes and errors per second and the recovery from a
//     fault mid-load.
//   - Compare: REST send, MCP log_step and the ceiling in one run.
//   - Answer: the time from the person's answer to the waiting agent
//     holding it.
//   - Waiters: many agents waiting at once: memory, goroutines, database
//     connections.
//
// A run makes its own user and agent key in the server's database (so it
// needs the database URL and the server's signing key, as the operator).
package bench

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// Options of a run. Zero values take the defaults noted (Duration 10s,
// Questions 50).
type Options struct {
	// URL is the server, on loopback.
	URL string
	// Agents is the number of concurrent agents.
	Agents int
	// Sessions (send) is the number of sessions the agents post to, each
	// agent cycling over its share; default one per agent.
	Sessions int
	// Duration (send) is how long each load runs.
	Duration time.Duration
	// Rounds (compare) is how many times REST, MCP and the ceiling take
	// their turns; default 3. Alternating spreads the database's own
	// swings (checkpoints, autovacuum) over all three.
	Rounds int
	// Questions (answer) is how many questions each agent asks.
	Questions int
	// Think (answer) is how long the person takes to answer.
	Think time.Duration
	// MCP: agents use the MCP tools instead of REST (send, answer).
	MCP bool
	// Timeline (send): also report successes and errors per second, the
	// first and last error and the recovery (see timeline).
	Timeline bool
	// PGBench (send): also run the reference ceiling with pgbench.
	PGBench bool
	// PGBenchClients is pgbench's client count; default 32.
	PGBenchClients int
	// Ceiling is the reference pgbench script (send-ceiling.sql); its
	// schema, send-ceiling-schema.sql, is beside it.
	Ceiling string
	// DatabaseURL is the server's database.
	DatabaseURL string
	// Keys sign the run's agent key (the server's keys).
	Keys *auth.Keys
}

// Result is what a run measured, by name.
type Result map[string]any

// Modes of a run.
const (
	ModeSend    = "send"
	ModeAnswer  = "answer"
	ModeWaiters = "waiters"
	ModeCompare = "compare"
)

// CeilingFile and CeilingSchemaFile are the reference ceiling's files.
const (
	CeilingFile       = "send-ceiling.sql"
	CeilingSchemaFile = "send-ceiling-schema.sql"
)

// DefaultCeiling finds the team's reference ceiling, kept outside the
// repository at ../shared/bench/send-ceiling.sql: from the current
// directory, else from the repository root above it. "" when not found.
func DefaultCeiling() string {
	rel := filepath.Join("..", "shared", "bench", CeilingFile)
	if fileExists(rel) {
		return rel
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			if p := filepath.Join(dir, rel); fileExists(p) {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// CeilingSchema is the schema file beside a ceiling script.
func CeilingSchema(ceiling string) string {
	return filepath.Join(filepath.Dir(ceiling), CeilingSchemaFile)
}

// withDefaults fills in the zero values that have defaults.
func (o Options) withDefaults() Options {
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Questions == 0 {
		o.Questions = 50
	}
	if o.PGBenchClients == 0 {
		o.PGBenchClients = 32
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	return o
}

// Check reports the first bad option for mode (but DatabaseURL and Keys,
// which start checks), in the words of handoff bench's flags. Zero values
// that have defaults are fine.
func (o Options) Check(mode string) error {
	o = o.withDefaults()
	switch {
	case o.Agents < 1 || o.Agents > 20000:
		return errors.New("--agents must be from 1 to 20000")
	case o.Sessions < 0 || o.Sessions > 1000000:
		return errors.New("--sessions must be from 1 to 1000000")
	case (mode == ModeSend || mode == ModeCompare) && o.Sessions > 0 && o.Sessions < o.Agents:
		return errors.New("--sessions must be at least --agents (each agent cycles over its own sessions)")
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return errors.New("--duration must be positive and at most 10m")
	case o.Questions < 1 || o.Questions > 100000:
		return errors.New("--questions must be from 1 to 100000")
	case o.Think < 0 || o.Think > time.Minute:
		return errors.New("--think must be from 0 to 1m")
	case o.Rounds < 0 || o.Rounds > 20:
		return errors.New("--rounds must be from 1 to 20")
	case o.PGBenchClients < 0 || o.PGBenchClients > 1000:
		return errors.New("--pgbench-clients must be from 1 to 1000")
	case o.Timeline && mode != ModeSend:
		return errors.New("--timeline is for bench send (without --compare)")
	}
	if err := LoopbackOnly(o.URL); err != nil {
		return err
	}
	if o.PGBench || mode == ModeCompare {
		if mode != ModeSend && mode != ModeCompare {
			return errors.New("--pgbench is for bench send")
		}
		if o.Ceiling == "" {
			return fmt.Errorf("--pgbench needs the reference ceiling: --ceiling FILE (%s, with %s beside it); none found at ../shared/bench/ from the current directory or the repository root",
				CeilingFile, CeilingSchemaFile)
		}
		for _, f := range []string{o.Ceiling, CeilingSchema(o.Ceiling)} {
			if !fileExists(f) {
				return fmt.Errorf("--ceiling: %s is not a readable file (the ceiling's schema, %s, must be beside it)", f, CeilingSchemaFile)
			}
		}
		if _, err := exec.LookPath("pgbench"); err != nil {
			return errors.New("--pgbench: pgbench is not installed (Debian: apt-get install postgresql-client)")
		}
	}
	return nil
}

// LoopbackOnly refuses any target that is not this machine.
func LoopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an http URL, not %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("--url must be a loopback address (127.0.0.0/8, ::1, localhost); bench loads only this machine")
}

// run is one bench run's connection to the server and its database.
type run struct {
	opts   Options
	pool   *pgxpool.Pool
	user   uuid.UUID
	token  string
	id     int64
	client *http.Client
}

// start checks the options and makes the run's user and agent key.
func start(ctx context.Context, o Options, mode string) (*run, error) {
	o = o.withDefaults()
	if err := o.Check(mode); err != nil {
		return nil, err
	}
	if o.DatabaseURL == "" {
		return nil, errors.New("bench needs the server's database URL")
	}
	if o.Keys == nil || o.Keys.Private == nil {
		return nil, errors.New("bench needs the server's private key: it signs its own agent key, as the server's operator would")
	}
	if o.Sessions == 0 || (mode != ModeSend && mode != ModeCompare) {
		o.Sessions = o.Agents
	}
	cfg, err := pgxpool.ParseConfig(o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["application_name"] = "handoff-bench"
	db.ConfigurePool(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store := db.NewStore(pool)
	u, err := store.CreateUser(ctx, fmt.Sprintf("bench-%d@bench.invalid", time.Now().UnixNano()), nil)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bench user: %w", err)
	}
	tok, _, err := auth.IssueToken(ctx, store, o.Keys, auth.OperatorRequest(u.ID, "bench", auth.ScopeAgent))
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bench key: %w", err)
	}
	tr := &http.Transport{
		MaxIdleConns: o.Agents + 64, MaxIdleConnsPerHost: o.Agents + 64, IdleConnTimeout: 2 * time.Minute,
		DisableCompression: true,
	}
	return &run{opts: o, pool: pool, user: u.ID, token: tok, id: rand.Int64N(1 << 40),
		client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}, nil
}

func (r *run) close() { r.pool.Close() }

// instance is the id of session n of this run.
func (r *run) instance(n int) uuid.UUID {
	return uuid.UUID(md5.Sum([]byte(fmt.Sprintf("bench-%d-%d", r.id, n))))
}

// do sends one API request and decodes a 2xx JSON answer into out.
func (r *run) do(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.opts.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type sent struct {
	MessageID string `json:"message_id"`
}

// postAgent posts an agent message to session n.
func (r *run) postAgent(ctx context.Context, n int, content string, question bool) (string, error) {
	var s sent
	err := r.do(ctx, "POST", "/api/v1/messages/agent", fmt.Sprintf(
		`{"agent_instance_id":%q,"agent_type":"bench","content":%q,"requires_user_input":%v}`, r.instance(n), content, question), &s)
	return s.MessageID, err
}

// postStep posts a prepared step body, reading the answer without decoding
// it: the load generator must cost the machine as little as it can.
func (r *run) postStep(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", r.opts.URL+"/api/v1/messages/agent", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /api/v1/messages/agent: %d", res.StatusCode)
	}
	return nil
}

// postAnswer posts the person's answer to session n.
func (r *run) postAnswer(ctx context.Context, n int, content string) error {
	return r.do(ctx, "POST", "/api/v1/messages/user", fmt.Sprintf(
		`{"agent_instance_id":%q,"content":%q,"mark_as_read":false}`, r.instance(n), content), nil)
}

type pending struct {
	Messages []struct {
		Content string `json:"content"`
	} `json:"messages"`
	Status string `json:"status"`
}

// poll long-polls session n's queue after cursor.
func (r *run) poll(ctx context.Context, n int, cursor string) (pending, error) {
	var p pending
	err := r.do(ctx, "GET", fmt.Sprintf("/api/v1/messages/pending?agent_instance_id=%s&last_read_message_id=%s&wait=60",
		r.instance(n), cursor), "", &p)
	return p, err
}

// parallel runs f(0..n-1) with at most width at once; the first error wins.
func parallel(n, width int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		first atomic.Pointer[error]
		sem   = make(chan struct{}, width)
	)
	for i := 0; i < n && first.Load() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				first.CompareAndSwap(nil, &err)
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// mcpSession opens an MCP session for one agent.
func (r *run) mcpSession(ctx context.Context) (*mcp.ClientSession, error) {
	hc := &http.Client{Transport: bearerRT{r.token, r.client.Transport}}
	return mcp.NewClient(&mcp.Implementation{Name: "handoff-bench", Version: "v1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: r.opts.URL + "/mcp/", HTTPClient: hc}, nil)
}

// postLogStep calls log_step on the session cs opened, with a prepared
// JSON-RPC body over plain HTTP, reading the answer without decoding it
// (as postStep does for REST): the go-sdk client's own cost would
// otherwise take a large share of the machine from the server. cs made
// the session (initialize) and keeps it.
func (r *run) postLogStep(ctx context.Context, cs *mcp.ClientSession, inst string, id int64) error {
	body := `{"jsonrpc":"2.0","id":` + strconv.FormatInt(id+1, 10) +
		`,"method":"tools/call","params":{"name":"log_step","arguments":{"agent_instance_id":"` + inst +
		`","step_description":"step"}}}`
	req, err := http.NewRequestWithContext(ctx, "POST", r.opts.URL+"/mcp/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("X-Client-Type", "bench")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
	res, err := r.client.Do(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	switch {
	case err != nil:
		return err
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("POST /mcp/ log_step: %d", res.StatusCode)
	case !bytes.Contains(b, []byte(`"success":true`)):
		return fmt.Errorf("log_step failed: %.200s", b)
	}
	return nil
}

type bearerRT struct {
	token string
	next  http.RoundTripper
}

func (rt bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+rt.token)
	r.Header.Set("X-Client-Type", "bench")
	return rt.next.RoundTrip(r)
}

func callTool(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) (map[string]any, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(res.StructuredContent)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if res.IsError {
		return out, fmt.Errorf("%s: tool error", name)
	}
	return out, nil
}

// latencies summarises durations.
type latencies []time.Duration

func (l latencies) pct(p float64) string {
	if len(l) == 0 {
		return "-"
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return fmt.Sprintf("%.2fms", float64(s[i].Microseconds())/1000)
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
