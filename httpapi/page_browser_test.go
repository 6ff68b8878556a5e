package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/webhook"
)

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// agentSays posts an agent's message (fields as JSON) and returns its id.
func (a *api) agentSays(fields map[string]any) string {
	a.t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.ok(200, "POST", "/api/v1/messages/agent", string(b))["message_id"].(string)
}

// received is what the agent that asked question q in session inst gets
// from the pending route: the contents of the person's messages since.
func (a *api) received(inst, q string) []string {
	a.t.Helper()
	r := a.call("GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+q, a.token, "")
	if r.status != 200 {
		a.t.Fatalf("pending: %d %s", r.status, r.body)
	}
	var page struct{ Messages []struct{ Content string } }
	if err := json.Unmarshal(r.body, &page); err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for _, m := range page.Messages {
		out = append(out, m.Content)
	}
	return out
}

// What a session's page shows and does in a real browser: an agent's
// Markdown as elements (and its HTML as text that never runs), a
// question's options as buttons that answer with their label (given as a
// list or in Omnara's [OPTIONS] block), an answered question no longer
// marked open, a git diff file by file, and no reply box once the session
// is over.
func TestBrowserSessionPage(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	listed, block, plain, done := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	q1 := a.agentSays(map[string]any{"agent_instance_id": listed, "agent_type": "Claude Code", "content": "Deploy to production?",
		"requires_user_input": true, "options": []string{"Ship it", "Wait"}})
	q2 := a.agentSays(map[string]any{"agent_instance_id": block, "agent_type": "Codex",
		"content": "Which database?\n\n[OPTIONS]\n1. PostgreSQL\n2. SQLite\n[/OPTIONS]", "requires_user_input": true})
	q3 := a.agentSays(map[string]any{"agent_instance_id": plain, "agent_type": "Codex", "content": "Which port?", "requires_user_input": true})
	a.agentSays(map[string]any{"agent_instance_id": done, "agent_type": "Claude Code", "content": markdownMessage, "git_diff": multiFileDiff})
	a.ok(200, "POST", "/api/v1/sessions/end", `{"agent_instance_id":"`+done+`"}`)

	ctx, run := newBrowser(t, exe, 390, 844)
	run("sign in", chromedp.Navigate(a.ts.URL+"/#token="+a.tokenFor(a.user, auth.ScopeUser)), chromedp.WaitVisible(`//h1[text()="Sessions"]`))
	open := func(inst string) {
		t.Helper()
		run("open "+inst, chromedp.Navigate(a.ts.URL+"/sessions/"+inst), chromedp.WaitVisible(chromedp.CSS(`#messages`)))
	}
	// questionState is the question's classes and background colour.
	const questionState = `(() => { const q = document.querySelector("li.msg.question");
	  return q.className + " " + getComputedStyle(q).backgroundColor; })()`
	const openBackground = "rgb(255, 244, 229)" // --warnbg

	// Options given as a list: a button each; a click answers with its label.
	open(listed)
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll("li.open button.option")].map(b => b.textContent)`); strings.Join(got, "|") != "Ship it|Wait" {
		t.Fatalf("option buttons %q", got)
	}
	if !eval[bool](t, ctx, `document.querySelector("form.reply textarea") !== null`) {
		t.Fatal("a session that runs has no reply box")
	}
	run("choose Wait", chromedp.Click(`//button[@class="option" and text()="Wait"]`),
		chromedp.WaitVisible(`//li[contains(@class, "USER")]//div[contains(@class, "text") and normalize-space()="Wait"]`))
	if got := a.received(listed, q1); strings.Join(got, "|") != "Wait" {
		t.Fatalf("the agent received %q, want the option's label", got)
	}
	if eval[bool](t, ctx, `document.querySelector("button.option") !== null`) {
		t.Fatal("the answered question still offers its options")
	}

	// Options in Omnara's block: the block is buttons, not text.
	open(block)
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll("li.open button.option")].map(b => b.textContent)`); strings.Join(got, "|") != "PostgreSQL|SQLite" {
		t.Fatalf("option buttons from the [OPTIONS] block %q", got)
	}
	if text := eval[string](t, ctx, `document.querySelector("li.question .text").innerText`); strings.TrimSpace(text) != "Which database?" {
		t.Fatalf("the question reads %q", text)
	}
	run("choose SQLite", chromedp.Click(`//button[@class="option" and text()="SQLite"]`),
		chromedp.WaitVisible(`//li[contains(@class, "USER")]//div[contains(@class, "text") and normalize-space()="SQLite"]`))
	if got := a.received(block, q2); strings.Join(got, "|") != "SQLite" {
		t.Fatalf("the agent received %q", got)
	}

	// An ordinary question looks open until answered, then not.
	open(plain)
	if s := eval[string](t, ctx, questionState); !strings.Contains(s, " open ") || !strings.HasSuffix(s, openBackground) {
		t.Fatalf("the waiting question is %q, want open", s)
	}
	run("answer", chromedp.SendKeys(chromedp.ID("content"), "8080"), chromedp.Submit(chromedp.ID("content")),
		chromedp.WaitVisible(`//li[contains(@class, "USER")]//div[contains(@class, "text") and normalize-space()="8080"]`))
	if s := eval[string](t, ctx, questionState); strings.Contains(s, " open ") || strings.HasSuffix(s, openBackground) {
		t.Fatalf("the answered question is %q, still open", s)
	}
	if p := eval[string](t, ctx, `document.getElementById("content").placeholder`); p != "Send an instruction…" {
		t.Fatalf("the reply box still asks for an answer: %q", p)
	}
	if got := a.received(plain, q3); strings.Join(got, "|") != "8080" {
		t.Fatalf("the agent received %q", got)
	}

	// Markdown as elements; the agent's HTML as text, none of it run.
	open(done)
	type rendered struct {
		Heading, Strong, Link, Code, Cell, Text string
		Items, Markup                           int
		Pwned                                   bool
	}
	md := eval[rendered](t, ctx, `(() => { const m = document.querySelector("li.AGENT .md"), q = s => (m.querySelector(s) || {}).textContent || "";
	  return { Heading: q("h2"), Strong: q("li strong"), Link: (m.querySelector("a") || {}).href || "", Code: q("pre code"),
	    Cell: q("table td"), Text: m.innerText, Items: m.querySelectorAll("ul > li").length,
	    Markup: m.querySelectorAll("script, img, [onerror], [onclick]").length, Pwned: window.pwned !== undefined }; })()`)
	if md.Heading != "Release notes" || md.Strong != "all green" || md.Link != "https://example.com/docs" ||
		!strings.Contains(md.Code, "func main() {}") || md.Cell != "go test" || md.Items != 2 {
		t.Errorf("Markdown not rendered as elements: %+v", md)
	}
	if md.Markup != 0 || md.Pwned || !strings.Contains(md.Text, `<script>window.pwned=1</script>`) ||
		!strings.Contains(md.Text, `<img src=x onerror="window.pwned=2">`) {
		t.Errorf("the agent's HTML: %d elements, ran %v, text %q", md.Markup, md.Pwned, md.Text)
	}
	// A session that is over takes no reply.
	if eval[bool](t, ctx, `document.querySelector("form.reply, #content") !== null`) {
		t.Error("a completed session offers a reply box")
	}
	// The diff: a collapsible box per file, named; a long line scrolls in
	// its box, not the page.
	files := eval[[]string](t, ctx, `[...document.querySelectorAll("section.diff details[open] > summary > code")].map(c => c.textContent)`)
	if strings.Join(files, "|") != "cmd/server/main.go|README.md|internal/very/long/path/to/a/generated/file_generated.go" {
		t.Fatalf("diff files %q", files)
	}
	if !eval[bool](t, ctx, `(() => { const p = document.querySelector("section.diff details:last-of-type pre");
	  return p.scrollWidth > p.clientWidth && getComputedStyle(p).overflowX === "auto" &&
	    document.documentElement.scrollWidth <= window.innerWidth; })()`) {
		t.Error("the diff's long line does not scroll inside its box")
	}
	run("fold the first file", chromedp.Click(chromedp.CSS(`section.diff summary`)),
		chromedp.Poll[chromedp.Void](`!document.querySelector("section.diff details").open`))
	if n := eval[int](t, ctx, `document.querySelectorAll("section.diff details[open]").length`); n != 2 {
		t.Fatalf("%d files open after folding one of three", n)
	}
	shoot(t, ctx, "session-markdown-completed-390x844.png")
}

