package db_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// bash is a Bash tool input as Claude Code sends it.
func bash(cmd string) json.RawMessage {
	raw, _ := json.Marshal(map[string]string{"command": cmd, "description": "run " + cmd})
	return raw
}

type asked struct {
	res db.PermissionResult
	err error
}

// request starts a permission request that waits until deadline, and
// returns once the request waits for the person (or has ended).
func (e *env) request(inst uuid.UUID, tool string, input json.RawMessage, deadline time.Time) <-chan asked {
	e.t.Helper()
	return e.requestCtx(e.ctx, inst, tool, input, deadline)
}

func (e *env) requestCtx(ctx context.Context, inst uuid.UUID, tool string, input json.RawMessage, deadline time.Time) <-chan asked {
	e.t.Helper()
	before := len(e.open(inst))
	sub, err := e.s.Watch(e.ctx, inst)
	if err != nil {
		e.t.Fatal(err)
	}
	defer sub.Close()
	out := make(chan asked, 1)
	go func() {
		res, err := e.s.RequestPermission(ctx, db.RequestPermissionParams{UserID: e.user, InstanceID: inst,
			AgentType: "Claude Code", ToolName: tool, ToolInput: input}, deadline)
		out <- asked{res, err}
	}()
	for len(e.open(inst)) == before {
		select {
		case <-sub.C:
		case a := <-out: // decided at once (a rule) or failed
			out <- a
			return out
		}
	}
	return out
}

func (e *env) open(inst uuid.UUID) []db.Message {
	e.t.Helper()
	msgs, err := e.s.OpenPermissionRequests(e.ctx, e.user, inst)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// answer sends the person's message, naming a question or not, choosing
// an option or not.
func (e *env) answer(inst uuid.UUID, replyTo *uuid.UUID, idx *int, content string) (db.CreateUserMessageResult, error) {
	return e.s.CreateUserMessage(e.ctx, db.CreateUserMessageParams{UserID: e.user, InstanceID: inst,
		Content: content, ReplyTo: replyTo, OptionIndex: idx})
}

func decided(t *testing.T, ch <-chan asked) db.PermissionResult {
	t.Helper()
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a.res
}

func later() time.Time { return time.Now().Add(time.Minute) }

func TestPermissionAllowOnceAndDeny(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	ch := e.request(inst, "Bash", bash("rm -rf build"), later())
	open := e.open(inst)
	if len(open) != 1 || !slices.Equal(open[0].Options, []string{"Yes", "Yes and approve rm for rest of session", "No"}) ||
		!open[0].RequiresUserInput || *open[0].Kind != db.KindPermission {
		t.Fatalf("open request: %+v", open)
	}
	if p := db.ParsePermission(open[0].Permission); p.ToolName != "Bash" || p.Rule != "Bash(rm:*)" {
		t.Fatalf("permission %+v", p)
	}
	if st := e.instance(inst).Status; st != db.AgentStatusAWAITINGINPUT {
		t.Fatalf("status %s while a request waits", st)
	}
	// A message that names no request decides nothing, even "Yes" with
	// one request waiting: it is an instruction for the agent.
	if ans, err := e.answer(inst, nil, nil, "Yes"); err != nil || ans.Decision != nil || ans.Answered {
		t.Fatalf("untargeted yes: %+v, %v", ans, err)
	}
	if _, err := e.answer(inst, nil, ptr(0), ""); err == nil {
		t.Fatal("an option without a question was taken")
	}
	ans, err := e.answer(inst, &open[0].ID, ptr(0), "")
	if err != nil || !ans.Answered || ans.Decision.Outcome != db.OutcomeAllow || *ans.QuestionID != open[0].ID || *ans.OptionIndex != 0 {
		t.Fatalf("answer: %+v, %v", ans, err)
	}
	if res := decided(t, ch); res.Decision.Outcome != db.OutcomeAllow || res.RequestID != open[0].ID || res.InstanceID != inst {
		t.Fatalf("result %+v", res)
	}
	if st := e.instance(inst).Status; st != db.AgentStatusACTIVE {
		t.Fatalf("status %s after the decision", st)
	}

	ch = e.request(inst, "Bash", bash("rm -rf build"), later())
	ans, err = e.answer(inst, &e.open(inst)[0].ID, nil, "not now, run the tests first")
	if err != nil || ans.Decision.Outcome != db.OutcomeDeny {
		t.Fatalf("deny: %+v, %v", ans, err)
	}
	if res := decided(t, ch); res.Decision.Outcome != db.OutcomeDeny || res.Decision.Message != "not now, run the tests first" {
		t.Fatalf("result %+v", res)
	}
	ch = e.request(inst, "Bash", bash("rm -rf build"), later())
	if _, err = e.answer(inst, &e.open(inst)[0].ID, nil, "no"); err != nil {
		t.Fatal(err)
	}
	if res := decided(t, ch); res.Decision.Outcome != db.OutcomeDeny || res.Decision.Message != db.DeniedMessage {
		t.Fatalf("result %+v", res)
	}
	// Decisions are about requests: none is handed to the agent.
	wantContents(t, "queue after decisions", e.agent(inst, "next", false).Queued, "Yes")
}

func TestPermissionExpiresAndLateDecisionIsNotApplied(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "working", false)
	// A deadline that has passed: one look, then expired.
	res := decided(t, e.request(inst, "Bash", bash("ls -la"), time.Now()))
	if res.Decision.Outcome != db.OutcomeExpired || res.Decision.Allows() {
		t.Fatalf("result %+v", res)
	}
	if st := e.instance(inst).Status; st != db.AgentStatusACTIVE {
		t.Fatalf("status %s after expiry", st)
	}
	// The person decides late: recorded, not applied (no rule).
	ans, err := e.answer(inst, &res.RequestID, ptr(1), "")
	if err != nil || !ans.Late || ans.Answered || ans.Decision.Outcome != db.OutcomeAllowSession {
		t.Fatalf("late answer: %+v, %v", ans, err)
	}
	if rules := e.instance(inst).PermissionRules; len(rules) != 0 {
		t.Fatalf("a late decision made rules %v", rules)
	}
	req := e.message(inst, res.RequestID)
	if d := db.ParseDecision(req.Decision); d.Outcome != db.OutcomeExpired || d.Late == nil || d.Late.Outcome != db.OutcomeAllowSession {
		t.Fatalf("recorded %+v", d)
	}
	// Deciding again is refused, and writes nothing.
	before := e.count("messages")
	_, err = e.answer(inst, &res.RequestID, ptr(0), "")
	wantCode(t, err, db.EConflict, "This permission request was decided already")
	if e.count("messages") != before {
		t.Fatal("a refused decision wrote a message")
	}
}

