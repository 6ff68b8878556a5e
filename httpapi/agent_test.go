package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The loop Omnara's SDK runs for send_message(requires_user_input=True):
// post the question, poll pending with the question as the cursor, get the
// person's answer; every response field for field.
func TestAgentAsksPersonAnswers(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()

	step := a.ok(200, "POST", "/api/v1/messages/agent",
		`{"agent_instance_id":"`+inst+`","agent_type":"Claude Code","content":"Reading the code","requires_user_input":false}`)
	wantKeys(t, "CreateMessageResponse", step, "success", "agent_instance_id", "message_id", "queued_user_messages")
	wantFields(t, "step", step, map[string]any{"success": true, "agent_instance_id": inst, "queued_user_messages": []any{}})

	q := a.ok(200, "POST", "/api/v1/messages/agent",
		`{"agent_instance_id":"`+inst+`","content":"Use Postgres?","requires_user_input":true,"send_push":null,"git_diff":null}`)
	qid := q["message_id"].(string)
	if _, err := uuid.Parse(qid); err != nil || qid == step["message_id"] {
		t.Fatalf("question id %q", qid)
	}

	poll := a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+qid, "")
	wantKeys(t, "GetMessagesResponse", poll, "agent_instance_id", "messages", "status")
	wantFields(t, "empty poll", poll, map[string]any{"agent_instance_id": inst, "messages": []any{}, "status": "ok"})

	ans := a.ok(200, "POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"Yes, 17","mark_as_read":false}`)
	wantKeys(t, "CreateUserMessageResponse", ans, "success", "message_id", "marked_as_read")
	wantFields(t, "answer", ans, map[string]any{"success": true, "marked_as_read": false})

	poll = a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+qid, "")
	wantFields(t, "poll", poll, map[string]any{"status": "ok", "agent_instance_id": inst})
	msgs := list(t, poll["messages"])
	if len(msgs) != 1 {
		t.Fatalf("poll returned %d messages", len(msgs))
	}
	wantMessage(t, msgs[0], ans["message_id"].(string), "Yes, 17", "USER", false)

	// The SDK's next poll with the old cursor: another reader got them.
	stale := a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+qid, "")
	wantFields(t, "stale poll", stale, map[string]any{"status": "stale", "messages": []any{}})

	end := a.ok(200, "POST", "/api/v1/sessions/end", `{"agent_instance_id":"`+inst+`"}`)
	wantKeys(t, "EndSessionResponse", end, "success", "agent_instance_id", "final_status")
	wantFields(t, "end", end, map[string]any{"success": true, "agent_instance_id": inst, "final_status": "COMPLETED"})
}

// mark_as_read defaults to true (the message is not handed to the agent);
// queued messages come back on the next agent message.
func TestUserMessageDefaultsAndQueue(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"codex","content":"hi"}`)
	marked := a.ok(200, "POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"typed locally"}`)
	wantFields(t, "default", marked, map[string]any{"marked_as_read": true})
	queued := a.ok(200, "POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"from afar","mark_as_read":false,"extra":"ignored"}`)

	next := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"next"}`)
	q := list(t, next["queued_user_messages"])
	if len(q) != 1 {
		t.Fatalf("queued %v, want only the unmarked message", q)
	}
	wantMessage(t, q[0], queued["message_id"].(string), "from afar", "USER", false)

	// Without a cursor the queue is read, not consumed.
	a.ok(200, "POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"peek","mark_as_read":false}`)
	for i := 0; i < 2; i++ {
		p := a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id=", "")
		if n := len(list(t, p["messages"])); n != 1 {
			t.Fatalf("peek %d: %d messages", i, n)
		}
	}
}