// markdownMessage has what an agent's Markdown holds, and HTML.
const markdownMessage = "## Release notes\n\n- tests: **all green**\n- docs: [read them](https://example.com/docs)\n\n" +
	"```go\nfunc main() {}\n```\n\n| step | result |\n|---|---|\n| go test | ok |\n\n" +
	`Raw: <script>window.pwned=1</script> and <img src=x onerror="window.pwned=2">`

// multiFileDiff is a git diff of three files, one with a very long line.
var multiFileDiff = "diff --git a/cmd/server/main.go b/cmd/server/main.go\nindex 83db48f..bf269f4 100644\n--- a/cmd/server/main.go\n+++ b/cmd/server/main.go\n" +
	"@@ -1,3 +1,3 @@\n package main\n-func old() {}\n+func release() {}\n" +
	"diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,2 @@\n # handoff\n-Old words.\n+New words.\n" +
	"diff --git a/internal/very/long/path/to/a/generated/file_generated.go b/internal/very/long/path/to/a/generated/file_generated.go\n" +
	"--- a/internal/very/long/path/to/a/generated/file_generated.go\n+++ b/internal/very/long/path/to/a/generated/file_generated.go\n" +
	"@@ -1 +1 @@\n-var table = []byte{}\n+var table = []byte{" + strings.Repeat("0x1f,", 120) + "}"

