package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/internal/testserver"
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

// hookReceiver is a webhook receiver that holds every delivery until
// released, and records which questions were delivered (deduped by
// webhook-id, as receivers do).
type hookReceiver struct {
	srv      *httptest.Server
	release  chan struct{}
	mu       sync.Mutex
	seen     map[string]bool // webhook-id
	question map[string]time.Time
	changed  chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{release: make(chan struct{}), seen: map[string]bool{}, question: map[string]time.Time{},
		changed: make(chan struct{}, 1)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case <-h.release:
		case <-r.Context().Done(): // the sender died or gave up
			return
		}
		var ev struct {
			Type string `json:"type"`
			Data struct {
				MessageID string `json:"message_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		if id := r.Header.Get("webhook-id"); !h.seen[id] && ev.Type == "question.asked" {
			h.seen[id] = true
			h.question[ev.Data.MessageID] = time.Now()
		}
		h.mu.Unlock()
		select {
		case h.changed <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// delivered reports when each of the questions was delivered (zero: not
// yet).
func (h *hookReceiver) delivered(questions []string) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]time.Time, len(questions))
	for i, q := range questions {
		out[i] = h.question[q]
	}
	return out
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
// balancer; one replica is killed (SIGKILL) mid-load. Every acknowledged
// message is stored, and every send, retried by the client package with
// its Idempotency-Key through another replica, exactly once; every waiter
// gets its answer; the question webhooks the dead replica was delivering
// are delivered by the others.
func TestReplicaLostMidLoad(t *testing.T) {
	t.Parallel()
	c := balancedCluster(t)
	_, agent, person := c.user()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	counting := &countingTransport{}
	hc := &http.Client{Transport: counting}
	newClient := func(token string) *client.Client {
		cl := client.New(c.lbURL, token, hc)
		cl.Retries, cl.Backoff = 10, 100*time.Millisecond
		return cl
	}

	hooks := newHookReceiver(t)
	if _, err := http.DefaultClient.Do(func() *http.Request {
		req, _ := http.NewRequest("POST", c.lbURL+"/api/v1/webhooks", strings.NewReader(`{"url":"`+hooks.srv.URL+`","event_types":["question.asked"]}`))
		req.Header.Set("Authorization", "Bearer "+person)
		req.Header.Set("Content-Type", "application/json")
		return req
	}()); err != nil {
		t.Fatal(err)
	}
	if n := c.count(`SELECT count(*) FROM webhooks`); n != 1 {
		t.Fatalf("%d webhooks", n)
	}

	// 8 waiters, half long-polling over REST, half over MCP.
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
	// All asked (each question's webhook is now held by some replica).
	for c.count(`SELECT count(*) FROM messages WHERE requires_user_input`) < len(waiters) {
		if ctx.Err() != nil {
			t.Fatal("the waiters did not ask")
		}
		time.Sleep(20 * time.Millisecond) // polling the database
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

	// The replica with the most waiters dies.
	victim := c.replicas[0]
	for _, r := range c.replicas[1:] {
		if waitersOn(r) > waitersOn(victim) {
			victim = r
		}
	}
	t.Logf("killing %s, which holds %d waiters", victim.name, waitersOn(victim))
	before := ackCount.Load()
	killed := time.Now()
	victim.kill(t)
	close(hooks.release)
	waitAcks(before + 300)
	close(stop)
	swg.Wait()

	// The person answers every question, through the balancer.
	asker := newClient(person)
	for _, w := range waiters {
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

	// The question webhooks, those the dead replica held among them,
	// arrive.
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
	deadline := time.After(2 * time.Minute)
	var last time.Time
	for {
		missing := 0
		for _, at := range hooks.delivered(questions) {
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
			t.Fatalf("%d question webhooks never arrived", missing)
		}
	}
	rescued := c.count(`SELECT count(*) FROM river_job WHERE errors::text LIKE '%Stuck job rescued%'`)
	// Figures for the note, not assertions.
	t.Logf("%d sends acknowledged, %d while or after the replica died; %d failed attempts retried by clients; slowest send %v",
		len(acked), len(acked)-int(before), counting.failures.Load(), time.Duration(slowest.Load()).Round(time.Millisecond))
	t.Logf("MCP waiters reconnected %d times; last question webhook %v after the kill; %d jobs rescued from the dead replica",
		reconnects.Load(), last.Sub(killed).Round(time.Second), rescued)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}
