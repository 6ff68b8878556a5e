package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/webhook"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(crashingWorkerEnv); url != "" {
		crashingWorker(url)
		return
	}
	dbtest.Main(m)
}

// delivery is one request the receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a loopback webhook receiver answering with the given
// statuses in turn (then 200).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      chan delivery
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, got: make(chan delivery, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := 200
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		r.got <- delivery{req.Header.Clone(), b}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-r.got:
		return d
	case <-time.After(time.Minute):
		t.Fatal("no delivery")
	}
	return delivery{}
}

type env struct {
	pool  *pgxpool.Pool
	store *db.Store
	user  uuid.UUID
	jobs  *river.Client[pgx.Tx]
}

// newEnv makes a store that enqueues deliveries; start runs a worker.
func newEnv(t *testing.T) *env {
	t.Parallel()
	pool := dbtest.Pool(t)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// The receivers are on loopback: this store lets webhooks target them.
	store := db.NewStore(pool, db.WithHub(dbtest.Hub(t, pool)), db.WithJobs(jobs), db.WithWebhookPolicy(true))
	return &env{pool: pool, store: store, user: dbtest.User(t, store), jobs: jobs}
}

// start runs a delivery worker (a server process) until the test ends.
func (e *env) start(t *testing.T, allowPrivate bool) *river.Client[pgx.Tx] {
	t.Helper()
	w := webhook.NewWorker(webhook.Config{Store: db.NewStore(e.pool), PublicURL: "http://handoff.test",
		AllowPrivate: allowPrivate, RetryBase: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	ws := webhook.Workers(w)
	db.AddWorkers(ws, db.NewStore(e.pool)) // a permission request's expiry, as serve runs it
	return dbtest.RunJobs(t, e.pool, ws)
}

func (e *env) hook(t *testing.T, url, format string, types ...string) db.Webhook {
	t.Helper()
	h, err := e.store.CreateWebhook(context.Background(), db.NewWebhook{UserID: e.user, URL: url, EventTypes: types, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (e *env) ask(t *testing.T, inst uuid.UUID, q string) db.SendAgentMessageResult {
	t.Helper()
	res, err := e.store.SendAgentMessage(context.Background(), db.SendAgentMessageParams{
		UserID: e.user, InstanceID: inst, AgentType: "x", Content: q, RequiresUserInput: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A question reaches the receiver, signed as Standard Webhooks says.
func TestQuestionIsDeliveredSigned(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t)
	h := e.hook(t, rcv.URL, "standard", db.EventQuestionAsked)
	e.start(t, true)
	inst := uuid.New()
	// A step does not notify by default; the question does.
	if _, err := e.store.SendAgentMessage(context.Background(), db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, AgentType: "x", Content: "step"}); err != nil {
		t.Fatal(err)
	}
	q := e.ask(t, inst, "Deploy?")

	d := rcv.next(t)
	id, ts, sig := d.header.Get("webhook-id"), d.header.Get("webhook-timestamp"), d.header.Get("webhook-signature")
	sec, _ := strconv.ParseInt(ts, 10, 64)
	want, err := webhook.Sign(h.Secret, id, sec, d.body)
	if err != nil || sig != want || id == "" {
		t.Fatalf("signature %q, want %q (id %q, err %v)", sig, want, id, err)
	}
	var body struct {
		Type string         `json:"type"`
		Data db.WebhookData `json:"data"`
	}
	if err := json.Unmarshal(d.body, &body); err != nil || body.Type != db.EventQuestionAsked ||
		body.Data.Content != "Deploy?" || *body.Data.MessageID != q.MessageID || body.Data.AgentInstanceID != inst {
		t.Fatalf("body %s (%v)", d.body, err)
	}
}

// A 500 is retried; the deliveries show both attempts.
func TestRetryAfterServerError(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, 500)
	h := e.hook(t, rcv.URL, "slack", db.EventQuestionAsked)
	e.start(t, true)
	e.ask(t, uuid.New(), "Merge?")
	first, second := rcv.next(t), rcv.next(t)
	if first.header.Get("webhook-id") != second.header.Get("webhook-id") {
		t.Fatal("a retry is a new event")
	}
	var slack map[string]string
	if err := json.Unmarshal(second.body, &slack); err != nil || slack["text"] == "" {
		t.Fatalf("slack body %s", second.body)
	}
	var ds []db.WebhookDelivery
	deadline := time.Now().Add(time.Minute)
	for len(ds) < 2 && time.Now().Before(deadline) {
		ds, _ = e.store.ListDeliveries(context.Background(), e.user, h.ID, 10)
	}
	if len(ds) != 2 || *ds[1].StatusCode != 500 || *ds[0].StatusCode != 200 {
		t.Fatalf("deliveries %+v", ds)
	}
}

// A 4xx other than 429 stops: one attempt, the job cancelled.
func TestClientErrorStops(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, 410)
	e.hook(t, rcv.URL, "standard", db.EventQuestionAsked)
	e.start(t, true)
	e.ask(t, uuid.New(), "Gone?")
	rcv.next(t)
	waitJobState(t, e.pool, "cancelled")
	select {
	case d := <-rcv.got:
		t.Fatalf("retried after a 410: %s", d.body)
	default:
	}
}

// Nothing is sent for a transaction that rolled back; a delivery enqueued
// while no worker runs (a restart) is delivered when one starts.
func TestRolledBackAndRestart(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t)
	h := e.hook(t, rcv.URL, "standard", db.EventQuestionAsked)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.InsertTx(ctx, tx, db.DeliverWebhookArgs{WebhookID: h.ID, UserID: e.user, EventID: "evt_rolled_back",
		Type: db.EventQuestionAsked, Data: json.RawMessage(`{}`), CreatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The question commits while no worker runs.
	e.ask(t, uuid.New(), "Still there?")
	var n int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'available'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d jobs waiting (%v), want the committed one only", n, err)
	}
	e.start(t, true) // the "restarted" server
	if d := rcv.next(t); d.header.Get("webhook-id") == "evt_rolled_back" {
		t.Fatal("delivered a rolled-back event")
	}
	waitJobState(t, e.pool, "completed")
	select {
	case d := <-rcv.got:
		t.Fatalf("a second delivery: %s", d.header.Get("webhook-id"))
	default:
	}
}

// Private targets are refused at creation and at delivery, unless allowed
// (the policy itself is netguard's, tested there).
func TestPrivateTargetsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var before int
	_ = e.pool.QueryRow(ctx, "SELECT count(*) FROM webhooks").Scan(&before)
	strict := db.NewStore(e.pool) // the default policy
	for _, u := range []string{"http://127.0.0.1:9/x", "http://localhost/", "http://[::1]/", "http://169.254.169.254/latest", "ftp://example.com"} {
		_, err := strict.CreateWebhook(ctx, db.NewWebhook{UserID: e.user, URL: u, EventTypes: []string{db.EventQuestionAsked}})
		if db.ErrorCode(err) != db.EInvalid {
			t.Errorf("%s: %v, want refused as invalid", u, err)
		}
	}
	var after int
	_ = e.pool.QueryRow(ctx, "SELECT count(*) FROM webhooks").Scan(&after)
	if after != before {
		t.Fatalf("refused targets wrote %d webhooks", after-before)
	}
	// (session.ended: the question below enqueues nothing for it.)
	if _, err := strict.CreateWebhook(ctx, db.NewWebhook{UserID: e.user, URL: "https://8.8.8.8/hook",
		EventTypes: []string{db.EventSessionEnded}}); err != nil {
		t.Fatalf("a public target refused: %v", err)
	}
	rcv := newReceiver(t)
	h := e.hook(t, rcv.URL, "standard", db.EventQuestionAsked) // allowed at creation: the dial must refuse it too
	e.start(t, false)
	e.ask(t, uuid.New(), "Reach me?")
	waitJobState(t, e.pool, "cancelled")
	ds, _ := e.store.ListDeliveries(ctx, e.user, h.ID, 10)
	if len(ds) != 1 || ds[0].Error == nil {
		t.Fatalf("deliveries %+v", ds)
	}
	select {
	case <-rcv.got:
		t.Fatal("a private target was reached")
	default:
	}
}

// waitJobState waits until the only job has the state (a condition wait).
func waitJobState(t *testing.T, pool *pgxpool.Pool, state string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var s string
		_ = pool.QueryRow(context.Background(), "SELECT state FROM river_job ORDER BY id DESC LIMIT 1").Scan(&s)
		if s == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job state %q, want %q", s, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Omnara's send_* flags mean "notify the person": questions notify by
// default, steps do not, and a flag overrides either way.
func TestNotifyDefaultsAndFlags(t *testing.T) {
	e := newEnv(t)
	e.hook(t, "https://8.8.8.8/hook", "standard", db.EventQuestionAsked, db.EventMessageCreated)
	ctx := context.Background()
	jobs := func() int {
		var n int
		if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	yes, no := true, false
	inst := uuid.New()
	for _, c := range []struct {
		question bool
		notify   *bool
		jobs     int // question.asked + message.created
	}{
		{false, nil, 0}, {true, nil, 2}, {true, &no, 0}, {false, &yes, 1},
	} {
		before := jobs()
		if _, err := e.store.SendAgentMessage(ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, AgentType: "x",
			Content: "m", RequiresUserInput: c.question, Notify: c.notify}); err != nil {
			t.Fatal(err)
		}
		if got := jobs() - before; got != c.jobs {
			t.Errorf("question %v, notify %v: %d deliveries enqueued, want %d", c.question, c.notify, got, c.jobs)
		}
	}
	// A person's answer: question.answered is not subscribed; message.created is.
	before := jobs()
	if _, err := e.store.CreateUserMessage(ctx, db.CreateUserMessageParams{UserID: e.user, InstanceID: inst, Content: "ok"}); err != nil {
		t.Fatal(err)
	}
	if got := jobs() - before; got != 1 {
		t.Errorf("user message: %d deliveries, want 1", got)
	}
}

// Ending a session twice announces it once.
func TestEndTwiceNotifiesOnce(t *testing.T) {
	e := newEnv(t)
	e.hook(t, "https://8.8.8.8/hook", "standard", db.EventSessionEnded)
	ctx := context.Background()
	inst := uuid.New()
	if _, err := e.store.SendAgentMessage(ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, AgentType: "x", Content: "hi"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := e.store.EndSession(ctx, e.user, inst); err != nil {
			t.Fatal(err)
		}
	}
	var jobs, events int
	_ = e.pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&jobs)
	_ = e.pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE kind = 'status'").Scan(&events)
	if jobs != 1 || events != 1 {
		t.Fatalf("%d session.ended deliveries and %d status events for two ends, want 1 and 1", jobs, events)
	}
}

// crashingWorkerEnv makes the test binary a delivery worker on the
// database it names, working until it is killed: a server process to
// kill -9 mid-delivery.
const crashingWorkerEnv = "HANDOFF_TEST_CRASHING_WORKER"

func crashingWorker(url string) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		os.Exit(3)
	}
	w := webhook.NewWorker(webhook.Config{Store: db.NewStore(pool), PublicURL: "http://handoff.test", AllowPrivate: true,
		Log: slog.New(slog.DiscardHandler)})
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}}, Workers: webhook.Workers(w),
		FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		os.Exit(3)
	}
	select {}
}

