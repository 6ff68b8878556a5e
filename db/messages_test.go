package db_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
)

// A whole session, as Omnara's test_complete_agent_session_with_messages:
// step, question, answer delivered on the next send, end.
func TestCompleteSession(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()

	step := e.agent(inst, "Reading the code", false)
	if step.InstanceID != inst {
		t.Fatalf("instance id %s, want the client's %s", step.InstanceID, inst)
	}
	got := e.instance(inst)
	if got.Status != db.AgentStatusACTIVE || got.EndedAt != nil || got.AgentTypeName != "claude code" {
		t.Fatalf("after a step: status %s, ended %v, agent type %q", got.Status, got.EndedAt, got.AgentTypeName)
	}

	q := e.agent(inst, "Refactor now?", true)
	if s := e.instance(inst).Status; s != db.AgentStatusAWAITINGINPUT {
		t.Fatalf("after a question: status %s", s)
	}
	ans := e.person(inst, "Yes, go ahead", false)
	if !ans.Answered {
		t.Fatal("the user message did not count as an answer")
	}
	if s := e.instance(inst).Status; s != db.AgentStatusACTIVE {
		t.Fatalf("after the answer: status %s", s)
	}
	next := e.agent(inst, "Refactoring", false)
	wantContents(t, "queue after the answer", next.Queued, "Yes, go ahead")
	if next.Queued[0].ID != ans.MessageID || next.Queued[0].SenderType != db.SenderTypeUSER {
		t.Fatalf("queued message %+v is not the answer %s", next.Queued[0], ans.MessageID)
	}
	if next.MessageID == q.MessageID {
		t.Fatal("two messages share an id")
	}

	end, err := e.s.EndSession(e.ctx, e.user, inst)
	if err != nil {
		t.Fatal(err)
	}
	if end.FinalStatus != db.AgentStatusCOMPLETED || end.InstanceID != inst {
		t.Fatalf("end: %+v", end)
	}
	final := e.instance(inst)
	if final.Status != db.AgentStatusCOMPLETED || final.EndedAt == nil {
		t.Fatalf("after end: status %s, ended %v", final.Status, final.EndedAt)
	}
	if n := e.count("messages"); n != 4 {
		t.Fatalf("%d messages, want 4", n)
	}
}

func TestNewInstanceNeedsAgentType(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: uuid.New(), Content: "hi"})
	wantCode(t, err, db.EInvalid, "agent_type is required when creating new instance")
	if n := e.count("agent_instances") + e.count("messages") + e.count("user_agents"); n != 0 {
		t.Fatalf("%d rows written by a refused message", n)
	}
	// An existing instance needs none.
	inst := uuid.New()
	e.agent(inst, "first", false)
	if _, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, Content: "second"}); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyContentIsRefused(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	_, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{UserID: e.user, InstanceID: inst, AgentType: "x", Content: "  "})
	wantCode(t, err, db.EInvalid, "content must not be empty")
	e.agent(inst, "hello", false)
	_, err = e.s.CreateUserMessage(e.ctx, db.CreateUserMessageParams{UserID: e.user, InstanceID: inst, Content: ""})
	wantCode(t, err, db.EInvalid, "content must not be empty")
	if n := e.count("messages"); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// Omnara's test_multiple_user_messages_queuing: queued messages come back
// once, in order, then never again.
func TestQueueIsDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "working", false)
	for _, c := range []string{"one", "two", "three"} {
		e.person(inst, c, false)
	}
	wantContents(t, "first send", e.agent(inst, "still working", false).Queued, "one", "two", "three")
	wantContents(t, "second send", e.agent(inst, "and more", false).Queued)
}

// User messages written before the instance's first agent message are
// queued too (the cursor starts before everything).
func TestQueueFromTheStart(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	if _, err := e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{UserID: e.user, InstanceID: &inst, AgentType: "codex"}); err != nil {
		t.Fatal(err)
	}
	e.person(inst, "early instruction", false)
	wantContents(t, "pending, no cursor", e.pending(inst, nil).Messages, "early instruction")
	wantContents(t, "first send", e.agent(inst, "hello", false).Queued, "early instruction")
}

