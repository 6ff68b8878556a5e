package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/httpapi"
)

// form posts a form as a browser on the page would, with a session cookie.
func (a *api) form(path, cookie string, values url.Values, headers ...string) *http.Response {
	a.t.Helper()
	res, _ := a.formBody(path, cookie, values, headers...)
	return res
}

// formBody is form, with the response's body.
func (a *api) formBody(path, cookie string, values url.Values, headers ...string) (*http.Response, string) {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.ts.URL+path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: cookie})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := *a.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	var b strings.Builder
	_, _ = copyBody(&b, res)
	res.Body.Close()
	return res, b.String()
}

func TestWebSignInAndFormSafety(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	inst := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"q?","requires_user_input":true}`)

	// Browsers get the page, API clients Omnara's JSON.
	if r := a.call("GET", "/", "", "", "Accept", "text/html"); r.status != 200 || !strings.Contains(string(r.body), `name="token"`) {
		t.Fatalf("sign-in page: %d", r.status)
	}
	if r := a.call("GET", "/", "", ""); r.json(t)["message"] != "Agent Dashboard Unified Server" {
		t.Fatal("API root lost its JSON")
	}

	if res := a.form("/login", "", url.Values{"token": {a.token}}); res.StatusCode != 401 {
		t.Fatalf("sign in with an agent key: %d", res.StatusCode)
	}
	res := a.form("/login", "", url.Values{"token": {person}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", res.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == httpapi.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", cookie)
	}

	page := func(path string) response {
		req, _ := http.NewRequest("GET", a.ts.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		req.AddCookie(cookie)
		r, err := a.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var b strings.Builder
		_, _ = copyBody(&b, r)
		return response{status: r.StatusCode, header: r.Header, body: []byte(b.String())}
	}
	sess := page("/sessions/" + inst)
	if sess.status != 200 || !strings.Contains(string(sess.body), "q?") {
		t.Fatalf("session page: %d", sess.status)
	}
	csrf := between(string(sess.body), `name="csrf" value="`, `"`)
	if csrf == "" {
		t.Fatal("no csrf token on the page")
	}
	before := a.count("messages")
	reply := "/sessions/" + inst + "/reply"
	if r := a.form(reply, cookie.Value, url.Values{"content": {"no token"}}); r.StatusCode != 403 {
		t.Fatalf("reply without the form token: %d", r.StatusCode)
	}
	if r := a.form(reply, cookie.Value, url.Values{"content": {"x"}, "csrf": {csrf}}, "Sec-Fetch-Site", "cross-site"); r.StatusCode != 403 {
		t.Fatalf("cross-site reply: %d", r.StatusCode)
	}
	if r := a.form(reply, "", url.Values{"content": {"x"}, "csrf": {csrf}}); r.StatusCode != 401 {
		t.Fatalf("reply signed out: %d", r.StatusCode)
	}
	if a.count("messages") != before {
		t.Fatal("a refused form wrote")
	}
	if r := a.form(reply, cookie.Value, url.Values{"content": {"yes"}, "csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", r.StatusCode)
	}
	if a.count("messages") != before+1 {
		t.Fatal("the reply was not stored")
	}
	// The cookie reads the API (the page's live updates) but never writes.
	req, _ := http.NewRequest("POST", a.ts.URL+"/api/v1/agent-instances/"+inst+"/messages", strings.NewReader(`{"content":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(cookie)
	if r, err := a.ts.Client().Do(req); err != nil || r.StatusCode != 401 {
		t.Fatalf("API write with the cookie: %v %v", r.StatusCode, err)
	}
	// Signed out, pages send you to sign in.
	if r := a.form("/logout", cookie.Value, url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.StatusCode)
	}
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

func copyBody(b *strings.Builder, r *http.Response) (int64, error) { return io.Copy(b, r.Body) }

// The page's key form follows the same rules as the API (auth.IssueToken):
// a refused form shows the page again with the reason and writes nothing.
func TestWebKeyForm(t *testing.T) {
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	req, _ := http.NewRequest("GET", a.ts.URL+"/keys", nil)
	req.AddCookie(&http.Cookie{Name: httpapi.SessionCookie, Value: person})
	res, err := a.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_, _ = copyBody(&b, res)
	res.Body.Close()
	csrf := between(b.String(), `name="csrf" value="`, `"`)
	if res.StatusCode != 200 || csrf == "" {
		t.Fatalf("keys page: %d, csrf %q", res.StatusCode, csrf)
	}

	before := a.count("api_keys")
	for _, c := range []struct {
		name        string
		form        url.Values
		status      int
		wantWritten int
	}{
		{"blank name", url.Values{"name": {"  "}}, 422, 0},
		{"name too long", url.Values{"name": {strings.Repeat("n", 256)}}, 422, 0},
		{"expiry not a number", url.Values{"name": {"x"}, "expires_in_days": {"soon"}}, 422, 0},
		{"expiry out of range", url.Values{"name": {"x"}, "expires_in_days": {"36501"}}, 422, 0},
		{"good", url.Values{"name": {"laptop"}, "expires_in_days": {"30"}}, 201, 1},
	} {
		c.form.Set("csrf", csrf)
		if r := a.form("/keys", person, c.form); r.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, r.StatusCode, c.status)
		}
		if n := a.count("api_keys"); n != before+c.wantWritten {
			t.Errorf("%s: %d keys written, want %d", c.name, n-before, c.wantWritten)
		}
		before = a.count("api_keys")
	}
}

