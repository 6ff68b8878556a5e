package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/testserver"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type server struct {
	url          string
	store        *db.Store
	agent, human string
}

func newServer(t *testing.T) server {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{})
	user := srv.User()
	return server{url: srv.URL, store: srv.Store, agent: srv.Token(user, auth.ScopeAgent), human: srv.Token(user, auth.ScopeUser)}
}

func TestAskAndAnswer(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	agent, person := client.New(s.url, s.agent, nil), client.New(s.url, s.human, nil)

	first, err := agent.Send(ctx, client.SendParams{AgentType: "go", Content: "starting"})
	if err != nil || first.InstanceID == "" || first.MessageID == "" {
		t.Fatalf("send: %+v %v", first, err)
	}
	q, err := agent.Send(ctx, client.SendParams{InstanceID: first.InstanceID, Content: "Which port?", RequiresUserInput: true})
	if err != nil {
		t.Fatal(err)
	}
	page, err := person.Instances(ctx, "AWAITING_INPUT", "", 10)
	if err != nil || len(page.Instances) != 1 || page.Instances[0].OpenQuestion.Content != "Which port?" {
		t.Fatalf("person's list: %+v %v", page, err)
	}
	got := make(chan string, 1)
	go func() {
		a, err := agent.WaitForAnswer(ctx, q.InstanceID, q.MessageID)
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	if _, err := person.Answer(ctx, q.InstanceID, "8080"); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a != "8080" {
		t.Fatalf("answer %q", a)
	}
	end, err := agent.End(ctx, q.InstanceID)
	if err != nil || end.FinalStatus != "COMPLETED" {
		t.Fatalf("end: %+v %v", end, err)
	}
	if _, err := agent.Send(ctx, client.SendParams{InstanceID: "not-a-uuid", Content: "x"}); !client.IsStatus(err, 422) {
		t.Fatalf("bad id: %v", err)
	}
}

// A write whose response is lost is retried with the same key: the server
// keeps one message and the client gets its answer.
func TestRetriesNeverDuplicate(t *testing.T) {
	s := newServer(t)
	var posts atomic.Int32
	lossy := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		res, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && r.Method == "POST" && posts.Add(1) == 1 {
			res.Body.Close() // processed, but the answer is lost on the way
			return &http.Response{StatusCode: 502, Body: io.NopCloser(strings.NewReader("bad gateway")), Header: http.Header{}, Request: r}, nil
		}
		return res, err
	})}
	c := client.New(s.url, s.agent, lossy)
	c.Backoff = time.Millisecond
	res, err := c.Send(context.Background(), client.SendParams{AgentType: "go", Content: "exactly once"})
	if err != nil {
		t.Fatal(err)
	}
	if posts.Load() != 2 {
		t.Fatalf("%d POSTs, want the original and one retry", posts.Load())
	}
	inst, err := client.New(s.url, s.human, nil).Instance(context.Background(), res.InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM messages").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d messages for %s after a retry (%v)", n, inst.ID, err)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWaitEndsWithSessionAndContext(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	agent := client.New(s.url, s.agent, nil)
	q, err := agent.Send(ctx, client.SendParams{AgentType: "go", Content: "Stop?", RequiresUserInput: true})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := agent.WaitForAnswer(cctx, q.InstanceID, q.MessageID); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := agent.WaitForAnswer(ctx, q.InstanceID, q.MessageID); done <- err }()
	if _, err := agent.End(ctx, q.InstanceID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, client.ErrSessionEnded) {
		t.Fatalf("wait after the end: %v", err)
	}
}

// A question with options: the person picks one, the agent hears which.
func TestChooseAnOption(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	agent, person := client.New(s.url, s.agent, nil), client.New(s.url, s.human, nil)
	q, err := agent.Send(ctx, client.SendParams{AgentType: "go", Content: "Which region?", RequiresUserInput: true,
		Options: []string{"eu-west", "us-east"}})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := person.Choose(ctx, q.InstanceID, q.MessageID, 1, "")
	if err != nil || !ch.Answered || ch.OptionIndex == nil || *ch.OptionIndex != 1 || ch.Decision != nil {
		t.Fatalf("choose: %+v %v", ch, err)
	}
	st, err := agent.QuestionAnswer(ctx, q.MessageID, 0)
	if err != nil || st.Status != "answered" || *st.Answer != "us-east" || st.OptionIndex == nil || *st.OptionIndex != 1 {
		t.Fatalf("answer state: %+v %v", st, err)
	}
	if _, err := person.Choose(ctx, q.InstanceID, q.MessageID, 5, ""); !client.IsStatus(err, 400) {
		t.Fatalf("option out of range: %v", err)
	}
}
