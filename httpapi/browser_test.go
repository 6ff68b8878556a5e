package httpapi_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
)

// chromium finds Debian's chromium (or CHROME_PATH). CI installs it; on a
// machine without it the browser test is skipped, except under CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROME_PATH"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium to drive (CI must install it)")
	}
	t.Skip("no chromium on this machine (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless chromium of the given window size for the
// test, and returns its context and a runner that fails the test on error.
func newBrowser(t *testing.T, exe string, width, height int) (context.Context, func(string, ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(width, height))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	// Headless chromium's window is 500 px wide at least: a phone's
	// width needs the viewport set (it holds for every page of the tab).
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulatePortrait)); err != nil {
		t.Fatalf("viewport %dx%d: %v", width, height, err)
	}
	return ctx, func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		// Chromium aborts its loads, loopback's too, with ERR_NETWORK_CHANGED
		// whenever the host's interfaces change (Docker starting or stopping
		// a container, say); and a navigation away from a page that had a
		// redraw scheduled for a live event can be cut off by that redraw
		// (ERR_ABORTED). A load that failed so is tried again.
		for try := 1; ; try++ {
			err := chromedp.Do(ctx, actions...)
			if err == nil {
				return
			}
			if try == 5 || !strings.Contains(err.Error(), "ERR_NETWORK_CHANGED") && !strings.Contains(err.Error(), "ERR_ABORTED") {
				t.Fatalf("%s: %v", what, err)
			}
			t.Logf("%s: %v; again", what, err)
		}
	}
}