// The list shows a waiting permission request as plain words: no options
// block, no code fences.
func TestWebListShowsARequestBriefly(t *testing.T) {
	a := newAPI(t)
	cookie := a.signIn()
	inst := uuid.New()
	ch := a.hookAsync(fixture(t, "permission_request_bash", "SESSION", inst.String(), "COMMAND", "rm -rf build"))
	open := a.waitOpen(inst, 1)
	_, body := a.page(cookie, "/")
	q := between(body, `<p class="question">`, `</p>`)
	if !strings.Contains(q, "Allow Bash?") || !strings.Contains(q, "rm -rf build") || strings.Contains(q, "OPTIONS") || strings.Contains(q, "```") {
		t.Fatalf("waiting request in the list: %q", q)
	}
	a.decide(inst, `{"question_id":"`+open[0].ID.String()+`","option_index":2}`)
	hookDone(t, ch)
}

// signIn returns the session cookie of the api's user.
func (a *api) signIn() *http.Cookie {
	a.t.Helper()
	res := a.form("/login", "", url.Values{"token": {a.tokenFor(a.user, auth.ScopeUser)}})
	for _, c := range res.Cookies() {
		if c.Name == httpapi.SessionCookie {
			return c
		}
	}
	a.t.Fatal("no session cookie")
	return nil
}

// page gets a page as the signed-in browser would.
func (a *api) page(cookie *http.Cookie, path string) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.ts.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	req.AddCookie(cookie)
	r, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer r.Body.Close()
	var b strings.Builder
	_, _ = copyBody(&b, r)
	return r.StatusCode, b.String()
}

// What the person sees when something is missing or goes wrong: how to
// connect an agent, how many sessions wait, a 404 page, and a failed
// reply shown on the page with the reply kept.
func TestWebAttentionAndFailure(t *testing.T) {
	a := newAPI(t)
	cookie := a.signIn()
	status, body := a.page(cookie, "/")
	if status != 200 || !strings.Contains(body, "handoff install claude-code --url "+a.ts.URL) ||
		!strings.Contains(body, a.ts.URL+"/mcp/") {
		t.Fatalf("empty list: %d %s", status, between(body, "<main>", "</main>"))
	}
	inst := uuid.NewString()
	step := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"x","content":"working"}`)
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"Which port?","requires_user_input":true}`)
	if _, body := a.page(cookie, "/"); !strings.Contains(body, "<title>(1) Sessions · handoff</title>") {
		t.Fatalf("title: %s", between(body, "<title>", "</title>"))
	}
	// A session's title is its first message while it has no name; the
	// filters show one kind.
	if _, body := a.page(cookie, "/"); !strings.Contains(body, `<span class="name">working</span>`) {
		t.Fatalf("title: %s", between(body, "<main>", "</main>"))
	}
	if _, body := a.page(cookie, "/?show=completed"); !strings.Contains(body, "No completed sessions.") || strings.Contains(body, "working") {
		t.Fatalf("completed filter: %s", between(body, "<main>", "</main>"))
	}
	if _, body := a.page(cookie, "/?show=waiting"); !strings.Contains(body, `<span class="name">working</span>`) ||
		!strings.Contains(body, `<p class="preview">Which port?</p>`) {
		t.Fatalf("waiting filter: %s", between(body, "<main>", "</main>"))
	}
	if status, body := a.page(cookie, "/sessions/"+uuid.NewString()); status != 404 || !strings.Contains(body, "No such session") {
		t.Fatalf("unknown session: %d", status)
	}
	if status, _ := a.page(cookie, "/sessions/not-an-id"); status != 404 {
		t.Fatalf("bad id: %d", status)
	}
	_, body = a.page(cookie, "/sessions/"+inst)
	csrf := between(body, `name="csrf" value="`, `"`)
	r, page := a.formBody("/sessions/"+inst+"/reply", cookie.Value, url.Values{"csrf": {csrf}, "content": {"8080, and keep the old one <running>"},
		"question_id": {step["message_id"].(string)}})
	if r.StatusCode != 422 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.Contains(page, "reply_to is not a question of this session") ||
		!strings.Contains(page, ">8080, and keep the old one &lt;running&gt;</textarea>") {
		t.Fatalf("failed reply: %d %s", r.StatusCode, between(page, "<main>", "</main>"))
	}
}

// A session an agent named (registering it) is listed under its name, not
// its first message, and its page's heading says the name.
func TestWebSessionTitleFromAgentName(t *testing.T) {
	a := newAPI(t)
	cookie := a.signIn()
	inst := uuid.NewString()
	a.ok(201, "POST", "/api/v1/agent-instances", `{"agent_type":"Codex","agent_instance_id":"`+inst+`","name":"Billing <refactor>"}`)
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"Reading the billing module"}`)
	if _, body := a.page(cookie, "/"); !strings.Contains(body, `<span class="name">Billing &lt;refactor&gt;</span>`) ||
		strings.Contains(body, `<span class="name">Reading the billing module</span>`) {
		t.Fatalf("list: %s", between(body, "<main>", "</main>"))
	}
	if _, body := a.page(cookie, "/sessions/"+inst); !strings.Contains(body, `</span> · Billing &lt;refactor&gt;</h1>`) {
		t.Fatalf("session heading: %s", between(body, "<h1>", "</h1>"))
	}
}
