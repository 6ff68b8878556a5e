package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/webhook"
)

// countingTransport counts what a client saw fail: transport errors and
// 5xx answers (which the client package then retries).
type countingTransport struct{ failures atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || res.StatusCode >= 500 {
		c.failures.Add(1)
	}
	return res, err
}

// delivery is one question webhook request the receiver got.
type delivery struct {
	event    string   // webhook-id
	question string   // the question's message id
	from     *replica // the replica that sent it (nil: not found)
	at       time.Time
	cut      chan struct{} // closed when its sender hung up unanswered
}

// hookReceiver is a webhook receiver that holds every delivery until
// released, and records which replica sent each (the owner of the
// connection's socket) and which questions were delivered (deduped by
// webhook-id, as receivers do).
type hookReceiver struct {
	srv       *httptest.Server
	release   chan struct{}
	mu        sync.Mutex
	held      map[*delivery]bool
	delivered map[string]*delivery // by webhook-id: the first answered
	question  map[string]time.Time // when each question was delivered
	changed   chan struct{}
}

func newHookReceiver(t *testing.T, c *cluster) *hookReceiver {
	h := &hookReceiver{release: make(chan struct{}), held: map[*delivery]bool{}, delivered: map[string]*delivery{},
		question: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Type string `json:"type"`
			Data struct {
				MessageID string `json:"message_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		d := &delivery{event: r.Header.Get("webhook-id"), question: ev.Data.MessageID, at: time.Now(), cut: make(chan struct{}),
			from: c.sender(r.RemoteAddr, h.srv.Listener.Addr().String())}
		h.update(func() { h.held[d] = true })
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		if r.Context().Err() != nil { // the sender died or gave up
			h.update(func() { delete(h.held, d) })
			close(d.cut)
			return
		}
		h.update(func() {
			delete(h.held, d)
			if h.delivered[d.event] == nil && ev.Type == "question.asked" {
				h.delivered[d.event] = d
				h.question[d.question] = time.Now()
			}
		})
		w.WriteHeader(http.StatusNoContent)
	}))
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// update changes the receiver's records and tells whoever waits on
// changed.
func (h *hookReceiver) update(f func()) {
	h.mu.Lock()
	f()
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

// inFlight is the deliveries held now that arrived within maxAge.
func (h *hookReceiver) inFlight(maxAge time.Duration) []*delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*delivery
	for d := range h.held {
		if time.Since(d.at) < maxAge {
			out = append(out, d)
		}
	}
	return out
}

// heldFrom is the deliveries r's held now.
func (h *hookReceiver) heldFrom(r *replica) []*delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*delivery
	for d := range h.held {
		if d.from == r {
			out = append(out, d)
		}
	}
	return out
}

// deliveredAt reports when each of the questions was delivered (zero:
// not yet).
func (h *hookReceiver) deliveredAt(questions []string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]time.Time, len(questions))
	for i, q := range questions {
		out[i] = h.question[q]
	}
	return out
}

// deliveryOf is the answered delivery of an event (nil: none yet).
func (h *hookReceiver) deliveryOf(event string) *delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.delivered[event]
}

// sender finds the replica whose process holds the TCP connection from
// remote to local (both host:port, IPv4 loopback): the kernel's socket
// table (/proc/net/tcp) gives the connection's inode, each process's fd
// directory its sockets. nil when no replica holds it.
func (c *cluster) sender(remote, local string) *replica {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil
	}
	from, to := hexPort(remote), hexPort(local)
	var inode string
	for _, line := range strings.Split(string(b), "\n") {
		// sl local_address rem_address st ... uid timeout inode
		if f := strings.Fields(line); len(f) > 9 && strings.HasSuffix(f[1], ":"+from) && strings.HasSuffix(f[2], ":"+to) {
			inode = f[9]
			break
		}
	}
	if inode == "" || inode == "0" {
		return nil
	}
	for _, r := range c.replicas {
		dir := fmt.Sprintf("/proc/%d/fd", r.cmd.Process.Pid)
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join(dir, fd.Name())); l == "socket:["+inode+"]" {
				return r
			}
		}
	}
	return nil
}

// hexPort is an address's port as /proc/net/tcp writes it.
func hexPort(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return fmt.Sprintf("%04X", n)
}

// mcpConnect opens an MCP session through url.
func mcpConnect(ctx context.Context, url, token string) (*mcp.ClientSession, error) {
	hc := testserver.HeaderClient(http.Header{"Authorization": {"Bearer " + token}, "X-Client-Type": {"cluster-test"}})
	return mcp.NewClient(&mcp.Implementation{Name: "cluster-test", Version: "v1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url + "/mcp/", HTTPClient: hc, MaxRetries: 1}, nil)
}

// callTool calls a tool and decodes its structured result into out.
func callTool(ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any, out any) error {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		b, _ := json.Marshal(res.Content)
		return fmt.Errorf("%s: tool error %s", name, b)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// mcpWaiter asks over MCP through the balancer and waits for the answer
// as an agent would: send_message with an idempotency key, then
// wait_for_answer while the question waits; when its session is lost (its
// replica died) it opens a new one and asks again with the same key,
// which asks nothing twice.
func mcpWaiter(ctx context.Context, url, token, inst, question string, reconnects *atomic.Int64) (string, error) {
	key := uuid.NewString()
	for ctx.Err() == nil {
		cs, err := mcpConnect(ctx, url, token)
		if err != nil {
			reconnects.Add(1)
			continue
		}
		var sent struct {
			MessageID, Status, Answer string
		}
		err = callTool(ctx, cs, "send_message", map[string]any{"agent_instance_id": inst, "content": question,
			"requires_user_input": true, "idempotency_key": key}, &sent)
		for err == nil && sent.Status != "answered" {
			var w struct{ Answer, Status string }
			if err = callTool(ctx, cs, "wait_for_answer", map[string]any{"question_id": sent.MessageID}, &w); err == nil {
				sent.Status, sent.Answer = w.Status, w.Answer
			}
		}
		cs.Close()
		if err == nil {
			return sent.Answer, nil
		}
		reconnects.Add(1)
	}
	return "", ctx.Err()
}

// waitersOn reads a replica's handoff_waiters gauge.
func waitersOn(r *replica) int {
	res, err := http.Get(r.url + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "handoff_waiters "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// 16 agents sending and 8 waiting (long polls and MCP) through the
// balancer; one replica is killed (SIGKILL) mid-load, one that holds a
// waiter and is delivering a question webhook. Every acknowledged message
// is stored, and every send, retried by the client package with its
// Idempotency-Key through another replica, exactly once; every waiter gets
// its answer; every question webhook arrives, the one the dead replica
// was delivering sent again by another.
func TestReplicaLostMidLoad(t *testing.T) {
	t.Parallel()
	c := balancedCluster(t)
	_, agent, person := c.user()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	counting := &countingTransport{}
	hc := &http.Client{Transport: counting}
	newClient := func(token string) *client.Client {
		cl := client.New(c.lbURL, token, hc)
		cl.Retries, cl.Backoff = 10, 100*time.Millisecond
		return cl
	}

	hooks := newHookReceiver(t, c)
	if s := do(t, "POST", c.lbURL+"/api/v1/webhooks", person, `{"url":"`+hooks.srv.URL+`","event_types":["question.asked"]}`); s != http.StatusCreated {
		t.Fatalf("create the webhook: %d", s)
	}
	if n := c.count(`SELECT count(*) FROM webhooks`); n != 1 {
		t.Fatalf("%d webhooks", n)
	}

	// 16 senders, each on its own session, each send with its own key.
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		failed   = map[string]error{}
		sessions []string
		ackCount atomic.Int64
		slowest  atomic.Int64 // ns: the longest send, retries included
	)
	stop := make(chan struct{})
	var swg sync.WaitGroup
	for i := range 16 {
		inst := uuid.NewString()
		sessions = append(sessions, inst)
		cl := newClient(agent)
		swg.Add(1)
		go func() {
			defer swg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				content := fmt.Sprintf("sender %02d step %05d", i, n)
				t0 := time.Now()
				_, err := cl.Send(ctx, client.SendParams{InstanceID: inst, AgentType: "sender", Content: content, IdempotencyKey: client.NewKey()})
				d := int64(time.Since(t0))
				for old := slowest.Load(); d > old && !slowest.CompareAndSwap(old, d); old = slowest.Load() {
				}
				mu.Lock()
				if err != nil {
					failed[content] = err
				} else {
					acked[content] = true
					ackCount.Add(1)
				}
				mu.Unlock()
				if err != nil && ctx.Err() != nil {
					return
				}
			}
		}()
	}
	waitAcks := func(n int64) {
		for ackCount.Load() < n {
			if ctx.Err() != nil {
				t.Fatalf("only %d sends acknowledged", ackCount.Load())
			}
			time.Sleep(10 * time.Millisecond) // polling a counter of other goroutines
		}
	}
	waitAcks(150)

	// Under that load, 8 waiters, half long-polling over REST, half over
	// MCP; each question's webhook is then held by the replica delivering
	// it until the receiver is released.
	type waiter struct {
		inst, answer, got string
		err               error
	}
	waiters := make([]*waiter, 8)
	var reconnects atomic.Int64
	var wwg sync.WaitGroup
	for i := range waiters {
		w := &waiter{inst: uuid.NewString(), answer: fmt.Sprintf("answer %d", i)}
		waiters[i] = w
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			q := fmt.Sprintf("question %d?", i)
			if i%2 == 0 {
				w.got, _, w.err = newClient(agent).Ask(ctx, client.SendParams{InstanceID: w.inst, AgentType: "rest-waiter", Content: q})
			} else {
				w.got, w.err = mcpWaiter(ctx, c.lbURL, agent, w.inst, q, &reconnects)
			}
		}()
	}

	// The victim: a replica that holds a waiter and is delivering a
	// question webhook, recent enough that it will not give up on it
	// (webhook.Timeout) before the kill; of those, the one with the most
	// waiters.
	var (
		victim   *replica
		inFlight *delivery
		waiting  int
		unknown  int
	)
	pick := time.Now().Add(2 * time.Minute)
	for victim == nil {
		unknown = 0
		for _, d := range hooks.inFlight(webhook.Timeout / 2) {
			if d.from == nil {
				unknown++
			} else if n := waitersOn(d.from); n >= 1 && n > waiting {
				victim, inFlight, waiting = d.from, d, n
			}
		}
		if victim != nil {
			break
		}
		if time.Now().After(pick) {
			t.Fatalf("no replica held a waiter while delivering a question webhook (%d deliveries from no replica found)", unknown)
		}
		select {
		case <-hooks.changed:
		case <-time.After(50 * time.Millisecond): // the waiter gauges change without telling
		}
	}
	t.Logf("killing %s, which holds %d waiters and has been delivering question %s for %v",
		victim.name, waiting, inFlight.question, time.Since(inFlight.at).Round(time.Millisecond))
	before := ackCount.Load()
	dying := hooks.heldFrom(victim)
	killed := time.Now()
	victim.kill(t)
	if !slices.Contains(dying, inFlight) {
		t.Fatalf("the delivery of question %s ended before the kill", inFlight.question)
	}
	// The deliveries in flight on the dead replica lose their connection
	// (the receiver is released after, so that none of them is taken for
	// delivered), and River still has the job running.
	for _, d := range dying {
		select {
		case <-d.cut:
		case <-time.After(30 * time.Second):
			t.Fatalf("the delivery of question %s was not cut by %s's death", d.question, victim.name)
		}
	}
	close(hooks.release)
	var state string
	if err := c.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE args->>'event_id' = $1`, inFlight.event).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Fatalf("the job %s was delivering is %s, not running", victim.name, state)
	}

	waitAcks(before + 300)
	close(stop)
	swg.Wait()

	// The person answers every question, through the balancer, once it
	// is asked: a waiter whose ask the kill cut asks again through another
	// replica, and may not have done so yet.
	asker := newClient(person)
	for _, w := range waiters {
		until(t, "the question of "+w.inst, func() bool {
			return c.count(`SELECT count(*) FROM messages WHERE agent_instance_id = $1 AND requires_user_input`, w.inst) > 0
		})
		if _, err := asker.Answer(ctx, w.inst, w.answer); err != nil {
			t.Fatalf("answer %s: %v", w.inst, err)
		}
	}
	wwg.Wait()
	for i, w := range waiters {
		if w.err != nil || w.got != w.answer {
			t.Errorf("waiter %d got %q (%v), want %q", i, w.got, w.err, w.answer)
		}
	}

	// Every send: stored exactly once if acknowledged, never twice.
	rows, err := c.pool.Query(ctx, `SELECT content, count(*) FROM messages WHERE agent_instance_id = ANY($1::uuid[]) GROUP BY content`, sessions)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var content string
		var n int
		if err := rows.Scan(&content, &n); err != nil {
			t.Fatal(err)
		}
		stored[content] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for content := range acked {
		if stored[content] != 1 {
			t.Errorf("acknowledged %q stored %d times", content, stored[content])
		}
	}
	for content, err := range failed {
		t.Errorf("send %q failed after its retries: %v", content, err)
	}
	for content, n := range stored {
		if n > 1 {
			t.Errorf("%q stored %d times", content, n)
		}
	}

	// Every question webhook arrives, the dead replica's among them. The
	// bound is a deadline, not a speed: River takes the dead replica's job
	// for abandoned webhook.RescueAfter after it started, at its next
	// rescue round (every 30 s), and retries it after a backoff.
	var questions []string
	qrows, err := c.pool.Query(ctx, `SELECT id::text FROM messages WHERE requires_user_input`)
	if err != nil {
		t.Fatal(err)
	}
	for qrows.Next() {
		var id string
		if err := qrows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		questions = append(questions, id)
	}
	if len(questions) != len(waiters) {
		t.Fatalf("%d questions for %d waiters (asked twice?)", len(questions), len(waiters))
	}
	deadline := time.After(time.Until(killed.Add(3 * time.Minute)))
	var last time.Time
	for {
		missing := 0
		for _, at := range hooks.deliveredAt(questions) {
			if at.IsZero() {
				missing++
			} else if at.After(last) {
				last = at
			}
		}
		if missing == 0 {
			break
		}
		select {
		case <-hooks.changed:
		case <-deadline:
			t.Fatalf("%d question webhooks had not arrived 3 minutes after the kill", missing)
		}
	}
	again := hooks.deliveryOf(inFlight.event)
	if again == nil || again.from == nil || again.from == victim {
		t.Fatalf("the webhook %s was delivering was then delivered by %v, not by another replica", victim.name, again)
	}
	// River records the job's end after the delivery's answer.
	var attempt int
	for {
		err := c.pool.QueryRow(ctx, `SELECT attempt FROM river_job WHERE args->>'event_id' = $1 AND state = 'completed'`,
			inFlight.event).Scan(&attempt)
		if err == nil {
			break
		}
		if !errors.Is(err, pgx.ErrNoRows) || ctx.Err() != nil {
			t.Fatalf("the job %s was delivering is not completed: %v", victim.name, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the database
	}
	rescued := c.count(`SELECT count(*) FROM river_job WHERE errors::text LIKE '%Stuck job rescued%'`)
	// Figures for the note, not assertions.
	t.Logf("%d sends acknowledged, %d while or after the replica died; %d failed attempts retried by clients; slowest send %v",
		len(acked), len(acked)-int(before), counting.failures.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
	t.Logf("MCP waiters reconnected %d times; %s's webhook delivered by %s %v after the kill (attempt %d); last question webhook %v after the kill; %d jobs rescued from the dead replica",
		reconnects.Load(), victim.name, again.from.name, again.at.Sub(killed).Round(100*time.Millisecond), attempt,
		last.Sub(killed).Round(100*time.Millisecond), rescued)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}
