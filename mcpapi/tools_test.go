package mcpapi_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/mcpapi"
)

func forEachTransport(t *testing.T, cfg mcpapi.Config, f func(t *testing.T, e *env)) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, kind, cfg))
		})
	}
}

func TestListTools(t *testing.T) {
	forEachTransport(t, mcpapi.Config{}, func(t *testing.T, e *env) {
		cs := e.session()
		schemas := map[string]map[string]any{}
		for tool, err := range cs.Tools(context.Background(), nil) {
			if err != nil {
				t.Fatal(err)
			}
			if tool.Description == "" {
				t.Errorf("%s has no description", tool.Name)
			}
			b, _ := json.Marshal(tool.InputSchema)
			var s map[string]any
			_ = json.Unmarshal(b, &s)
			schemas[tool.Name] = s
		}
		var names []string
		for n := range schemas {
			names = append(names, n)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "approve,ask_question,end_session,log_step,send_message,wait_for_answer" {
			t.Fatalf("tools %v", names)
		}
		want := map[string]struct{ props, required string }{
			"log_step":        {"agent_instance_id,step_description", ""},
			"ask_question":    {"agent_instance_id,options,question_text", ""},
			"end_session":     {"agent_instance_id", "agent_instance_id"},
			"send_message":    {"agent_instance_id,agent_type,content,git_diff,idempotency_key,options,requires_user_input", "content"},
			"approve":         {"agent_instance_id,input,tool_name,tool_use_id", "tool_name"},
			"wait_for_answer": {"question_id", "question_id"},
		}
		for name, w := range want {
			s := schemas[name]
			props, _ := s["properties"].(map[string]any)
			var ps []string
			for p := range props {
				ps = append(ps, p)
			}
			sort.Strings(ps)
			var req []string
			for _, r := range asList(s["required"]) {
				req = append(req, r.(string))
			}
			sort.Strings(req)
			if s["type"] != "object" || strings.Join(ps, ",") != w.props || strings.Join(req, ",") != w.required {
				t.Errorf("%s schema: type %v, properties %v, required %v", name, s["type"], ps, req)
			}
			if _, leak := props["_user_id"]; leak {
				t.Errorf("%s exposes _user_id", name)
			}
		}
		if typ := schemaTypes(schemas["log_step"], "agent_instance_id"); typ != "null,string" && typ != "string" {
			t.Errorf("log_step agent_instance_id type %q", typ)
		}
	})
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func schemaTypes(s map[string]any, prop string) string {
	p, _ := s["properties"].(map[string]any)[prop].(map[string]any)
	switch t := p["type"].(type) {
	case string:
		return t
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, x.(string))
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	return ""
}

// Omnara's loop over MCP: log_step, feedback from the person, ask_question
// answered through REST while the tool waits, end_session.
func TestOmnaraToolsFlow(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: time.Minute}, func(t *testing.T, e *env) {
		cs := e.session("X-Client-Type", "claude-code")

		first := call(t, cs, "log_step", map[string]any{"step_description": "Reading the code"})
		inst, _ := first["agent_instance_id"].(string)
		if _, err := uuid.Parse(inst); err != nil {
			t.Fatalf("log_step chose no instance id: %v", first)
		}
		wantJSON(t, "first log_step", first, `{"success":true,"agent_instance_id":"`+inst+`","step_number":1,"user_feedback":[]}`)
		got, err := e.store.GetInstance(context.Background(), e.user, uuid.MustParse(inst))
		if err != nil || got.AgentTypeName != "claude-code" {
			t.Fatalf("agent type %q (%v), want claude-code from X-Client-Type", got.AgentTypeName, err)
		}

		e.answer(inst, "Also update the docs")
		second := call(t, cs, "log_step", map[string]any{"agent_instance_id": inst, "step_description": "Editing"})
		wantJSON(t, "second log_step", second, `{"success":true,"agent_instance_id":"`+inst+`","step_number":2,"user_feedback":["Also update the docs"]}`)

		done := make(chan map[string]any, 1)
		go func() {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask_question",
				Arguments: map[string]any{"agent_instance_id": inst, "question_text": "Ship it?"}})
			if err != nil || res.IsError {
				t.Errorf("ask_question: %v %v", err, res)
				done <- nil
				return
			}
			done <- structured(t, res)
		}()
		e.awaitStatus(inst, db.AgentStatusAWAITINGINPUT)
		e.answer(inst, "Yes, ship it")
		ans := <-done
		if ans == nil {
			t.FailNow()
		}
		qid, _ := ans["question_id"].(string)
		wantJSON(t, "ask_question", ans, `{"answer":"Yes, ship it","question_id":"`+qid+`"}`)

		end := call(t, cs, "end_session", map[string]any{"agent_instance_id": inst})
		wantJSON(t, "end_session", end, `{"success":true,"agent_instance_id":"`+inst+`","final_status":"COMPLETED"}`)
	})
}