// The Notifications page's Test button sends the webhook a signed sample
// event now, and the page says it is on its way.
func TestBrowserWebhookTestButton(t *testing.T) {
	exe := chromium(t)
	t.Parallel()
	a := apiWith(t, testserver.Options{Webhooks: true})
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	t.Cleanup(rcv.Close)

	ctx, run := newBrowser(t, exe, 390, 844)
	run("add a webhook",
		chromedp.Navigate(a.ts.URL+"/#token="+a.tokenFor(a.user, auth.ScopeUser)),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`),
		chromedp.Navigate(a.ts.URL+"/notifications"),
		chromedp.SendKeys(chromedp.ID("hook-url"), rcv.URL+"/handoff"),
		chromedp.Click(`//button[text()="Add webhook"]`),
		chromedp.WaitVisible(`//pre[@class="token" and starts-with(., "whsec_")]`),
	)
	secret := strings.TrimSpace(eval[string](t, ctx, `document.querySelector("pre.token").textContent`))
	run("test it",
		chromedp.Click(`//li[.//strong[text()="`+rcv.URL+`/handoff"]]//button[text()="Test"]`),
		chromedp.WaitVisible(`//p[@role="status" and contains(., "A test event is on its way")]`),
	)
	shoot(t, ctx, "notifications-test-sent-390x844.png")
	var r *http.Request
	select {
	case r = <-got:
	case <-time.After(time.Minute):
		t.Fatal("the receiver got nothing")
	}
	body := <-bodies
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	sec, _ := strconv.ParseInt(ts, 10, 64)
	want, err := webhook.Sign(secret, id, sec, body)
	if err != nil || id == "" || r.Header.Get("webhook-signature") != want {
		t.Fatalf("signature %q, want %q (id %q, %v)", r.Header.Get("webhook-signature"), want, id, err)
	}
	var event struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &event); err != nil || event.Type != "webhook.test" || !strings.Contains(event.Data["message"], "this webhook works") {
		t.Fatalf("event %s (%v)", body, err)
	}
}