func TestPermissionCancelledWaitExpires(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	ctx, cancel := context.WithCancel(e.ctx)
	ch := e.requestCtx(ctx, inst, "Write", json.RawMessage(`{"file_path":"a.go","content":"package a"}`), later())
	cancel()
	if res := decided(t, ch); res.Decision.Outcome != db.OutcomeExpired {
		t.Fatalf("result %+v", res)
	}
	if len(e.open(inst)) != 0 {
		t.Fatal("a request nobody waits for is still open")
	}
}

func TestPermissionAllowForSession(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	ch := e.request(inst, "Bash", bash("ls -la"), later())
	if ans, err := e.answer(inst, &e.open(inst)[0].ID, nil, "Yes and approve ls for rest of session"); err != nil || *ans.OptionIndex != 1 {
		t.Fatalf("answer %+v, %v", ans, err)
	}
	if res := decided(t, ch); res.Decision.Outcome != db.OutcomeAllowSession || res.Decision.Rule != "Bash(ls:*)" {
		t.Fatalf("result %+v", res)
	}
	if rules := e.instance(inst).PermissionRules; !slices.Equal(rules, []string{"Bash(ls:*)"}) {
		t.Fatalf("rules %v", rules)
	}
	// A matching request is allowed at once and recorded for the person.
	res := decided(t, e.request(inst, "Bash", bash("ls src"), later()))
	if res.Decision.Outcome != db.OutcomeAutoAllow || res.Decision.Rule != "Bash(ls:*)" {
		t.Fatalf("matching request: %+v", res)
	}
	rec := e.message(inst, res.RequestID)
	if rec.RequiresUserInput || db.ParseDecision(rec.Decision).Outcome != db.OutcomeAutoAllow {
		t.Fatalf("record %+v", rec)
	}
	// A different command, or the same word in a compound command, asks.
	for _, cmd := range []string{"rm -rf build", "ls; rm -rf ~", "ls $(rm -rf ~)", "ls && curl x | sh"} {
		if res := decided(t, e.request(inst, "Bash", bash(cmd), time.Now())); res.Decision.Outcome != db.OutcomeExpired {
			t.Fatalf("%q: %+v", cmd, res)
		}
	}
	// A rule of one session allows nothing in another.
	other := uuid.New()
	if res := decided(t, e.request(other, "Bash", bash("ls"), time.Now())); res.Decision.Outcome != db.OutcomeExpired {
		t.Fatalf("other session: %+v", res)
	}
}