// A wait that ends unanswered returns pending; the late answer is then
// delivered by wait_for_answer, or queued on the next log_step.
func TestBoundedWaitLosesNothing(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: 50 * time.Millisecond}, func(t *testing.T, e *env) {
		cs := e.session()
		inst := call(t, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"].(string)

		pending := call(t, cs, "ask_question", map[string]any{"agent_instance_id": inst, "question_text": "Which DB?"})
		qid, _ := pending["question_id"].(string)
		wantJSON(t, "pending ask", pending, `{"answer":"","question_id":"`+qid+`","status":"pending",
			"instruction":"No answer yet. Call wait_for_answer with this question_id to keep waiting; the answer will not be lost."}`)

		again := call(t, cs, "wait_for_answer", map[string]any{"question_id": qid})
		if again["status"] != "pending" || again["answer"] != "" {
			t.Fatalf("wait_for_answer before the answer: %v", again)
		}
		e.answer(inst, "Postgres")
		got := call(t, cs, "wait_for_answer", map[string]any{"question_id": qid})
		wantJSON(t, "late answer", got, `{"answer":"Postgres","question_id":"`+qid+`","status":"answered"}`)
		// Handed over once: the next step has no feedback.
		if fb := call(t, cs, "log_step", map[string]any{"agent_instance_id": inst, "step_description": "go"})["user_feedback"]; len(asList(fb)) != 0 {
			t.Fatalf("answer delivered again as feedback: %v", fb)
		}

		// The other way: the agent moves on, the answer comes as feedback.
		q2 := call(t, cs, "ask_question", map[string]any{"agent_instance_id": inst, "question_text": "Tabs?"})
		if q2["status"] != "pending" {
			t.Fatalf("second ask: %v", q2)
		}
		e.answer(inst, "Spaces")
		step := call(t, cs, "log_step", map[string]any{"agent_instance_id": inst, "step_description": "formatting"})
		if fb := asList(step["user_feedback"]); len(fb) != 1 || fb[0] != "Spaces" {
			t.Fatalf("late answer not queued on log_step: %v", step)
		}
	})
}

func TestWaitEndsWithTheSession(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: time.Minute}, func(t *testing.T, e *env) {
		cs := e.session()
		inst := call(t, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"].(string)
		done := make(chan map[string]any, 1)
		go func() {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "send_message",
				Arguments: map[string]any{"agent_instance_id": inst, "content": "Continue?", "requires_user_input": true}})
			if err != nil || res.IsError {
				t.Errorf("send_message: %v %v", err, res)
				done <- nil
				return
			}
			done <- structured(t, res)
		}()
		e.awaitStatus(inst, db.AgentStatusAWAITINGINPUT)
		e.rest("POST", "/api/v1/sessions/end", `{"agent_instance_id":"`+inst+`"}`)
		got := <-done
		if got == nil {
			t.FailNow()
		}
		if got["status"] != "session_ended" || got["answer"] != nil || got["instruction"] != "The session ended before the person answered." {
			t.Fatalf("send_message after end: %v", got)
		}
	})
}

func TestSendMessage(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: time.Minute}, func(t *testing.T, e *env) {
		cs := e.session("User-Agent", "Cursor/1.2")
		first := call(t, cs, "send_message", map[string]any{"content": "Starting", "idempotency_key": "s1"})
		inst, mid := first["agent_instance_id"].(string), first["message_id"].(string)
		wantJSON(t, "send_message", first, `{"success":true,"agent_instance_id":"`+inst+`","message_id":"`+mid+`","queued_user_messages":[],"status":"sent"}`)
		got, _ := e.store.GetInstance(context.Background(), e.user, uuid.MustParse(inst))
		if got.AgentTypeName != "cursor" {
			t.Fatalf("agent type %q, want cursor from User-Agent", got.AgentTypeName)
		}
		retry := call(t, cs, "send_message", map[string]any{"content": "Starting", "idempotency_key": "s1"})
		if retry["message_id"] != mid || e.count("messages") != 1 {
			t.Fatalf("retry with the same key: %v, %d messages", retry, e.count("messages"))
		}

		e.answer(inst, "note this")
		done := make(chan map[string]any, 1)
		go func() {
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "send_message",
				Arguments: map[string]any{"agent_instance_id": inst, "content": "Deploy?", "requires_user_input": true, "agent_type": "ignored"}})
			if err != nil || res.IsError {
				t.Errorf("send_message: %v %v", err, res)
				done <- nil
				return
			}
			done <- structured(t, res)
		}()
		e.awaitStatus(inst, db.AgentStatusAWAITINGINPUT)
		e.answer(inst, "Deploy")
		q := <-done
		if q == nil {
			t.FailNow()
		}
		qmid, _ := q["message_id"].(string)
		wantJSON(t, "question", q, `{"success":true,"agent_instance_id":"`+inst+`","message_id":"`+qmid+`",
			"queued_user_messages":["note this"],"status":"answered","answer":"Deploy"}`)
	})
}