// The whole loop in a real browser: a person signs in, a question an agent
// asks through REST shows up live, the person answers, and the waiting
// agent receives the answer.
func TestBrowserAnswersAWaitingAgent(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	ctx, run := newBrowser(t, exe, 1280, 900)

	// The sign-in link that the first start prints: the token after "#".
	run("sign in",
		chromedp.Navigate(a.ts.URL+"/#token="+person),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`),
	)

	// The agent works, then asks; the open page shows the question live.
	inst := uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"Claude Code","content":"Ran the tests: <b>all green</b><script>window.pwned=1</script>",
		"git_diff":"diff --git a/main.go b/main.go\nindex 83db48f..bf269f4 100644\n--- a/main.go\n+++ b/main.go\n@@ -1,3 +1,3 @@\n package main\n-func old() {}\n+func release() {}"}`)
	q := a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"Ship release 1.2 to production?","requires_user_input":true}`)
	run("see the question live", chromedp.WaitVisible(`//p[@class="question" and contains(., "Ship release 1.2")]`))

	// The agent waits for the answer as Omnara's SDK does (here a long poll).
	answer := make(chan string, 1)
	go func() {
		r := a.call("GET", "/api/v1/messages/pending?agent_instance_id="+inst+"&last_read_message_id="+q["message_id"].(string)+"&wait=60", a.token, "")
		if r.status != 200 {
			answer <- "error"
			return
		}
		msgs, _ := r.json(t)["messages"].([]any)
		if len(msgs) != 1 {
			answer <- "no message"
			return
		}
		answer <- msgs[0].(map[string]any)["content"].(string)
	}()

	run("open the session",
		chromedp.Click(`//a[contains(., "Ship release 1.2")]`),
		chromedp.WaitVisible(chromedp.ID("content")),
		chromedp.WaitVisible(`//div[contains(@class, "text") and contains(., "<script>window.pwned=1</script>")]`),
	)
	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === 1`))
	if err != nil {
		t.Fatal(err)
	}
	run("answer",
		chromedp.SendKeys(chromedp.ID("content"), "Yes, ship it."),
		chromedp.Submit(chromedp.ID("content")),
		chromedp.WaitVisible(`//li[contains(@class, "USER")]//div[contains(., "Yes, ship it.")]`),
	)
	if pwned {
		t.Fatal("the page ran a script an agent wrote")
	}
	select {
	case got := <-answer:
		if got != "Yes, ship it." {
			t.Fatalf("the agent received %q", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiting agent got no answer")
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "handoff-browser-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "session-view.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the session view: %s", path)
	if !strings.HasPrefix(string(shot[:8]), "\x89PNG") {
		t.Fatal("screenshot is not a PNG")
	}
}

// A permission request as Claude Code's hook posts it reaches the open
// page, and the person's click is the hook's answer, exactly.
func TestBrowserDecidesAPermissionRequest(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	for _, size := range []struct{ w, h int }{{390, 844}, {1280, 900}} {
		ctx, run := newBrowser(t, exe, size.w, size.h)
		inst := uuid.New()
		sid := inst.String()
		hookDone(t, a.hookAsync(fixture(t, "session_start", "SESSION", sid)))
		run("open the session",
			chromedp.Navigate(a.ts.URL+"/#token="+person),
			chromedp.WaitVisible(`//h1[text()="Sessions"]`),
			chromedp.Navigate(a.ts.URL+"/sessions/"+sid),
			chromedp.WaitVisible(`//div[contains(@class, "meta")]`),
		)
		// An edit and a command wait at once; each shows what it would do.
		edit := a.hookAsync(fixture(t, "permission_request_edit", "SESSION", sid))
		a.waitOpen(inst, 1)
		posted := time.Now()
		bash := a.hookAsync(fixture(t, "permission_request_bash", "SESSION", sid, "COMMAND", "rm -rf build && make"))
		run("see both requests live",
			chromedp.WaitVisible(`//li[contains(@class, "open")]//pre[@class="cmd" and text()="rm -rf build && make"]`),
			chromedp.WaitVisible(`//li[contains(@class, "open")]//pre[@class="edit"]/span[@class="add" and contains(., "hello, world")]`),
		)
		// A figure for the note, not an assertion.
		t.Logf("%dx%d: the request was on the page %v after the hook posted it", size.w, size.h, time.Since(posted).Round(time.Millisecond))
		shoot(t, ctx, fmt.Sprintf("permission-%dx%d.png", size.w, size.h))
		// Enter in the reason box denies (it must never press Allow).
		run("deny the command with a reason",
			chromedp.SendKeys(`//li[.//pre[@class="cmd"]]//input[@name="content"]`, "keep the build, run make only"+kb.Enter),
		)
		wantJSON(t, "deny", hookDone(t, bash).body,
			`{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"keep the build, run make only"}}}`)
		run("allow the edit once",
			chromedp.WaitVisible(`//div[contains(@class, "decided") and contains(., "Denied: keep the build")]`),
			chromedp.Click(`//li[contains(@class, "open")]//button[@value="0"]`),
		)
		wantJSON(t, "allow", hookDone(t, edit).body,
			`{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}`)
		run("see what was chosen", chromedp.WaitVisible(`//div[contains(@class, "decided") and text()="Allowed once."]`))
		shoot(t, ctx, fmt.Sprintf("decided-%dx%d.png", size.w, size.h))
	}
}

// shoot saves a screenshot of the whole page in HANDOFF_SCREENSHOTS (when
// set) for a person to look at.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	save(t, ctx, name, chromedp.FullScreenshot(100))
}

// shootScreen saves what is on the screen, as a person sees it (the
// whole page's screenshot moves what sticks to the screen's bottom).
func shootScreen(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	save(t, ctx, name, chromedp.CaptureScreenshot())
}

func save(t *testing.T, ctx context.Context, name string, capture chromedp.Action[[]byte]) {
	t.Helper()
	dir := os.Getenv("HANDOFF_SCREENSHOTS")
	if dir == "" {
		return
	}
	shot, err := chromedp.Run(ctx, capture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// smallTargets lists what a thumb must hit on the page but is under 44
// px either way (buttons, fields, the diff's file toggles, navigation):
// empty when every touch target is big enough. Links inside sentences
// are exempt, as WCAG's target-size rule exempts them.
const smallTargets = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll("button, select, textarea, summary, input:not([type=hidden]):not([type=checkbox]), label.check, nav a, a.back, .session a")) {
    if (el.offsetParent === null && getComputedStyle(el).position !== "fixed") continue; // not shown
    const r = el.getBoundingClientRect();
    if (r.width < 44 || r.height < 44) {
      bad.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " '" + (el.textContent || el.name || "").trim().slice(0, 24) + "' " + Math.round(r.width) + "x" + Math.round(r.height));
    }
  }
  return bad;
})()`

// rawMarkup lists what of Markdown or Omnara's markup shows in the page's
// text as written rather than rendered: empty when none does.
const rawMarkup = `["` + "```" + `", "[OPTIONS]", "**", "|---"].filter(m => document.querySelector("main").innerText.includes(m))`

// apart: in the session list, no text of a session's first row (agent,
// title, status) spills out of its box over the next: each fits, or is
// clipped.
const apart = `[...document.querySelectorAll(".session .row > *")].every(c =>
  c.scrollWidth <= c.clientWidth || getComputedStyle(c).overflowX !== "visible")`

// uncovered is a JavaScript expression: the element the CSS selector
// finds is on the screen, and nothing covers its middle.
func uncovered(selector string) string {
	return `(() => { const e = document.querySelector("` + selector + `"), r = e.getBoundingClientRect();
	  return r.top >= 0 && r.bottom <= window.innerHeight && e.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)); })()`
}

// pageState is a page in some state: the actions that bring the browser
// there (from the state before), and what must hold of it.
type pageState struct {
	name string
	do   []chromedp.Action[chromedp.Void]
	want string // a JavaScript expression, true in this state ("" for none)
}

// The page installs (its service worker takes control, it offers to
// notify this device), and every page in every state fits a phone's
// screen and a desktop's: nothing overflows sideways, no Markdown or
// options block shows raw, and every touch target is 44 px or more.
func TestBrowserEveryPageFits(t *testing.T) {
	exe := chromium(t)
	a := newPushAPI(t)
	person := a.tokenFor(a.user, auth.ScopeUser)
	nobodyID, _ := a.newUser()
	nobody := a.tokenFor(nobodyID, auth.ScopeUser)

	const longURL = "https://example.com/a/very/long/url/that/does/not/break/anywhere/at/all/because/it/has/no/spaces/in/it/whatsoever?q=1"
	waiting, active, completed, asking := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.New()
	a.agentSays(map[string]any{"agent_instance_id": waiting, "agent_type": "Claude Code", "content": "Changed the build",
		"git_diff": "diff --git a/a/very/long/path/without/any/break/in/it/at/all/whatsoever/main.go b/a/very/long/path/without/any/break/in/it/at/all/whatsoever/main.go\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new_line_that_is_very_long_and_has_no_spaces_anywhere_so_it_must_scroll_inside_its_box_not_the_page"})
	a.agentSays(map[string]any{"agent_instance_id": waiting, "content": "Waiting on " + longURL, "requires_user_input": true, "options": []string{"Ship it", "Wait"}})
	a.agentSays(map[string]any{"agent_instance_id": active, "agent_type": "Codex", "git_diff": multiFileDiff, "content": "Benchmarks, **before and after**:\n\n" +
		"| package | before | after | change | notes |\n|---|---|---|---|---|\n" +
		"| httpapi | 120 ms | 80 ms | −33% | the long poll no longer allocates per waiter |\n| db | 45 ms | 44 ms | −2% | unchanged |\n\n" +
		"```sh\ngo test -run '^$' -bench 'BenchmarkLongPoll|BenchmarkSendAgentMessage|BenchmarkPending' -benchmem -count 10 ./httpapi/ ./db/ | tee new.txt && benchstat old.txt new.txt\n```\n\n" +
		"The slowest test: TestSupercalifragilisticexpialidociousAndEvenLongerNamesThatNeverBreakAnywhereAtAll" + strings.Repeat("Again", 12) + ".\n\nDetails: " + longURL})
	a.agentSays(map[string]any{"agent_instance_id": completed, "agent_type": "Claude Code", "content": "Refactored the billing module; all tests pass."})
	a.ok(200, "POST", "/api/v1/sessions/end", `{"agent_instance_id":"`+completed+`"}`)
	hookDone(t, a.hookAsync(fixture(t, "session_start", "SESSION", asking.String())))
	requests := []<-chan response{a.hookAsync(fixture(t, "permission_request_bash", "SESSION", asking.String(), "COMMAND",
		"curl -fsSL https://example.com/install/a/very/long/path/without/any/spaces/that/keeps/going/setup.sh?channel=stable | sh -s -- --prefix=/opt/handoff"))}
	a.waitOpen(asking, 1)
	requests = append(requests, a.hookAsync(fixture(t, "permission_request_edit", "SESSION", asking.String())))
	// The hooks wait for a decision: deny both when the test ends.
	t.Cleanup(func() {
		for _, m := range a.waitOpen(asking, 2) {
			a.call("POST", "/api/v1/agent-instances/"+asking.String()+"/messages", person, `{"question_id":"`+m.ID.String()+`","option_index":2}`)
		}
		for _, r := range requests {
			<-r
		}
	})
	p256dh, secret := deviceKeys(t)
	if r := a.call("POST", "/api/v1/push/subscriptions", person, `{"endpoint":"http://127.0.0.1:9/push/1","keys":{"p256dh":"`+p256dh+`","auth":"`+secret+`"},"name":"Pixel"}`); r.status != 201 {
		t.Fatalf("device: %d %s", r.status, r.body)
	}
	if r := a.call("POST", "/api/v1/webhooks", person, `{"url":"http://127.0.0.1:9/hook","event_types":["question.asked"]}`); r.status != 201 {
		t.Fatalf("webhook: %d %s", r.status, r.body)
	}

	open := func(path, wait string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{chromedp.Navigate(a.ts.URL + path), chromedp.WaitVisible(wait)}
	}
	// A sign-in link opens after another page: a change of the fragment
	// alone would not load the page again.
	signIn := func(token, wait string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{chromedp.Navigate("about:blank"), chromedp.Navigate(a.ts.URL + "/#token=" + token), chromedp.WaitVisible(wait)}
	}
	const draft = "Use port 8080, and keep the old server running until the new one answers"
	states := []pageState{
		{name: "signin", do: open("/", `//h1[text()="Sign in"]`)},
		{name: "empty-list", do: signIn(nobody, `//pre[@class="howto"]`)},
		{name: "list", do: append([]chromedp.Action[chromedp.Void]{chromedp.Click(`//button[text()="Sign out"]`), chromedp.WaitVisible(`//h1[text()="Sign in"]`)},
			append(signIn(person, `//h2[contains(., "Waiting for you")]`), chromedp.WaitVisible(`//button[@id="notify" and text()="Notify this device"]`))...),
			want: `document.getElementById("push-hint").hidden && ` + apart},
		{name: "show-waiting", do: open("/?show=waiting", `//a[@aria-current="page" and text()="Waiting"]`), want: apart},
		{name: "show-active", do: open("/?show=active", `//a[@aria-current="page" and text()="Active"]`), want: apart},
		{name: "show-completed", do: open("/?show=completed", `//a[@aria-current="page" and text()="Completed"]`), want: apart},
		{name: "question", do: open("/sessions/"+waiting, `//button[@class="option" and text()="Ship it"]`)},
		{name: "markdown-diff", do: open("/sessions/"+active, `//section[contains(@class, "diff")]`),
			want: `document.querySelector(".md table") !== null && document.querySelectorAll("section.diff details").length === 3`},
		{name: "completed", do: open("/sessions/"+completed, `//span[@id="status" and text()="completed"]`)},
		{name: "permission", do: open("/sessions/"+asking.String(), `//pre[@class="edit"]`), want: `document.querySelectorAll("li.open").length === 2`},
		// A reply that fails (here: it names no question of the session)
		// shows the page again with the error, and the draft kept.
		{name: "reply-error", do: append(open("/sessions/"+active, `//textarea[@id="content"]`),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("form.reply").insertAdjacentHTML("beforeend",
			  '<input type="hidden" name="question_id" value="' + document.querySelector("li.AGENT").dataset.id + '">')`),
			chromedp.SendKeys(chromedp.ID("content"), draft), chromedp.Submit(chromedp.ID("content")),
			chromedp.WaitVisible(`//p[@role="alert" and contains(., "not a question of this session")]`)),
			want: `document.getElementById("content").value === "` + draft + `" && ` + uncovered(`[role=alert]`)},
		{name: "keys", do: open("/keys", `//h1[text()="API keys"]`)},
		{name: "key-created", do: []chromedp.Action[chromedp.Void]{chromedp.SendKeys(`//input[@name="name"]`, "laptop"),
			chromedp.Click(`//button[text()="Create"]`), chromedp.WaitVisible(chromedp.ID("new-token"))}},
		{name: "notifications", do: open("/notifications", `//h1[text()="Notifications"]`)},
		{name: "webhook-added", do: []chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.ID("hook-url"), "http://127.0.0.1:9/"+strings.Repeat("long-path-", 12)),
			chromedp.Click(`//button[text()="Add webhook"]`), chromedp.WaitVisible(`//pre[@class="token" and starts-with(., "whsec_")]`)}},
		{name: "not-found", do: open("/sessions/"+uuid.NewString(), `//h1[text()="No such session"]`)},
	}
	for _, size := range []struct{ w, h int }{{390, 844}, {1280, 900}} {
		ctx, run := newBrowser(t, exe, size.w, size.h)
		for i, st := range states {
			what := fmt.Sprintf("%s at %dx%d", st.name, size.w, size.h)
			run(what, st.do...)
			if w := eval[int](t, ctx, `window.innerWidth`); w != size.w {
				t.Fatalf("%s: the page is %d px wide", what, w)
			}
			if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Errorf("%s overflows sideways (%d px wide)", what, eval[int](t, ctx, `document.documentElement.scrollWidth`))
			}
			if small := eval[[]string](t, ctx, smallTargets); len(small) > 0 {
				t.Errorf("%s: touch targets under 44 px: %v", what, small)
			}
			if raw := eval[[]string](t, ctx, rawMarkup); len(raw) > 0 {
				t.Errorf("%s shows markup raw: %q", what, raw)
			}
			if st.want != "" && !eval[bool](t, ctx, st.want) {
				t.Errorf("%s: not %s", what, st.want)
			}
			shoot(t, ctx, fmt.Sprintf("%d-%02d-%s.png", size.w, i, st.name))
		}
		sw, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`navigator.serviceWorker.ready.then(r => r.active !== null)`, chromedp.EvalAwaitPromise))
		if err != nil || !sw {
			t.Fatalf("service worker at %dx%d: %v %v", size.w, size.h, sw, err)
		}
	}
}