// Omnara's mark_as_read tests: a marked user message moves the cursor, so
// the agent is not handed it; an unmarked one is queued.
func TestMarkAsRead(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "start", false)
	marked := e.person(inst, "typed at the terminal", true)
	if !marked.MarkedAsRead {
		t.Fatal("MarkedAsRead not reported")
	}
	if got := e.instance(inst).LastReadMessageID; got == nil || *got != marked.MessageID {
		t.Fatalf("cursor %v, want the marked message %s", got, marked.MessageID)
	}
	wantContents(t, "after a marked message", e.agent(inst, "next", false).Queued)

	unmarked := e.person(inst, "from the dashboard", false)
	if unmarked.MarkedAsRead {
		t.Fatal("MarkedAsRead reported for an unmarked message")
	}
	if got := e.instance(inst).LastReadMessageID; got == nil || *got == unmarked.MessageID {
		t.Fatalf("an unmarked message moved the cursor to itself")
	}
	wantContents(t, "after an unmarked message", e.agent(inst, "next again", false).Queued, "from the dashboard")
}

// Omnara's test_interleaved_messages_with_mixed_mark_as_read: a marked
// message reads everything before it.
func TestInterleavedMarkAsRead(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "start", false)
	e.person(inst, "unread 1", false)
	e.person(inst, "read", true)
	e.person(inst, "unread 2", false)
	e.person(inst, "unread 3", false)
	wantContents(t, "queue", e.agent(inst, "next", false).Queued, "unread 2", "unread 3")
}

// Omnara's polling tests: a poll with the current cursor returns and
// consumes the queue; a poll with an older cursor is stale and changes
// nothing; polling again with the right cursor returns nothing new.
func TestPendingPolling(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	q := e.agent(inst, "Which database?", true)

	first := e.pending(inst, &q.MessageID)
	if first.Status != db.ReadOK || len(first.Messages) != 0 || first.InstanceID != inst {
		t.Fatalf("empty poll: %+v", first)
	}
	e.person(inst, "Postgres", false)
	e.person(inst, "version 17", false)
	got := e.pending(inst, &q.MessageID)
	wantContents(t, "poll", got.Messages, "Postgres", "version 17")
	if got.Status != db.ReadOK {
		t.Fatalf("status %q", got.Status)
	}
	last := got.Messages[1].ID
	if cur := e.instance(inst).LastReadMessageID; cur == nil || *cur != last {
		t.Fatalf("cursor %v, want the last message read %s", cur, last)
	}

	stale := e.pending(inst, &q.MessageID)
	if stale.Status != db.ReadStale || len(stale.Messages) != 0 {
		t.Fatalf("old cursor: %+v, want stale and no messages", stale)
	}
	if cur := e.instance(inst).LastReadMessageID; *cur != last {
		t.Fatal("a stale read moved the cursor")
	}
	if again := e.pending(inst, &last); again.Status != db.ReadOK || len(again.Messages) != 0 {
		t.Fatalf("current cursor: %+v, want ok and nothing", again)
	}

	// Without a cursor the queue is read, not consumed.
	e.person(inst, "also", false)
	wantContents(t, "peek", e.pending(inst, nil).Messages, "also")
	wantContents(t, "peek again", e.pending(inst, nil).Messages, "also")
	if cur := e.instance(inst).LastReadMessageID; *cur != last {
		t.Fatal("a read without a cursor moved it")
	}
}

// A cursor naming no message at all is stale, and so is any cursor on an
// instance that has none yet.
func TestPendingUnknownCursorIsStale(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	if _, err := e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{UserID: e.user, InstanceID: &inst, AgentType: "codex"}); err != nil {
		t.Fatal(err)
	}
	if got := e.pending(inst, ptr(uuid.New())); got.Status != db.ReadStale {
		t.Fatalf("cursor on a fresh instance: %q", got.Status)
	}
	e.agent(inst, "hi", false)
	if got := e.pending(inst, ptr(uuid.New())); got.Status != db.ReadStale {
		t.Fatalf("unknown cursor: %q", got.Status)
	}
}