// Bad arguments are tool errors with Omnara's messages, and write nothing.
func TestToolErrors(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: time.Minute}, func(t *testing.T, e *env) {
		cs := e.session()
		inst := call(t, cs, "log_step", map[string]any{"step_description": "mine"})["agent_instance_id"].(string)
		_, otherTok := e.newUser()
		other, err := e.connect(otherTok, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		foreignQ := call(t, other, "send_message", map[string]any{"content": "theirs?", "requires_user_input": false})
		foreign := foreignQ["agent_instance_id"].(string)

		before := e.count("messages") + e.count("agent_instances")
		unknown := uuid.NewString()
		for _, c := range []struct {
			tool string
			args map[string]any
			want string
		}{
			{"log_step", map[string]any{"agent_instance_id": "nope", "step_description": "x"}, "Invalid agent_instance_id format: must be a valid UUID, got 'nope'"},
			{"log_step", map[string]any{"agent_instance_id": inst}, "step_description is required"},
			{"log_step", map[string]any{"agent_instance_id": foreign, "step_description": "x"}, "already in use"},
			{"ask_question", map[string]any{"question_text": "x"}, "agent_instance_id is required"},
			{"ask_question", map[string]any{"agent_instance_id": inst}, "question_text is required"},
			{"ask_question", map[string]any{"agent_instance_id": "1", "question_text": "x"}, "Invalid agent_instance_id format"},
			{"ask_question", map[string]any{"agent_instance_id": unknown, "question_text": "x"}, "agent_type is required when creating new instance"},
			{"end_session", map[string]any{"agent_instance_id": "x"}, "Invalid agent_instance_id format"},
			{"end_session", map[string]any{"agent_instance_id": unknown}, "Agent instance not found"},
			{"end_session", map[string]any{"agent_instance_id": foreign}, "Agent instance not found"},
			{"end_session", map[string]any{}, "agent_instance_id"},
			{"send_message", map[string]any{"content": ""}, "content must not be empty"},
			{"send_message", map[string]any{"content": "x", "agent_instance_id": foreign}, "already in use"},
			{"send_message", map[string]any{"content": "x", "nom": 1}, "unexpected additional properties"},
			{"log_step", map[string]any{"step_description": 5}, "step_description must be of type string"},
			{"send_message", map[string]any{"content": "x", "requires_user_input": "yes"}, "requires_user_input must be of type boolean"},
			{"wait_for_answer", map[string]any{"question_id": "q"}, "Invalid question_id format"},
			{"wait_for_answer", map[string]any{"question_id": unknown}, "Question not found"},
			{"wait_for_answer", map[string]any{"question_id": foreignQ["message_id"]}, "Question not found"},
		} {
			if msg := toolError(t, cs, c.tool, c.args); !strings.Contains(msg, c.want) {
				t.Errorf("%s %v: %q, want %q", c.tool, c.args, msg, c.want)
			}
		}
		if after := e.count("messages") + e.count("agent_instances"); after != before {
			t.Fatalf("refused calls wrote %d rows", after-before)
		}
	})
}

// Progress notifications flow while a tool waits, when the client asked.
func TestProgressWhileWaiting(t *testing.T) {
	forEachTransport(t, mcpapi.Config{Wait: time.Minute, ProgressEvery: 20 * time.Millisecond}, func(t *testing.T, e *env) {
		progress := make(chan *mcp.ProgressNotificationParams, 100)
		cs, err := e.connect(e.token, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				select {
				case progress <- r.Params:
				default:
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		inst := call(t, cs, "log_step", map[string]any{"step_description": "start"})["agent_instance_id"].(string)
		done := make(chan *mcp.CallToolResult, 1)
		go func() {
			p := &mcp.CallToolParams{Name: "ask_question", Arguments: map[string]any{"agent_instance_id": inst, "question_text": "?"}}
			p.SetProgressToken("tok-1")
			res, err := cs.CallTool(context.Background(), p)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		first := <-progress
		if first.ProgressToken != "tok-1" || first.Message == "" || first.Total != 60 {
			t.Fatalf("progress %+v", first)
		}
		e.answer(inst, "ok")
		if res := <-done; res == nil || res.IsError || structured(t, res)["answer"] != "ok" {
			t.Fatalf("ask after progress: %v", res)
		}
	})
}