// With a phone's keyboard open (the page resized to what is left above
// it, as interactive-widget=resizes-content asks), the reply box of a long conversation is on the screen when the
// session opens and stays there while the person scrolls back.
func TestBrowserReplyReachable(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	inst := uuid.NewString()
	for i := range 30 {
		a.ok(200, "POST", "/api/v1/messages/agent", fmt.Sprintf(`{"agent_instance_id":"%s","agent_type":"Codex","content":"step %d: did a thing worth a line or two of text"}`, inst, i))
	}
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"Which branch?","requires_user_input":true}`)
	ctx, run := newBrowser(t, exe, 390, 844)
	run("open the session",
		chromedp.Navigate(a.ts.URL+"/#token="+a.tokenFor(a.user, auth.ScopeUser)),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`),
		chromedp.EmulateViewport(390, 420, chromedp.EmulatePortrait),
		chromedp.Navigate(a.ts.URL+"/sessions/"+inst),
		chromedp.WaitVisible(chromedp.ID("content")),
	)
	onScreen := `(() => { const r = document.getElementById("content").getBoundingClientRect(),
	  b = document.querySelector("form.reply button").getBoundingClientRect();
	  return r.top >= 0 && b.bottom <= window.innerHeight && r.height > 0; })()`
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](onScreen)); err != nil || !ok {
		t.Fatalf("the reply box is off the screen when the session opens (%v)", err)
	}
	last, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const r = document.querySelector("#messages li:last-child").getBoundingClientRect();
	  return r.bottom > 0 && r.top < document.querySelector("form.reply").getBoundingClientRect().top; })()`))
	if err != nil || !last {
		t.Errorf("the latest message is not shown above the reply box (%v)", err)
	}
	shootScreen(t, ctx, "keyboard-open-390x420.png")
	// Back through the conversation (past its heading, where the box
	// stops at the conversation's top).
	run("scroll back", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 800)`))
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](onScreen)); err != nil || !ok {
		t.Fatalf("scrolled back, the reply box left the screen (%v)", err)
	}
	run("answer", chromedp.SendKeys(chromedp.ID("content"), "main"), chromedp.Submit(chromedp.ID("content")),
		chromedp.WaitVisible(`//li[contains(@class, "USER")]//div[contains(., "main")]`))
}