// Omnara's test_status_transitions: ACTIVE, AWAITING_INPUT, ACTIVE,
// COMPLETED, and COMPLETED stays for later agent and user messages.
func TestStatusTransitions(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	want := func(s db.AgentStatus) {
		t.Helper()
		if got := e.instance(inst).Status; got != s {
			t.Fatalf("status %s, want %s", got, s)
		}
	}
	e.agent(inst, "step", false)
	want(db.AgentStatusACTIVE)
	e.agent(inst, "question", true)
	want(db.AgentStatusAWAITINGINPUT)
	e.agent(inst, "another step", false)
	want(db.AgentStatusACTIVE)
	if _, err := e.s.EndSession(e.ctx, e.user, inst); err != nil {
		t.Fatal(err)
	}
	want(db.AgentStatusCOMPLETED)
	ended := *e.instance(inst).EndedAt
	e.agent(inst, "late step", false)
	want(db.AgentStatusCOMPLETED)
	e.agent(inst, "late question", true)
	want(db.AgentStatusCOMPLETED)
	if res := e.person(inst, "late answer", false); res.Answered {
		t.Fatal("a message to a completed session counted as an answer")
	}
	want(db.AgentStatusCOMPLETED)

	// Ending twice is not an error and keeps the first end time.
	end, err := e.s.EndSession(e.ctx, e.user, inst)
	if err != nil || end.FinalStatus != db.AgentStatusCOMPLETED {
		t.Fatalf("second end: %+v, %v", end, err)
	}
	if got := *e.instance(inst).EndedAt; !got.Equal(ended) {
		t.Fatalf("ended_at moved from %v to %v", ended, got)
	}
}

// Omnara's test_agent_type_normalization.
func TestAgentTypeNormalization(t *testing.T) {
	e := newEnv(t)
	var agentTypeIDs []uuid.UUID
	for _, name := range []string{"Claude Code", "CLAUDE CODE", "claude code", "  Claude Code "} {
		inst := uuid.New()
		if _, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
			UserID: e.user, InstanceID: inst, AgentType: name, Content: "hi",
		}); err != nil {
			t.Fatal(err)
		}
		got := e.instance(inst)
		if got.AgentTypeName != "claude code" {
			t.Fatalf("%q stored as %q", name, got.AgentTypeName)
		}
		agentTypeIDs = append(agentTypeIDs, got.UserAgentID)
	}
	if n := e.count("user_agents"); n != 1 {
		t.Fatalf("%d agent types, want 1", n)
	}
	for _, id := range agentTypeIDs[1:] {
		if id != agentTypeIDs[0] {
			t.Fatal("instances of one agent type point at different rows")
		}
	}
}

func TestGitDiffOnInstance(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	send := func(diff *string) {
		t.Helper()
		if _, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
			UserID: e.user, InstanceID: inst, AgentType: "x", Content: "step", GitDiff: diff,
		}); err != nil {
			t.Fatal(err)
		}
	}
	diff := func() *string { t.Helper(); return e.instance(inst).GitDiff }

	send(ptr("\n" + validDiff + "\n\n"))
	if d := diff(); d == nil || *d != validDiff {
		t.Fatalf("stored diff %v, want the diff trimmed", d)
	}
	send(nil)
	if d := diff(); d == nil || *d != validDiff {
		t.Fatal("a message without git_diff changed the stored diff")
	}
	send(ptr("not a diff at all"))
	if d := diff(); d == nil || *d != validDiff {
		t.Fatal("an invalid diff replaced the stored one")
	}
	send(ptr(""))
	if d := diff(); d != nil {
		t.Fatalf("empty git_diff did not clear the diff: %q", *d)
	}
}

