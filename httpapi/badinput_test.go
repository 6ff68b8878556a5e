package httpapi_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Every malformed request gets a clear 4xx problem+json and writes nothing.
func TestBadInputWritesNothing(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"q?","requires_user_input":true}`)
	qid := q["message_id"].(string)
	_, otherTok := a.newUser()
	foreign := uuid.NewString()
	a.call("POST", "/api/v1/messages/agent", otherTok, `{"agent_instance_id":"`+foreign+`","agent_type":"x","content":"theirs"}`)
	unknown := uuid.NewString()
	huge := `{"agent_instance_id":"` + inst + `","content":"` + strings.Repeat("a", 1<<20) + `"}`

	type tc struct {
		name, method, path, body string
		headers                  []string
		status                   int
		detail                   string // a substring of the problem's detail
	}
	agent := func(name, body string, status int, detail string, headers ...string) tc {
		return tc{name, "POST", "/api/v1/messages/agent", body, headers, status, detail}
	}
	user := func(name, body string, status int, detail string) tc {
		return tc{name, "POST", "/api/v1/messages/user", body, nil, status, detail}
	}
	pending := func(name, query string, status int, detail string) tc {
		return tc{name, "GET", "/api/v1/messages/pending" + query, "", nil, status, detail}
	}
	cases := []tc{
		agent("malformed JSON", `{"agent_instance_id":`, 400, "malformed JSON"),
		agent("not JSON", `hello`, 422, "must be a JSON object"),
		agent("array body", `[1]`, 422, "must be a JSON object"),
		agent("empty body", ``, 400, "must be a JSON object"),
		agent("trailing data", `{"agent_instance_id":"`+inst+`","content":"x"} {}`, 400, "unexpected data after the object"),
		agent("content a number", `{"agent_instance_id":"`+inst+`","content":5}`, 422, "content must be a string, not number"),
		agent("content null", `{"agent_instance_id":"`+inst+`","content":null}`, 422, "content is required"),
		agent("content missing", `{"agent_instance_id":"`+inst+`"}`, 422, "content is required"),
		agent("content empty", `{"agent_instance_id":"`+inst+`","content":""}`, 400, "content must not be empty"),
		agent("content with NUL", `{"agent_instance_id":"`+inst+`","content":"a\u0000b"}`, 400, "must not contain NUL"),
		agent("metadata with NUL", `{"agent_instance_id":"`+inst+`","content":"x","message_metadata":{"k":"\u0000"}}`, 400, "must not contain NUL"),
		agent("id missing", `{"content":"x","agent_type":"x"}`, 422, "agent_instance_id is required"),
		agent("id not a uuid", `{"agent_instance_id":"abc","content":"x","agent_type":"x"}`, 422, "agent_instance_id must be a UUID"),
		agent("id a number", `{"agent_instance_id":7,"content":"x"}`, 422, "agent_instance_id must be a string"),
		agent("requires_user_input a string", `{"agent_instance_id":"`+inst+`","content":"x","requires_user_input":"yes"}`, 422, "requires_user_input must be a boolean"),
		agent("agent_type an object", `{"agent_instance_id":"`+unknown+`","content":"x","agent_type":{}}`, 422, "agent_type must be a string"),
		agent("metadata not an object", `{"agent_instance_id":"`+inst+`","content":"x","message_metadata":[1]}`, 400, "message_metadata must be a JSON object"),
		agent("new instance without agent_type", `{"agent_instance_id":"`+unknown+`","content":"x"}`, 400, "agent_type is required when creating new instance"),
		agent("another user's id", `{"agent_instance_id":"`+foreign+`","content":"x","agent_type":"x"}`, 409, "already in use"),
		agent("body over 1 MiB", huge, 413, "larger than 1048576 bytes"),
		agent("wrong content type", `{"agent_instance_id":"`+inst+`","content":"x"}`, 415, "application/json", "Content-Type", "text/plain"),
		agent("idempotency key too long", `{"agent_instance_id":"`+inst+`","content":"x"}`, 400, "Idempotency-Key is longer", "Idempotency-Key", strings.Repeat("k", 256)),

		user("content missing", `{"agent_instance_id":"`+inst+`"}`, 422, "content is required"),
		user("mark_as_read a string", `{"agent_instance_id":"`+inst+`","content":"x","mark_as_read":"no"}`, 422, "mark_as_read must be a boolean"),
		user("id not a uuid", `{"agent_instance_id":"`+inst+`x","content":"x"}`, 422, "must be a UUID"),
		user("unknown instance", `{"agent_instance_id":"`+unknown+`","content":"x"}`, 404, "Agent instance not found"),
		user("another user's instance", `{"agent_instance_id":"`+foreign+`","content":"x"}`, 404, "Agent instance not found"),
		user("content blank", `{"agent_instance_id":"`+inst+`","content":"   "}`, 400, "content must not be empty"),

		pending("no instance id", "", 422, "agent_instance_id is required"),
		pending("instance id not a uuid", "?agent_instance_id=1", 422, "agent_instance_id must be a UUID"),
		pending("cursor not a uuid", "?agent_instance_id="+inst+"&last_read_message_id=zz", 422, "last_read_message_id must be a UUID"),
		pending("unknown instance", "?agent_instance_id="+unknown, 404, "Agent instance not found"),
		pending("wait too long", "?agent_instance_id="+inst+"&wait=61", 422, "wait must be a number of seconds from 0 to 60"),
		pending("wait negative", "?agent_instance_id="+inst+"&wait=-1", 422, "wait must be a number"),
		pending("wait not a number", "?agent_instance_id="+inst+"&wait=soon", 422, "wait must be a number"),

		{"request-input bad id", "PATCH", "/api/v1/messages/nope/request-input", "", nil, 422, "message_id must be a UUID"},
		{"request-input unknown", "PATCH", "/api/v1/messages/" + unknown + "/request-input", "", nil, 404, "Agent message not found"},
		{"request-input twice", "PATCH", "/api/v1/messages/" + qid + "/request-input", "", nil, 400, "Message already requires user input"},

		{"end missing id", "POST", "/api/v1/sessions/end", `{}`, nil, 422, "agent_instance_id is required"},
		{"end unknown", "POST", "/api/v1/sessions/end", `{"agent_instance_id":"` + unknown + `"}`, nil, 404, "Agent instance not found"},
		{"end malformed", "POST", "/api/v1/sessions/end", `{"agent_instance_id"}`, nil, 400, "malformed JSON"},

		{"register no agent_type", "POST", "/api/v1/agent-instances", `{"name":"x"}`, nil, 422, "agent_type is required"},
		{"register bad id", "POST", "/api/v1/agent-instances", `{"agent_type":"x","agent_instance_id":"12"}`, nil, 400, "Invalid agent_instance_id"},
		{"register taken id", "POST", "/api/v1/agent-instances", `{"agent_type":"x","agent_instance_id":"` + foreign + `"}`, nil, 409, "Agent instance already exists"},

		{"heartbeat bad id", "POST", "/api/v1/agents/instances/x/heartbeat", "", nil, 422, "must be a UUID"},
		{"heartbeat unknown", "POST", "/api/v1/agents/instances/" + unknown + "/heartbeat", "", nil, 404, "Agent instance not found"},

		{"wrong method", "DELETE", "/api/v1/messages/agent", "", nil, 405, "DELETE is not allowed on /api/v1/messages/agent; allowed: POST"},
	}
	tables := []string{"users", "api_keys", "user_agents", "agent_instances", "messages", "idempotency_keys"}
	snapshot := func() map[string]int {
		m := map[string]int{}
		for _, tb := range tables {
			m[tb] = a.count(tb)
		}
		var status string
		_ = a.pool.QueryRow(t.Context(), "SELECT status::text || coalesce(ended_at::text,'') || last_read_message_id::text FROM agent_instances WHERE id = $1", inst).Scan(&status)
		m[status]++
		return m
	}
	before := snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.call(c.method, c.path, a.token, c.body, c.headers...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			p := r.json(t)
			wantKeys(t, "problem", p, "type", "title", "status", "detail")
			detail, ok := p["detail"].(string)
			if !ok || !strings.Contains(detail, c.detail) {
				t.Fatalf("detail %q, want it to contain %q", p["detail"], c.detail)
			}
			if p["status"] != float64(c.status) {
				t.Fatalf("problem status %v", p["status"])
			}
		})
	}
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed from %d to %d", k, v, after[k])
		}
	}
}

// Requests without a valid token get 401 with WWW-Authenticate on every
// route, before anything is read or written.
func TestAuthFailures(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	revokedUser, revoked := a.newUser()
	rows, err := a.store.ListAPIKeys(t.Context(), revokedUser)
	if err != nil || len(rows) != 1 {
		t.Fatal(err)
	}
	if _, err := a.store.RevokeAPIKey(t.Context(), revokedUser, rows[0].ID); err != nil {
		t.Fatal(err)
	}
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/messages/agent", `{"agent_instance_id":"` + inst + `","agent_type":"x","content":"x"}`},
		{"POST", "/api/v1/messages/user", `{"agent_instance_id":"` + inst + `","content":"x"}`},
		{"GET", "/api/v1/messages/pending?agent_instance_id=" + inst, ""},
		{"PATCH", "/api/v1/messages/" + inst + "/request-input", ""},
		{"POST", "/api/v1/sessions/end", `{"agent_instance_id":"` + inst + `"}`},
		{"POST", "/api/v1/agent-instances", `{"agent_type":"x"}`},
		{"POST", "/api/v1/agents/instances/" + inst + "/heartbeat", ""},
		{"GET", "/api/v1/auth/verify", ""},
	}
	creds := []struct {
		name, header, detail string
	}{
		{"none", "", "Not authenticated"},
		{"basic", "Basic dXNlcjpwYXNz", "Not authenticated"},
		{"garbage", "Bearer nonsense", "Invalid token: token is malformed"},
		{"revoked", "Bearer " + revoked, "Invalid token: key has been revoked"},
		{"truncated signature", "Bearer " + a.token[:len(a.token)-4], "Invalid token: signature or algorithm is not accepted"},
	}
	for _, rt := range routes {
		for _, c := range creds {
			var r response
			if c.header == "" {
				r = a.call(rt.method, rt.path, "", rt.body)
			} else {
				r = a.call(rt.method, rt.path, "", rt.body, "Authorization", c.header)
			}
			if r.status != 401 || r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s %s with %s: %d, WWW-Authenticate %q", rt.method, rt.path, c.name, r.status, r.header.Get("WWW-Authenticate"))
				continue
			}
			if d := r.json(t)["detail"]; d != c.detail {
				t.Errorf("%s %s with %s: detail %q, want %q", rt.method, rt.path, c.name, d, c.detail)
			}
		}
	}
	if n := a.count("messages") + a.count("agent_instances"); n != 0 {
		t.Fatalf("unauthenticated requests wrote %d rows", n)
	}
}