// A server killed (SIGKILL) while a delivery is in flight leaves its job
// running; a server started afterwards, configured as serve is, delivers
// it within a minute (River's default would wait an hour).
func TestDeliveryCutByACrashArrives(t *testing.T) {
	e := newEnv(t)
	first, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	got := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		blocked := false
		once.Do(func() { blocked = true })
		if blocked { // the first attempt: hold it while its process dies
			close(first)
			<-release
			return
		}
		got <- struct{}{}
	}))
	defer rcv.Close()
	defer close(release)
	e.hook(t, rcv.URL, "standard", db.EventQuestionAsked)
	e.ask(t, uuid.New(), "Still there?")

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashingWorkerEnv+"="+e.pool.Config().ConnString())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the worker process never started the delivery")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var state string
	if err := e.pool.QueryRow(context.Background(), "SELECT state FROM river_job WHERE kind = $1", db.DeliverWebhookArgs{}.Kind()).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "running" {
		t.Fatalf("after the kill the job is %s, want running (stuck)", state)
	}

	w := webhook.NewWorker(webhook.Config{Store: db.NewStore(e.pool), PublicURL: "http://handoff.test", AllowPrivate: true,
		Log: slog.New(slog.DiscardHandler)})
	c, err := river.NewClient(riverpgxv5.New(e.pool), &river.Config{
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}}, Workers: webhook.Workers(w),
		JobTimeout: webhook.JobTimeout, RescueStuckJobsAfter: webhook.RescueAfter, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	}()
	select {
	case <-got:
	case <-time.After(time.Minute):
		t.Fatal("the delivery cut off by the crash did not arrive within a minute")
	}
}