func TestPermissionSeveralWaiting(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	first := e.request(inst, "Bash", bash("make build"), later())
	second := e.request(inst, "Edit", json.RawMessage(`{"file_path":"a.go","old_string":"a","new_string":"b"}`), later())
	open := e.open(inst)
	if len(open) != 2 {
		t.Fatalf("%d open", len(open))
	}
	// Which one "yes" means is not clear: it decides neither and is an
	// instruction to the agent.
	if ans, err := e.answer(inst, nil, nil, "Yes"); err != nil || ans.Decision != nil || ans.QuestionID != nil {
		t.Fatalf("untargeted: %+v, %v", ans, err)
	}
	// "No" with a reason: the reason is the message, even if it reads
	// like an option's label.
	if ans, err := e.answer(inst, &open[1].ID, ptr(2), "Yes, later"); err != nil || ans.Decision.Outcome != db.OutcomeDeny {
		t.Fatalf("deny second: %+v, %v", ans, err)
	}
	if res := decided(t, second); res.Decision.Outcome != db.OutcomeDeny || res.Decision.Message != "Yes, later" {
		t.Fatalf("second %+v", res)
	}
	if st := e.instance(inst).Status; st != db.AgentStatusAWAITINGINPUT {
		t.Fatalf("status %s while the first still waits", st)
	}
	if _, err := e.answer(inst, &open[0].ID, ptr(0), "Yes"); err != nil {
		t.Fatal(err)
	}
	if res := decided(t, first); res.Decision.Outcome != db.OutcomeAllow {
		t.Fatalf("first %+v", res)
	}
	wantContents(t, "queue", e.agent(inst, "next", false).Queued, "Yes")
}

func TestPermissionOnEndedSession(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "step", false)
	if _, err := e.s.EndSession(e.ctx, e.user, inst); err != nil {
		t.Fatal(err)
	}
	res := decided(t, e.request(inst, "Bash", bash("ls"), later()))
	if !res.Ended || res.Decision.Allows() {
		t.Fatalf("result %+v", res)
	}
}

func TestPermissionBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		tool, input, msg string
	}{
		{"", `{}`, "tool_name is required"},
		{"Bash", `[1]`, "tool_input must be a JSON object"},
		{"Bash", `"ls"`, "tool_input must be a JSON object"},
	} {
		_, err := e.s.RequestPermission(e.ctx, db.RequestPermissionParams{UserID: e.user, InstanceID: uuid.New(),
			AgentType: "Claude Code", ToolName: tc.tool, ToolInput: json.RawMessage(tc.input)}, later())
		wantCode(t, err, db.EInvalid, tc.msg)
	}
	if n := e.count("agent_instances"); n != 0 {
		t.Fatalf("bad requests made %d sessions", n)
	}
}

