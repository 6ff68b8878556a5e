package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
)

// as calls with another token and wants status want and a JSON object.
func (a *api) as(token string, want int, method, path, body string) map[string]any {
	a.t.Helper()
	r := a.call(method, path, token, body)
	if r.status != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r.json(a.t)
}

func TestUserAPIInstancesAndAnswer(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)

	// Three sessions; the middle one asks a question, so it has the latest
	// activity.
	ids := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	for i, id := range ids {
		a.ok(200, "POST", "/api/v1/messages/agent", fmt.Sprintf(`{"agent_instance_id":%q,"agent_type":"Claude Code","content":"step %d"}`, id, i))
	}
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+ids[1]+`","content":"Deploy?","requires_user_input":true,
		"git_diff":"diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b"}`)

	all := a.as(person, 200, "GET", "/api/v1/agent-instances", "")
	wantKeys(t, "list", all, "agent_instances", "next_cursor")
	items := all["agent_instances"].([]any)
	if len(items) != 3 || all["next_cursor"] != nil {
		t.Fatalf("list: %v", all)
	}
	first := items[0].(map[string]any)
	wantKeys(t, "instance", first, "id", "agent_type", "agent_type_id", "agent_type_name", "name", "status", "started_at",
		"ended_at", "last_activity_at", "last_heartbeat_at", "instance_metadata", "open_question", "permission_rules")
	wantFields(t, "waiting session first", first, map[string]any{"id": ids[1], "status": "AWAITING_INPUT", "agent_type": "claude code"})
	oq := first["open_question"].(map[string]any)
	wantFields(t, "open question", oq, map[string]any{"id": q["message_id"], "content": "Deploy?"})
	if items[1].(map[string]any)["open_question"] != nil {
		t.Fatal("a session without a question shows one")
	}

	waiting := a.as(person, 200, "GET", "/api/v1/agent-instances?status=awaiting_input", "")
	if n := len(waiting["agent_instances"].([]any)); n != 1 {
		t.Fatalf("status filter: %d sessions", n)
	}

	detail := a.as(person, 200, "GET", "/api/v1/agent-instances/"+ids[1], "")
	if d, _ := detail["git_diff"].(string); !strings.HasPrefix(d, "diff --git") {
		t.Fatalf("detail has no git diff: %v", detail)
	}
	// Omnara's SDK reads this route with an agent key.
	a.ok(200, "GET", "/api/v1/agent-instances/"+ids[1]+"?message_limit=0", "")

	// Two devices answer: both kept, in order; the first is the answer.
	ans := a.as(person, 201, "POST", "/api/v1/agent-instances/"+ids[1]+"/messages", `{"content":"Yes"}`)
	wantFields(t, "answer", ans, map[string]any{"agent_instance_id": ids[1], "answered": true})
	second := a.as(person, 201, "POST", "/api/v1/agent-instances/"+ids[1]+"/messages", `{"content":"Actually, wait"}`)
	wantFields(t, "second answer", second, map[string]any{"answered": false})
	got := a.ok(200, "GET", "/api/v1/messages/pending?agent_instance_id="+ids[1]+"&last_read_message_id="+q["message_id"].(string), "")
	msgs := list(t, got["messages"])
	if len(msgs) != 2 || msgs[0].(map[string]any)["content"] != "Yes" || msgs[1].(map[string]any)["content"] != "Actually, wait" {
		t.Fatalf("agent received %v", msgs)
	}

	conv := a.as(person, 200, "GET", "/api/v1/agent-instances/"+ids[1]+"/messages?limit=2", "")
	wantKeys(t, "messages page", conv, "messages", "has_more")
	page := conv["messages"].([]any)
	if len(page) != 2 || conv["has_more"] != true {
		t.Fatalf("page: %v", conv)
	}
	m0 := page[0].(map[string]any)
	wantKeys(t, "conversation message", m0, "id", "seq", "sender_type", "content", "requires_user_input", "created_at", "message_metadata",
		"options", "kind", "permission", "decision", "expires_at", "reply_to", "option_index")
	rest := a.as(person, 200, "GET", fmt.Sprintf("/api/v1/agent-instances/%s/messages?after_seq=%.0f", ids[1], page[1].(map[string]any)["seq"].(float64)), "")
	var contents []string
	for _, m := range append(page, rest["messages"].([]any)...) {
		contents = append(contents, m.(map[string]any)["content"].(string))
	}
	if strings.Join(contents, "|") != "step 1|Deploy?|Yes|Actually, wait" || rest["has_more"] != false {
		t.Fatalf("conversation %q", contents)
	}
}

func TestUserAPIPagination(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		id := uuid.NewString()
		want[id] = true
		a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+id+`","agent_type":"x","content":"hi"}`)
	}
	seen := map[string]bool{}
	path := "/api/v1/agent-instances?limit=2"
	pages := 0
	var last string
	for {
		p := a.as(person, 200, "GET", path, "")
		pages++
		for _, it := range p["agent_instances"].([]any) {
			m := it.(map[string]any)
			id := m["id"].(string)
			if seen[id] {
				t.Fatalf("%s on two pages", id)
			}
			seen[id] = true
			if last != "" && m["last_activity_at"].(string) > last {
				t.Fatalf("not newest first: %s after %s", m["last_activity_at"], last)
			}
			last = m["last_activity_at"].(string)
		}
		next, _ := p["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/v1/agent-instances?limit=2&cursor=" + next
	}
	if pages != 3 || len(seen) != 5 {
		t.Fatalf("%d pages, %d sessions", pages, len(seen))
	}
}