// Without Web Push (iOS Safari, until the page is added to the Home
// Screen), the page says how to get notifications instead of offering a
// button that cannot work; opened from the Home Screen, it does not.
func TestBrowserPushHint(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	ctx, run := newBrowser(t, exe, 390, 844)
	const hint = `//p[@id="push-hint" and contains(., "add this page to your Home Screen")]`
	run("a browser without PushManager",
		onNewDocument(`delete window.PushManager;`),
		chromedp.Navigate(a.ts.URL+"/#token="+a.tokenFor(a.user, auth.ScopeUser)),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`),
		chromedp.WaitVisible(hint),
	)
	if eval[bool](t, ctx, `getComputedStyle(document.getElementById("notify")).display !== "none"`) {
		t.Fatal("the page offers Notify this device without Web Push")
	}
	shoot(t, ctx, "push-hint-390x844.png")
	run("the Notifications page says it too", chromedp.Navigate(a.ts.URL+"/notifications"), chromedp.WaitVisible(hint))
	// Opened from the Home Screen (standalone), no hint: adding the page
	// again would not help.
	run("standalone",
		onNewDocument(`Object.defineProperty(navigator, "standalone", { value: true });`),
		chromedp.Navigate(a.ts.URL+"/"),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`),
	)
	if eval[bool](t, ctx, `navigator.standalone !== true || getComputedStyle(document.getElementById("push-hint")).display !== "none"`) {
		t.Fatal("the hint shows in the page opened from the Home Screen")
	}
}

// A page the person leaves closes its event stream: kept open in the
// browser's back/forward cache, six pages' streams would take every
// connection the browser opens to the server, and the next page would
// not load. A page the person comes back to shows what happened meanwhile.
func TestBrowserLeavesNoStreamOpen(t *testing.T) {
	exe := chromium(t)
	t.Parallel()
	// No heartbeat while the test runs: one would evict a cached page, and
	// free its connection, by itself.
	a := apiWith(t, testserver.Options{HTTP: httpapi.Config{Heartbeat: time.Hour}})
	sessions := make([]string, 4)
	for i := range sessions {
		sessions[i] = uuid.NewString()
		a.agentSays(map[string]any{"agent_instance_id": sessions[i], "agent_type": "Codex", "content": fmt.Sprintf("step %d", i)})
	}
	_, run := newBrowser(t, exe, 390, 844)
	run("sign in", chromedp.Navigate(a.ts.URL+"/#token="+a.tokenFor(a.user, auth.ScopeUser)), chromedp.WaitVisible(`//h1[text()="Sessions"]`))
	for round := range 2 {
		for i, id := range sessions {
			run(fmt.Sprintf("round %d, session %d", round, i), chromedp.Navigate(a.ts.URL+"/sessions/"+id),
				chromedp.WaitVisible(fmt.Sprintf(`//div[contains(@class, "text") and contains(., "step %d")]`, i)),
				chromedp.Navigate(a.ts.URL+"/"), chromedp.WaitVisible(`//h1[text()="Sessions"]`))
		}
	}
	run("open a session", chromedp.Navigate(a.ts.URL+"/sessions/"+sessions[0]), chromedp.WaitVisible(`//div[contains(@class, "text") and contains(., "step 0")]`),
		chromedp.Navigate(a.ts.URL+"/"), chromedp.WaitVisible(`//h1[text()="Sessions"]`))
	a.agentSays(map[string]any{"agent_instance_id": sessions[0], "content": "said while you were away"})
	run("come back to it", chromedp.NavigateBack(),
		chromedp.WaitVisible(`//div[contains(@class, "text") and contains(., "said while you were away")]`))
}