func TestQuestionOptions(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	q, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, AgentType: "x",
		Content: "Deploy where?", RequiresUserInput: true, Options: []string{"staging", "production"}})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := e.answer(inst, nil, ptr(1), "")
	if err != nil || !ans.Answered || *ans.OptionIndex != 1 || *ans.QuestionID != q.MessageID {
		t.Fatalf("answer %+v, %v", ans, err)
	}
	res, err := e.s.CheckAnswer(e.ctx, e.user, q.MessageID)
	if err != nil || res.Answer.Content != "production" || *res.OptionIndex != 1 {
		t.Fatalf("check %+v, %v", res, err)
	}

	// Omnara's options block, answered with a label's text.
	q, err = e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst,
		Content: "Continue?\n\n[OPTIONS]\n1. Yes\n2. No, stop\n[/OPTIONS]\n", RequiresUserInput: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := e.message(inst, q.MessageID); !slices.Equal(m.Options, []string{"Yes", "No, stop"}) {
		t.Fatalf("options %q", m.Options)
	}
	e.person(inst, " no, STOP ", false)
	if res, _ := e.s.CheckAnswer(e.ctx, e.user, q.MessageID); res.OptionIndex == nil || *res.OptionIndex != 1 {
		t.Fatalf("label answer %+v", res)
	}
	// Free text chooses nothing.
	q = e.agent(inst, "Anything else?\n[OPTIONS]\n1. No\n[/OPTIONS]", true)
	e.person(inst, "yes: the docs", false)
	if res, _ := e.s.CheckAnswer(e.ctx, e.user, q.MessageID); res.OptionIndex != nil {
		t.Fatalf("free text %+v", res)
	}

	before := e.count("messages")
	e.agent(inst, "Pick", true) // no options
	for _, tc := range []struct {
		p   db.CreateUserMessageParams
		msg string
	}{
		{db.CreateUserMessageParams{OptionIndex: ptr(0)}, "option_index: there is no question with options to answer"},
		{db.CreateUserMessageParams{ReplyTo: &q.MessageID, OptionIndex: ptr(1)}, "option_index must be from 0 to 0"},
		{db.CreateUserMessageParams{ReplyTo: &q.MessageID, OptionIndex: ptr(0), Content: "Yes"}, "content must be empty or the chosen option's label"},
		{db.CreateUserMessageParams{ReplyTo: ptr(uuid.New()), Content: "x"}, "reply_to is not a question of this session"},
	} {
		tc.p.UserID, tc.p.InstanceID = e.user, inst
		_, err := e.s.CreateUserMessage(e.ctx, tc.p)
		wantCode(t, err, db.EInvalid, tc.msg)
	}
	for _, tc := range []struct {
		p   db.SendAgentMessageParams
		msg string
	}{
		{db.SendAgentMessageParams{Content: "step", Options: []string{"a"}}, "options are for questions (requires_user_input)"},
		{db.SendAgentMessageParams{Content: "q", RequiresUserInput: true, Options: []string{"a", " A"}}, "options[1] repeats an earlier option"},
		{db.SendAgentMessageParams{Content: "q", RequiresUserInput: true, Options: []string{" "}}, "options[0] must not be empty"},
		{db.SendAgentMessageParams{Content: "q", RequiresUserInput: true, Options: []string{"a\nb"}}, "options[0] must be one line"},
	} {
		tc.p.UserID, tc.p.InstanceID = e.user, inst
		_, err := e.s.SendAgentMessage(e.ctx, tc.p)
		wantCode(t, err, db.EInvalid, tc.msg)
	}
	if got := e.count("messages"); got != before+1 {
		t.Fatalf("bad input wrote %d messages", got-before-1)
	}
}

func TestSplitOptions(t *testing.T) {
	for _, tc := range []struct {
		in, text string
		opts     []string
	}{
		{"Go?\n\n[OPTIONS]\n1. Yes\n2) No\n[/OPTIONS]", "Go?", []string{"Yes", "No"}},
		{"Go?\n[OPTIONS]\n- a\n\n[/OPTIONS]\n\n", "Go?", []string{"- a"}},
		{"Go? [OPTIONS] in the middle [/OPTIONS] then text", "Go? [OPTIONS] in the middle [/OPTIONS] then text", nil},
		{"Go?\n[OPTIONS]\n[/OPTIONS]", "Go?\n[OPTIONS]\n[/OPTIONS]", nil},
		{"no block", "no block", nil},
	} {
		text, opts := db.SplitOptions(tc.in)
		if text != tc.text || !slices.Equal(opts, tc.opts) {
			t.Errorf("%q: %q %q", tc.in, text, opts)
		}
	}
}

// message reads one message of the instance.
func (e *env) message(inst, id uuid.UUID) db.Message {
	e.t.Helper()
	msgs, _, err := e.s.ListMessages(e.ctx, e.user, inst, 0, 200)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("message %s not found", id)
	return db.Message{}
}