// The person's routes need a user token, show only the user's data, and
// refuse bad input.
func TestUserAPIAuthAndTenancy(t *testing.T) {
	a := newAPI(t)
	inst := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"mine"}`)
	otherUser, _ := a.newUser()
	stranger := a.tokenFor(otherUser, auth.ScopeUser)
	person := a.tokenFor(a.user, auth.ScopeUser)

	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/agent-instances", ""},
		{"GET", "/api/v1/agent-instances/" + inst + "/messages", ""},
		{"POST", "/api/v1/agent-instances/" + inst + "/messages", `{"content":"x"}`},
		{"GET", "/api/v1/auth/api-keys", ""},
		{"POST", "/api/v1/auth/api-keys", `{"name":"x"}`},
	} {
		if r := a.call(c.method, c.path, a.token, c.body); r.status != http.StatusForbidden {
			t.Errorf("%s %s with an agent key: %d", c.method, c.path, r.status)
		}
	}
	if l := a.as(stranger, 200, "GET", "/api/v1/agent-instances", ""); len(l["agent_instances"].([]any)) != 0 {
		t.Fatal("another user's list shows my session")
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/agent-instances/" + inst, ""},
		{"GET", "/api/v1/agent-instances/" + inst + "/messages", ""},
		{"POST", "/api/v1/agent-instances/" + inst + "/messages", `{"content":"hijack"}`},
	} {
		if r := a.call(c.method, c.path, stranger, c.body); r.status != http.StatusNotFound {
			t.Errorf("%s %s as another user: %d", c.method, c.path, r.status)
		}
	}
	for _, c := range []struct {
		path, body string
		status     int
		detail     string
	}{
		{"/api/v1/agent-instances?limit=0", "", 422, "limit must be"},
		{"/api/v1/agent-instances?status=SLEEPING", "", 422, "status must be"},
		{"/api/v1/agent-instances?cursor=bm90LWEtY3Vyc29y", "", 422, "cursor"},
		{"/api/v1/agent-instances/" + inst + "/messages?after_seq=-1", "", 422, "after_seq"},
		{"/api/v1/agent-instances/nope/messages", "", 422, "must be a UUID"},
	} {
		r := a.call("GET", c.path, person, c.body)
		if r.status != c.status || !strings.Contains(r.json(t)["detail"].(string), c.detail) {
			t.Errorf("GET %s: %d %s", c.path, r.status, r.body)
		}
	}
	before := a.count("messages")
	for _, body := range []string{`{}`, `{"content":""}`, `{"content":"x","mark_as_read":true}`, `{"content":5}`} {
		if r := a.call("POST", "/api/v1/agent-instances/"+inst+"/messages", person, body); r.status/100 != 4 {
			t.Errorf("POST %s: %d", body, r.status)
		}
	}
	if a.count("messages") != before {
		t.Fatal("refused messages were written")
	}

	meAgent := a.ok(200, "GET", "/api/v1/me", "")
	wantKeys(t, "me", meAgent, "id", "email", "display_name", "created_at", "scope", "key_id")
	wantFields(t, "me", meAgent, map[string]any{"id": a.user.String(), "scope": "agent"})
}

func TestAPIKeys(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	admin := a.tokenFor(a.user, auth.ScopeAdmin)

	k := a.as(person, 201, "POST", "/api/v1/auth/api-keys", `{"name":"laptop","expires_in_days":30}`)
	wantKeys(t, "created key", k, "id", "name", "scope", "api_key", "created_at", "expires_at")
	wantFields(t, "created key", k, map[string]any{"name": "laptop", "scope": "agent"})
	newTok := k["api_key"].(string)
	// The new key works as an agent key.
	if r := a.call("POST", "/api/v1/messages/agent", newTok, `{"agent_instance_id":"`+uuid.NewString()+`","agent_type":"x","content":"hi"}`); r.status != 200 {
		t.Fatalf("new key: %d %s", r.status, r.body)
	}

	keysBefore := a.count("api_keys")
	if r := a.call("POST", "/api/v1/auth/api-keys", person, `{"name":"x","scope":"user"}`); r.status != http.StatusForbidden ||
		r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("a user token minted a user token: %d %s", r.status, r.body)
	}
	wantFields(t, "admin mints user", a.as(admin, 201, "POST", "/api/v1/auth/api-keys", `{"name":"phone","scope":"user"}`),
		map[string]any{"scope": "user", "expires_at": nil})
	for _, body := range []string{`{}`, `{"name":""}`, `{"name":"x","scope":"root"}`, `{"name":"x","expires_in_days":0}`, `{"name":"x","extra":1}`} {
		if r := a.call("POST", "/api/v1/auth/api-keys", person, body); r.status != 422 {
			t.Errorf("create %s: %d %s", body, r.status, r.body)
		}
	}
	if n := a.count("api_keys"); n != keysBefore+1 { // the admin's
		t.Errorf("refused requests wrote %d keys", n-keysBefore-1)
	}

	r := a.call("GET", "/api/v1/auth/api-keys", person, "")
	if r.status != 200 || strings.Contains(string(r.body), newTok) || strings.Contains(string(r.body), `"api_key"`) {
		t.Fatalf("list shows tokens or failed: %d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"is_active":true`) {
		t.Fatalf("list: %s", r.body)
	}

	// Revoked: refused at once on this server.
	wantFields(t, "revoke", a.as(person, 200, "DELETE", "/api/v1/auth/api-keys/"+k["id"].(string), ""),
		map[string]any{"message": "API key revoked successfully"})
	if r := a.call("GET", "/api/v1/me", newTok, ""); r.status != 401 {
		t.Fatalf("revoked key: %d", r.status)
	}
	otherUser, _ := a.newUser()
	if r := a.call("DELETE", "/api/v1/auth/api-keys/"+k["id"].(string), a.tokenFor(otherUser, auth.ScopeUser), ""); r.status != 404 {
		t.Fatalf("another user revoking my key: %d", r.status)
	}
}
