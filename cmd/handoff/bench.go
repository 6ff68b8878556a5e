package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/bench"
	"github.com/handoffhq/handoff/db"
)

// handoff bench: a load generator for a running server on this machine.
// It makes its own user and agent key in the server's database (so it needs
// DATABASE_URL and JWT_PRIVATE_KEY, as the server), then drives the server
// over HTTP on loopback only, bounded in time and count.

const benchUsage = `handoff bench send|answer|waiters [--url http://127.0.0.1:8080] [--agents N] [--duration 10s]
  [--questions N] [--think 10ms] [--mcp] [--pgbench] [--json]`

type benchOpts struct {
	url       string
	agents    int
	duration  time.Duration
	questions int
	think     time.Duration
	mcp       bool
	pgbench   bool
	json      bool
}

// benchEnv is a bench run's connection to the server and its database.
type benchEnv struct {
	opts   benchOpts
	dbURL  string
	pool   *pgxpool.Pool
	user   uuid.UUID
	token  string
	run    int64
	client *http.Client
}

func benchCmd(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "send" && args[0] != "answer" && args[0] != "waiters") {
		return usagef("bench needs one of send, answer, waiters: %s", benchUsage)
	}
	mode := args[0]
	var o benchOpts
	if _, err := flags("bench "+mode, args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the server (loopback only)")
		fs.IntVar(&o.agents, "agents", map[string]int{"send": 8, "answer": 8, "waiters": 1000}[mode], "concurrent agents")
		fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long send runs")
		fs.IntVar(&o.questions, "questions", 50, "questions per agent (answer)")
		fs.DurationVar(&o.think, "think", 10*time.Millisecond, "how long the person takes to answer (answer)")
		fs.BoolVar(&o.mcp, "mcp", false, "agents use MCP tools instead of REST (send, answer)")
		fs.BoolVar(&o.pgbench, "pgbench", false, "also run the same statements with pgbench and print the ratio (send)")
		fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	}); err != nil {
		return err
	}
	switch {
	case o.agents < 1 || o.agents > 20000:
		return usagef("--agents must be from 1 to 20000")
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return usagef("--duration must be positive and at most 10m")
	case o.questions < 1 || o.questions > 100000:
		return usagef("--questions must be from 1 to 100000")
	case o.think < 0 || o.think > time.Minute:
		return usagef("--think must be from 0 to 1m")
	}
	if err := loopbackOnly(o.url); err != nil {
		return err
	}
	e, err := newBenchEnv(ctx, o, getenv)
	if err != nil {
		return err
	}
	defer e.pool.Close()

	var res map[string]any
	switch mode {
	case "send":
		res, err = e.send(ctx)
	case "answer":
		res, err = e.answer(ctx)
	case "waiters":
		res, err = e.waiters(ctx)
	}
	if err != nil {
		return err
	}
	res["bench"] = mode
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%v\n", k, res[k])
	}
	return tw.Flush()
}

// loopbackOnly refuses any target that is not this machine.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url must be an http URL, not %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return usagef("--url must be a loopback address (127.0.0.0/8, ::1, localhost); bench loads only this machine")
}

func newBenchEnv(ctx context.Context, o benchOpts, getenv env) (*benchEnv, error) {
	dbURL, err := databaseURL(getenv, true)
	if err != nil {
		return nil, err
	}
	src := readKeySource(getenv, "")
	if err := src.signing(": bench signs its own agent key, as the server's operator would"); err != nil {
		return nil, err
	}
	keys, err := loadKeys(src)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["application_name"] = "handoff-bench"
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
	tok, _, err := auth.IssueToken(ctx, store, keys, u.ID, "bench", auth.ScopeAgent, nil)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bench key: %w", err)
	}
	tr := &http.Transport{
		MaxIdleConns: o.agents + 64, MaxIdleConnsPerHost: o.agents + 64, IdleConnTimeout: 2 * time.Minute,
		DisableCompression: true,
	}
	return &benchEnv{opts: o, dbURL: dbURL, pool: pool, user: u.ID, token: tok, run: rand.Int64N(1 << 40),
		client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}, nil
}

// instance is agent n's session id; pgbench computes the same one.
func (e *benchEnv) instance(n int) uuid.UUID {
	return uuid.UUID(md5.Sum([]byte(fmt.Sprintf("bench-%d-%d", e.run, n))))
}