func TestRequestInput(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	step := e.agent(inst, "Plan ready", false)

	res, err := e.s.RequestInput(e.ctx, e.user, step.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != db.ReadOK || len(res.Messages) != 0 || res.MessageID != step.MessageID || res.InstanceID != inst {
		t.Fatalf("request input: %+v", res)
	}
	if s := e.instance(inst).Status; s != db.AgentStatusAWAITINGINPUT {
		t.Fatalf("status %s, want AWAITING_INPUT", s)
	}
	_, err = e.s.RequestInput(e.ctx, e.user, step.MessageID)
	wantCode(t, err, db.EInvalid, "Message already requires user input")

	// Messages already waiting are returned and consumed; the instance
	// does not wait.
	step2 := e.agent(inst, "Second plan", false)
	e.person(inst, "looks good", false)
	res, err = e.s.RequestInput(e.ctx, e.user, step2.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	wantContents(t, "already queued", res.Messages, "looks good")
	if s := e.instance(inst).Status; s != db.AgentStatusACTIVE {
		t.Fatalf("status %s, want ACTIVE (the answer was there)", s)
	}

	// An older message is no longer the cursor: stale, and it waits.
	old := e.agent(inst, "third", false)
	e.agent(inst, "fourth", false)
	res, err = e.s.RequestInput(e.ctx, e.user, old.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != db.ReadStale {
		t.Fatalf("status %q, want stale", res.Status)
	}

	// Unknown ids and user messages are not agent messages.
	_, err = e.s.RequestInput(e.ctx, e.user, uuid.New())
	wantCode(t, err, db.ENotFound, "Agent message not found or access denied")
	um := e.person(inst, "hi", false)
	_, err = e.s.RequestInput(e.ctx, e.user, um.MessageID)
	wantCode(t, err, db.ENotFound, "Agent message not found or access denied")
}

func TestRegisterInstance(t *testing.T) {
	e := newEnv(t)
	inst, err := e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{
		UserID: e.user, AgentType: "Codex", Name: ptr("fix the build"), Transport: ptr("ws"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if inst.ID == uuid.Nil || inst.AgentTypeName != "codex" || inst.Status != db.AgentStatusACTIVE ||
		*inst.Name != "fix the build" || string(inst.InstanceMetadata) != `{"transport": "ws"}` {
		t.Fatalf("registered %+v (metadata %s)", inst, inst.InstanceMetadata)
	}
	_, err = e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{UserID: e.user, InstanceID: &inst.ID, AgentType: "codex"})
	wantCode(t, err, db.EConflict, "Agent instance already exists")
	_, err = e.s.RegisterInstance(e.ctx, db.RegisterInstanceParams{UserID: e.user, AgentType: " "})
	wantCode(t, err, db.EInvalid, "agent_type is required when creating new instance")
	if n := e.count("agent_instances"); n != 1 {
		t.Fatalf("%d instances, want 1", n)
	}
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "hi", false)
	before := time.Now().Add(-time.Minute)
	at, err := e.s.Heartbeat(e.ctx, e.user, inst)
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(before) {
		t.Fatalf("heartbeat at %v", at)
	}
	if got := e.instance(inst).LastHeartbeatAt; got == nil || !got.Equal(at) {
		t.Fatalf("stored heartbeat %v, want %v", got, at)
	}
	_, err = e.s.Heartbeat(e.ctx, e.user, uuid.New())
	wantCode(t, err, db.ENotFound, "Agent instance not found")
}

func TestMessageMetadataMustBeAnObject(t *testing.T) {
	e := newEnv(t)
	_, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
		UserID: e.user, InstanceID: uuid.New(), AgentType: "n8n", Content: "hi", Metadata: []byte(`[1,2]`),
	})
	wantCode(t, err, db.EInvalid, "message_metadata must be a JSON object")
	inst := uuid.New()
	if _, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
		UserID: e.user, InstanceID: inst, AgentType: "n8n", Content: "hi", Metadata: []byte(`{"sync_mode": true}`),
	}); err != nil {
		t.Fatal(err)
	}
	var meta string
	if err := e.pool.QueryRow(e.ctx, "SELECT message_metadata::text FROM messages").Scan(&meta); err != nil {
		t.Fatal(err)
	}
	if meta != `{"sync_mode": true}` {
		t.Fatalf("metadata stored as %s", meta)
	}
}

// Omnara's step_number counts the instance's agent messages that are not
// questions, the new one included; a step turned into a question stops
// counting.
func TestStepNumber(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	step := func() int64 {
		t.Helper()
		res, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
			UserID: e.user, InstanceID: inst, AgentType: "x", Content: "step",
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.StepNumber
	}
	if n := step(); n != 1 {
		t.Fatalf("first step %d", n)
	}
	e.agent(inst, "a question", true)
	e.person(inst, "an answer", false)
	if n := step(); n != 2 {
		t.Fatalf("second step %d, want 2 (questions do not count)", n)
	}
	third := e.agent(inst, "a step that becomes a question", false).MessageID
	if _, err := e.s.RequestInput(e.ctx, e.user, third); err != nil {
		t.Fatal(err)
	}
	if n := step(); n != 3 {
		t.Fatalf("step after a step became a question: %d, want 3", n)
	}
}