// A permission request and its decision reach the receiver with what was
// asked and what was chosen.
func TestPermissionRequestAndDecisionDelivered(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t)
	e.hook(t, rcv.URL, "standard", db.EventPermissionRequested, db.EventQuestionAnswered)
	e.start(t, true)
	ctx := context.Background()
	inst := uuid.New()
	done := make(chan db.PermissionResult, 1)
	go func() {
		res, err := e.store.RequestPermission(ctx, db.RequestPermissionParams{UserID: e.user, InstanceID: inst, AgentType: "x",
			ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"make deploy"}`)}, time.Now().Add(time.Minute))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	var body struct {
		Type string         `json:"type"`
		Data db.WebhookData `json:"data"`
	}
	d := rcv.next(t)
	if err := json.Unmarshal(d.body, &body); err != nil || body.Type != db.EventPermissionRequested || body.Data.Kind != db.KindPermission ||
		len(body.Data.Options) != 3 || !strings.Contains(string(body.Data.Permission), `"command":"make deploy"`) {
		t.Fatalf("request %s (%v)", d.body, err)
	}
	request := *body.Data.MessageID
	if _, err := e.store.CreateUserMessage(ctx, db.CreateUserMessageParams{UserID: e.user, InstanceID: inst,
		ReplyTo: &request, OptionIndex: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Decision.Outcome != db.OutcomeAllowSession {
		t.Fatalf("decision %+v", res.Decision)
	}
	d = rcv.next(t)
	body.Data = db.WebhookData{}
	if err := json.Unmarshal(d.body, &body); err != nil || body.Type != db.EventQuestionAnswered ||
		body.Data.QuestionID == nil || *body.Data.QuestionID != request || body.Data.Decision == nil || body.Data.OptionIndex == nil {
		t.Fatalf("answer %s (%v)", d.body, err)
	}
	if *body.Data.OptionIndex != 1 || body.Data.Decision.Outcome != db.OutcomeAllowSession || body.Data.Decision.Rule != "Bash(make:*)" {
		t.Fatalf("answer %s", d.body)
	}
}

func ptr[T any](v T) *T { return &v }

// The page's Test button sends the webhook a sample event, signed.
func TestTestWebhook(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t)
	h := e.hook(t, rcv.URL, "standard", db.EventQuestionAsked)
	e.start(t, true)
	if err := e.store.TestWebhook(context.Background(), e.user, h.ID); err != nil {
		t.Fatal(err)
	}
	d := rcv.next(t)
	if !strings.Contains(string(d.body), `"type":"webhook.test"`) || d.header.Get("webhook-signature") == "" {
		t.Fatalf("sample %s %v", d.body, d.header)
	}
	if err := e.store.TestWebhook(context.Background(), e.user, uuid.New()); db.ErrorCode(err) != db.ENotFound {
		t.Fatalf("unknown webhook: %v", err)
	}
}