// Questions and requests in one session: each answer reaches the question
// it names, and what is open is what waits.
func TestQuestionsAndRequestsTogether(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	ask := func(text string, options ...string) uuid.UUID {
		t.Helper()
		res, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, AgentType: "x",
			Content: text, RequiresUserInput: true, Options: options})
		if err != nil {
			t.Fatal(err)
		}
		return res.MessageID
	}
	// A hook's record neither moves on from a question nor changes the
	// status.
	q1 := ask("Delete the branch?", "Yes", "No")
	if _, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst,
		Content: "Claude is waiting for your input", KeepQueue: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.instance(inst); got.Status != db.AgentStatusAWAITINGINPUT || got.OpenQuestion.ID != q1 {
		t.Fatalf("after a record: %s %+v", got.Status, got.OpenQuestion)
	}
	// The older question's button answers the older question only.
	q2 := ask("Force-push to main?", "Yes", "No")
	if ans, err := e.answer(inst, &q1, ptr(0), ""); err != nil || *ans.QuestionID != q1 {
		t.Fatalf("answer q1: %+v %v", ans, err)
	}
	if res, _ := e.s.CheckAnswer(e.ctx, e.user, q2); res.Status != db.AnswerPending {
		t.Fatalf("q2 took q1's answer: %+v", res)
	}
	if got := e.instance(inst); got.Status != db.AgentStatusAWAITINGINPUT || got.OpenQuestion.ID != q2 {
		t.Fatalf("q2 no longer waits: %s %+v", got.Status, got.OpenQuestion)
	}
	if res, _ := e.s.CheckAnswer(e.ctx, e.user, q1); res.Status != db.AnswerAnswered || *res.OptionIndex != 0 {
		t.Fatalf("q1: %+v", res)
	}
	e.person(inst, "No", false) // answers q2
	// A question the agent moved on from is not open: deciding a later
	// request leaves the session active, not stuck waiting.
	q3 := ask("Which port?")
	e.agent(inst, "using 8080", false)
	ch := e.request(inst, "Bash", bash("make run"), later())
	req := e.open(inst)[0]
	if got := e.instance(inst); got.Status != db.AgentStatusAWAITINGINPUT || got.OpenQuestion.ID != req.ID {
		t.Fatalf("while the request waits: %s %+v", got.Status, got.OpenQuestion)
	}
	if ans, err := e.answer(inst, nil, nil, "8081 please"); err != nil || ans.QuestionID != nil {
		t.Fatalf("untargeted message: %+v %v (stale question %s)", ans, err, q3)
	}
	// "No" with a reason that reads like a label is option 2.
	ans, err := e.answer(inst, &req.ID, ptr(2), "Yes, later")
	if err != nil || *ans.OptionIndex != 2 || ans.Decision.Outcome != db.OutcomeDeny {
		t.Fatalf("deny: %+v %v", ans, err)
	}
	decided(t, ch)
	if got := e.instance(inst); got.Status != db.AgentStatusACTIVE || got.OpenQuestion != nil {
		t.Fatalf("after the decision: %s %+v", got.Status, got.OpenQuestion)
	}
	// The words of a deny that came too late reach the agent.
	res := decided(t, e.request(inst, "Bash", bash("make run"), time.Now()))
	if ans, err := e.answer(inst, &res.RequestID, nil, "run it with PORT=8081"); err != nil || !ans.Late {
		t.Fatalf("late deny: %+v %v", ans, err)
	}
	wantContents(t, "queue", e.agent(inst, "next", false).Queued, "8081 please", "run it with PORT=8081")
}

// A permission request's expiry job leaves a request that still waits
// (a job run early: servers' clocks differ) and expires one past its
// deadline that nobody expired, waking its waiter, if any.
func TestExpiryJob(t *testing.T) {
	e := newEnv(t)
	ws := river.NewWorkers()
	db.AddWorkers(ws, e.s)
	jobs := dbtest.RunJobs(t, e.pool, ws)
	ran, cancel := jobs.Subscribe(river.EventKindJobCompleted, river.EventKindJobSnoozed, river.EventKindJobFailed)
	defer cancel()
	inst := uuid.New()
	ch := e.request(inst, "Bash", bash("make deploy"), later())
	req := e.open(inst)[0].ID
	expire := func(want river.EventKind) {
		t.Helper()
		if _, err := jobs.Insert(e.ctx, db.ExpirePermissionArgs{UserID: e.user, InstanceID: inst, RequestID: req}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-ran:
			if ev.Kind != want {
				t.Fatalf("the expiry job ended %s, want %s (%v)", ev.Kind, want, ev.Job.Errors)
			}
		case <-time.After(time.Minute):
			t.Fatal("the expiry job did not run")
		}
	}
	expire(river.EventKindJobSnoozed)
	if len(e.open(inst)) != 1 {
		t.Fatal("a job run before the deadline expired the request")
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE messages SET expires_at = now() - interval '1 second' WHERE id = $1`, req); err != nil {
		t.Fatal(err)
	}
	expire(river.EventKindJobCompleted)
	if res := decided(t, ch); res.Decision.Outcome != db.OutcomeExpired {
		t.Fatalf("the waiter got %+v", res.Decision)
	}
	if got, err := e.s.GetInstance(e.ctx, e.user, inst); err != nil || got.Status != db.AgentStatusACTIVE {
		t.Fatalf("the session is %v (%v), want ACTIVE", got.Status, err)
	}
}