func TestRequestInputRoute(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	step := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"Plan"}`)
	mid := step["message_id"].(string)

	res := a.ok(200, "PATCH", "/api/v1/messages/"+mid+"/request-input", "")
	wantKeys(t, "request-input", res, "success", "message_id", "agent_instance_id", "messages", "status")
	wantFields(t, "request-input", res, map[string]any{
		"success": true, "message_id": mid, "agent_instance_id": inst, "messages": []any{}, "status": "ok",
	})
	r := a.call("PATCH", "/api/v1/messages/"+mid+"/request-input", a.token, "")
	if r.status != 400 || r.json(t)["detail"] != "Message already requires user input" {
		t.Fatalf("second request-input: %d %s", r.status, r.body)
	}
	r = a.call("PATCH", "/api/v1/messages/"+uuid.NewString()+"/request-input", a.token, "")
	if r.status != 404 || r.json(t)["detail"] != "Agent message not found or access denied" {
		t.Fatalf("unknown message: %d %s", r.status, r.body)
	}
}

func TestRegisterInstanceRoute(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	res := a.ok(201, "POST", "/api/v1/agent-instances", `{"agent_type":"Claude Code","agent_instance_id":"`+inst+`","name":"fix ci","transport":"ws"}`)
	wantKeys(t, "RegisterAgentInstanceResponse", res,
		"agent_instance_id", "agent_type_id", "agent_type_name", "status", "name", "instance_metadata")
	wantFields(t, "register", res, map[string]any{
		"agent_instance_id": inst, "agent_type_name": "claude code", "status": "ACTIVE",
		"name": "fix ci", "instance_metadata": map[string]any{"transport": "ws"},
	})
	r := a.call("POST", "/api/v1/agent-instances", a.token, `{"agent_type":"x","agent_instance_id":"`+inst+`"}`)
	if r.status != 409 || r.json(t)["detail"] != "Agent instance already exists" {
		t.Fatalf("again: %d %s", r.status, r.body)
	}
	bare := a.ok(201, "POST", "/api/v1/agent-instances", `{"agent_type":"codex"}`)
	wantFields(t, "bare", bare, map[string]any{"name": nil, "instance_metadata": nil, "status": "ACTIVE"})
	if _, err := uuid.Parse(bare["agent_instance_id"].(string)); err != nil {
		t.Fatal("no instance id chosen")
	}
}

func TestHeartbeatRoute(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"hi"}`)
	res := a.ok(200, "POST", "/api/v1/agents/instances/"+inst+"/heartbeat", "")
	wantKeys(t, "heartbeat", res, "agent_instance_id", "last_heartbeat_at")
	if at, _ := res["last_heartbeat_at"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$`).MatchString(at) {
		t.Fatalf("last_heartbeat_at %q", at)
	}
}

func TestAuthVerifyRoute(t *testing.T) {
	a := newAPI(t)
	res := a.ok(200, "GET", "/api/v1/auth/verify", "")
	wantKeys(t, "verify", res, "success", "user_id", "email", "display_name", "message")
	wantFields(t, "verify", res, map[string]any{
		"success": true, "user_id": a.user.String(), "display_name": nil, "message": "Authentication successful",
	})
	if e, _ := res["email"].(string); !strings.Contains(e, "@") {
		t.Fatalf("email %v", res["email"])
	}
}

// An Idempotency-Key makes a retried POST return the same response and
// write nothing more.
func TestIdempotencyKeyHeader(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	body := `{"agent_instance_id":"` + inst + `","agent_type":"x","content":"deploy?","requires_user_input":true}`
	first := a.call("POST", "/api/v1/messages/agent", a.token, body, "Idempotency-Key", "retry-1")
	second := a.call("POST", "/api/v1/messages/agent", a.token, body, "Idempotency-Key", "retry-1")
	if first.status != 200 || second.status != 200 || string(first.body) != string(second.body) {
		t.Fatalf("retry differs:\n%d %s\n%d %s", first.status, first.body, second.status, second.body)
	}
	if n := a.count("messages"); n != 1 {
		t.Fatalf("%d messages after a retry, want 1", n)
	}
	other := a.call("POST", "/api/v1/messages/agent", a.token, strings.Replace(body, "deploy?", "other", 1), "Idempotency-Key", "retry-1")
	if other.status != 409 {
		t.Fatalf("key reused for another request: %d %s", other.status, other.body)
	}

	ub := `{"agent_instance_id":"` + inst + `","content":"yes","mark_as_read":false}`
	u1 := a.call("POST", "/api/v1/messages/user", a.token, ub, "Idempotency-Key", "u")
	u2 := a.call("POST", "/api/v1/messages/user", a.token, ub, "Idempotency-Key", "u")
	if u1.status != 200 || string(u1.body) != string(u2.body) {
		t.Fatalf("user retry differs: %s / %s", u1.body, u2.body)
	}
	if n := a.count("messages"); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

// Another user's instance is a 404 on every route, and nothing changes.
func TestTenancyOverREST(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"secret?","requires_user_input":true}`)
	_, otherTok := a.newUser()
	before := a.count("messages")
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/messages/pending?agent_instance_id=" + inst, ""},
		{"GET", "/api/v1/messages/pending?agent_instance_id=" + inst + "&last_read_message_id=" + q["message_id"].(string), ""},
		{"POST", "/api/v1/messages/user", `{"agent_instance_id":"` + inst + `","content":"hijack"}`},
		{"POST", "/api/v1/sessions/end", `{"agent_instance_id":"` + inst + `"}`},
		{"POST", "/api/v1/agents/instances/" + inst + "/heartbeat", ""},
		{"PATCH", "/api/v1/messages/" + q["message_id"].(string) + "/request-input", ""},
	} {
		r := a.call(c.method, c.path, otherTok, c.body)
		if r.status != http.StatusNotFound {
			t.Errorf("%s %s as another user: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	r := a.call("POST", "/api/v1/messages/agent", otherTok, `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"mine now"}`)
	if r.status != http.StatusConflict {
		t.Errorf("agent message to another user's id: %d %s", r.status, r.body)
	}
	if n := a.count("messages"); n != before {
		t.Fatalf("another user's requests wrote %d messages", n-before)
	}
	st := a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+inst, "")
	wantFields(t, "owner still reads", st, map[string]any{"status": "ok", "messages": []any{}})
}

func TestOperationsRoutes(t *testing.T) {
	a := newAPI(t)
	for path, want := range map[string]map[string]any{
		"/health":  {"status": "healthy", "server": "unified"},
		"/healthz": {"status": "ok"},
		"/readyz":  {"status": "ready"},
	} {
		r := a.call("GET", path, "", "")
		if r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
		wantFields(t, path, r.json(t), want)
	}
	root := a.call("GET", "/", "", "").json(t)
	wantFields(t, "/", root, map[string]any{"message": "Agent Dashboard Unified Server", "version": "1.0.0"})

	inst := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"q","requires_user_input":true}`)
	m := a.call("GET", "/metrics", "", "")
	for _, want := range []string{
		`handoff_http_requests_total{code="200",route="POST /api/v1/messages/agent"}`,
		`handoff_http_request_duration_seconds_bucket{route="POST /api/v1/messages/agent"`,
		`handoff_messages_total{outcome="created",sender="AGENT"}`,
		`handoff_questions_total{outcome="asked"}`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	r := a.call("GET", "/no/such/route", "", "")
	if r.status != 404 || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown route: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

func TestQuestionAnswerRoute(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"Port?","requires_user_input":true}`)
	qid := q["message_id"].(string)
	pending := a.ok(200, "GET", "/api/v1/questions/"+qid+"/answer?wait=0.05", "")
	wantKeys(t, "answer", pending, "question_id", "agent_instance_id", "status", "answer", "option_index")
	wantFields(t, "pending", pending, map[string]any{"question_id": qid, "agent_instance_id": inst, "status": "pending", "answer": nil})
	a.ok(200, "POST", "/api/v1/messages/user", `{"agent_instance_id":"`+inst+`","content":"8080","mark_as_read":false}`)
	wantFields(t, "answered", a.ok(200, "GET", "/api/v1/questions/"+qid+"/answer", ""), map[string]any{"status": "answered", "answer": "8080"})
	if r := a.call("GET", "/api/v1/questions/"+uuid.NewString()+"/answer", a.token, ""); r.status != 404 {
		t.Fatalf("unknown question: %d", r.status)
	}
}