// do sends one API request and decodes a 2xx JSON answer into out.
func (e *benchEnv) do(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, e.opts.url+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.client.Do(req)
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

func (e *benchEnv) postAgent(ctx context.Context, n int, content string, question bool) (string, error) {
	var s sent
	err := e.do(ctx, "POST", "/api/v1/messages/agent", fmt.Sprintf(
		`{"agent_instance_id":%q,"agent_type":"bench","content":%q,"requires_user_input":%v}`, e.instance(n), content, question), &s)
	return s.MessageID, err
}

// postStep posts a prepared step body, reading the answer without decoding
// it: the load generator must cost the machine as little as it can.
func (e *benchEnv) postStep(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", e.opts.url+"/api/v1/messages/agent", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := e.client.Do(req)
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

func (e *benchEnv) postAnswer(ctx context.Context, n int, content string) error {
	return e.do(ctx, "POST", "/api/v1/messages/user", fmt.Sprintf(
		`{"agent_instance_id":%q,"content":%q,"mark_as_read":false}`, e.instance(n), content), nil)
}

type pending struct {
	Messages []struct {
		Content string `json:"content"`
	} `json:"messages"`
	Status string `json:"status"`
}

// poll long-polls agent n's queue after cursor.
func (e *benchEnv) poll(ctx context.Context, n int, cursor string) (pending, error) {
	var p pending
	err := e.do(ctx, "GET", fmt.Sprintf("/api/v1/messages/pending?agent_instance_id=%s&last_read_message_id=%s&wait=60",
		e.instance(n), cursor), "", &p)
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
func (e *benchEnv) mcpSession(ctx context.Context) (*mcp.ClientSession, error) {
	hc := &http.Client{Transport: bearerRT{e.token, e.client.Transport}}
	return mcp.NewClient(&mcp.Implementation{Name: "handoff-bench", Version: "v1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: e.opts.url + "/mcp/", HTTPClient: hc}, nil)
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

// send: agents post steps as fast as they can for the duration.
func (e *benchEnv) send(ctx context.Context) (map[string]any, error) {
	o := e.opts
	sessions := make([]*mcp.ClientSession, o.agents)
	err := parallel(o.agents, 16, func(n int) error {
		if _, err := e.postAgent(ctx, n, "start", false); err != nil {
			return err
		}
		if o.mcp {
			cs, err := e.mcpSession(ctx)
			sessions[n] = cs
			return err
		}
		return nil
	})
	defer func() {
		for _, cs := range sessions {
			if cs != nil {
				cs.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		all    latencies
		errs   atomic.Int64
		wg     sync.WaitGroup
		start  = time.Now()
		cutoff = start.Add(o.duration)
	)
	for n := 0; n < o.agents; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine latencies
			inst := e.instance(n).String()
			body := []byte(`{"agent_instance_id":"` + inst + `","content":"step"}`)
			for time.Now().Before(cutoff) {
				t0 := time.Now()
				var err error
				if o.mcp {
					_, err = callTool(ctx, sessions[n], "log_step", map[string]any{"agent_instance_id": inst, "step_description": "step"})
				} else {
					err = e.postStep(ctx, body)
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	via := "rest"
	if o.mcp {
		via = "mcp"
	}
	rps := float64(len(all)) / elapsed.Seconds()
	res := map[string]any{
		"via": via, "agents": o.agents, "seconds": round(elapsed.Seconds()), "requests": len(all), "errors": errs.Load(),
		"requests_per_s": round(rps), "p50": all.pct(0.50), "p99": all.pct(0.99),
	}
	if o.pgbench {
		tps, err := e.runPgbench(ctx)
		if err != nil {
			return nil, err
		}
		res["pgbench_tps"] = round(tps)
		res["ratio_to_pgbench"] = fmt.Sprintf("%.0f%%", 100*rps/tps)
	}
	return res, nil
}

// libpqURL drops pgx's own pool_* settings, which libpq refuses.
func libpqURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench runs the statements of one send (bench/pgbench_send.sql) on
// the same instances with the same client count and duration.
func (e *benchEnv) runPgbench(ctx context.Context) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return 0, errors.New("pgbench is not installed (Debian: apt-get install postgresql-client)")
	}
	f, err := os.CreateTemp("", "handoff-pgbench-*.sql")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(bench.PgbenchSend); err != nil {
		return 0, err
	}
	f.Close()
	threads := min(e.opts.agents, 2)
	cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-c", strconv.Itoa(e.opts.agents), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(max(1, int(e.opts.duration.Seconds()))), "-f", f.Name(),
		"-D", "run="+strconv.FormatInt(e.run, 10), "-D", "user="+e.user.String(), libpqURL(e.dbURL))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// answer: each agent asks questions one after another (REST) and waits for
// each (a REST long poll, or with --mcp the wait_for_answer tool, the wait
// of ask_question); the person answers each after --think; latency runs from
// the start of the answer's POST to the agent holding the answer.
func (e *benchEnv) answer(ctx context.Context) (map[string]any, error) {
	o := e.opts
	var (
		mu         sync.Mutex
		all        latencies
		unanswered atomic.Int64
	)
	err := parallel(o.agents, o.agents, func(n int) error {
		var cs *mcp.ClientSession
		if o.mcp {
			var err error
			if cs, err = e.mcpSession(ctx); err != nil {
				return err
			}
			defer cs.Close()
		}
		if _, err := e.postAgent(ctx, n, "start", false); err != nil {
			return err
		}
		var mine latencies
		for q := 0; q < o.questions; q++ {
			answered := make(chan time.Time, 1)
			respond := func() {
				time.Sleep(o.think) // the person's reading time, not synchronisation
				t0 := time.Now()
				if err := e.postAnswer(ctx, n, fmt.Sprintf("answer %d", q)); err != nil {
					t0 = time.Time{}
				}
				answered <- t0
			}
			qid, err := e.postAgent(ctx, n, "?", true)
			if err != nil {
				return err
			}
			go respond()
			var got bool
			if o.mcp {
				// The MCP wait path of ask_question, on a question stored
				// first so the person never answers before it exists.
				out, err := callTool(ctx, cs, "wait_for_answer", map[string]any{"question_id": qid})
				got = err == nil && out["answer"] == fmt.Sprintf("answer %d", q)
			} else {
				for {
					p, err := e.poll(ctx, n, qid)
					if err != nil {
						return err
					}
					if len(p.Messages) > 0 || p.Status != db.ReadOK {
						got = len(p.Messages) > 0
						break
					}
				}
			}
			t1 := time.Now()
			t0 := <-answered
			if !got || t0.IsZero() {
				unanswered.Add(1)
				continue
			}
			mine = append(mine, t1.Sub(t0))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	via := "rest-long-poll"
	if o.mcp {
		via = "mcp-wait_for_answer"
	}
	return map[string]any{
		"via": via, "agents": o.agents, "questions": o.agents * o.questions, "answered": len(all),
		"unanswered": unanswered.Load(), "think": o.think.String(),
		"answer_to_agent_p50": all.pct(0.50), "answer_to_agent_p99": all.pct(0.99), "answer_to_agent_max": all.pct(1),
	}, nil
}

// serverStats is what the server's /metrics and the database say about it.
type serverStats struct {
	rss, goroutines, waiters, poolTotal, poolMax float64
	dbConns                                      int
}

func (e *benchEnv) stats(ctx context.Context) (serverStats, error) {
	var s serverStats
	req, _ := http.NewRequestWithContext(ctx, "GET", e.opts.url+"/metrics", nil)
	res, err := e.client.Do(req)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "process_resident_memory_bytes":
			s.rss = v
		case "go_goroutines":
			s.goroutines = v
		case "handoff_waiters":
			s.waiters = v
		case `handoff_db_connections{state="total"}`:
			s.poolTotal = v
		case `handoff_db_connections{state="max"}`:
			s.poolMax = v
		}
	}
	err = e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend'
		  AND application_name <> 'handoff-bench' AND pid <> pg_backend_pid()`).Scan(&s.dbConns)
	return s, err
}

// waiters: N agents wait at once (REST long polls, one question each);
// memory, goroutines and database connections are read while they wait;
// then all are answered.
func (e *benchEnv) waiters(ctx context.Context) (map[string]any, error) {
	o := e.opts
	qids := make([]string, o.agents)
	if err := parallel(o.agents, 32, func(n int) error {
		var err error
		qids[n], err = e.postAgent(ctx, n, "Waiting for you", true)
		return err
	}); err != nil {
		return nil, err
	}
	idle, err := e.stats(ctx)
	if err != nil {
		return nil, err
	}
	var (
		answered, failed atomic.Int64
		wg               sync.WaitGroup
		deadline         = time.Now().Add(3 * time.Minute)
	)
	for n := 0; n < o.agents; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				p, err := e.poll(ctx, n, qids[n])
				if err != nil || p.Status != db.ReadOK {
					failed.Add(1)
					return
				}
				if len(p.Messages) > 0 {
					answered.Add(1)
					return
				}
			}
			failed.Add(1)
		}()
		if n%500 == 499 {
			time.Sleep(50 * time.Millisecond) // pace the connection burst under the listen backlog
		}
	}
	// Wait until the server holds them all.
	var waiting serverStats
	maxDB := idle.dbConns
	for {
		if waiting, err = e.stats(ctx); err != nil {
			return nil, err
		}
		maxDB = max(maxDB, waiting.dbConns)
		if int(waiting.waiters) >= o.agents || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	allWaiting := int(waiting.waiters) >= o.agents
	// Answer everyone, watching the database connections meanwhile.
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if s, err := e.stats(ctx); err == nil {
					maxDB = max(maxDB, s.dbConns)
				}
			}
		}
	}()
	err = parallel(o.agents, 32, func(n int) error { return e.postAnswer(ctx, n, "go") })
	wg.Wait()
	close(stop)
	sampled.Wait()
	if err != nil {
		return nil, err
	}
	perWaiter := (waiting.rss - idle.rss) / float64(o.agents) / 1024
	return map[string]any{
		"waiters": o.agents, "all_waiting_at_once": allWaiting, "answered": answered.Load(), "failed": failed.Load(),
		"rss_idle_mib": round(idle.rss / (1 << 20)), "rss_waiting_mib": round(waiting.rss / (1 << 20)),
		"rss_per_waiter_kib": round(perWaiter),
		"goroutines_idle":    idle.goroutines, "goroutines_waiting": waiting.goroutines,
		"db_pool_max": waiting.poolMax, "db_conns_idle": idle.dbConns, "db_conns_while_waiting": waiting.dbConns,
		"db_conns_max_seen": maxDB,
	}, nil
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