// On a session's page: when another session starts waiting, the tab says
// so (its title counts, its icon gets a badge) and stops when it is
// answered; when the live connection drops, a banner says so, and when it is
// back the page catches up with what happened meanwhile.
func TestBrowserAttention(t *testing.T) {
	exe := chromium(t)
	a := newAPI(t)
	inst, other := uuid.NewString(), uuid.NewString()
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","agent_type":"Claude Code","content":"working on it"}`)
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+other+`","agent_type":"Codex","content":"starting"}`)
	ctx, run := newBrowser(t, exe, 390, 844)
	run("open a session",
		chromedp.Navigate(a.ts.URL+"/#token="+a.tokenFor(a.user, auth.ScopeUser)),
		chromedp.WaitVisible(`//h1[text()="Sessions"]`),
		chromedp.Navigate(a.ts.URL+"/sessions/"+inst),
		chromedp.WaitVisible(`//div[contains(@class, "text") and contains(., "working on it")]`),
	)
	const icon = `document.querySelector("link[rel=icon]").href`
	if href := eval[string](t, ctx, icon); href != a.ts.URL+"/static/favicon-32.png" {
		t.Fatalf("with nothing waiting the tab's icon is %q", href)
	}
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+other+`","content":"May I?","requires_user_input":true}`)
	run("the tab counts the other session", chromedp.Poll[chromedp.Void](`document.title.startsWith("(1) ")`),
		chromedp.Poll[chromedp.Void](icon+`.startsWith("data:image/png")`))
	// Answered elsewhere: the count and the icon's badge go.
	if r := a.call("POST", "/api/v1/agent-instances/"+other+"/messages", a.tokenFor(a.user, auth.ScopeUser), `{"content":"yes"}`); r.status != 201 {
		t.Fatalf("answer: %d %s", r.status, r.body)
	}
	run("nothing waits", chromedp.Poll[chromedp.Void](`!document.title.startsWith("(") && `+icon+` === "`+a.ts.URL+`/static/favicon-32.png"`))
	// The connection drops: a banner; back: the page has what it missed.
	a.ts.CloseClientConnections()
	run("see the banner", chromedp.WaitVisible(chromedp.ID("offline")))
	a.ok(200, "POST", "/api/v1/messages/agent", `{"agent_instance_id":"`+inst+`","content":"done while you were away"}`)
	run("caught up",
		chromedp.WaitVisible(`//div[contains(@class, "text") and contains(., "done while you were away")]`),
		chromedp.WaitNotVisible(chromedp.ID("offline")),
	)
}
