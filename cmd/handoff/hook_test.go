package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// hookRun runs handoff hook with stdin and returns its exit code and output.
func hookRun(t *testing.T, kv map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := hookCmd(context.Background(), args, envOf(kv), strings.NewReader(stdin), &out, &errb)
	code := 0
	if err != nil {
		code = 1
	}
	return code, out.String(), errb.String()
}

// hookServer is the server's stand-in: it records each request and
// answers with status and body.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recordedRequest
}

type recordedRequest struct {
	method, path, query, auth, contentType string
	body                                   []byte
}

func newHookServer(t *testing.T, status int, body string) *hookServer {
	s := &hookServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, recordedRequest{r.Method, r.URL.Path, r.URL.RawQuery,
			r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) only(t *testing.T) recordedRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) != 1 {
		t.Fatalf("the server got %d requests, want 1", len(s.requests))
	}
	return s.requests[0]
}

const permissionEvent = `{"session_id":"abc","hook_event_name":"PermissionRequest",
  "tool_name":"Bash","tool_input":{"command":"rm -rf build"}}` + "\n"

func TestHookForwardsTheEventAndPrintsTheDecision(t *testing.T) {
	decision := `{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}` + "\n"
	srv := newHookServer(t, http.StatusOK, decision)
	kv := map[string]string{"HANDOFF_URL": srv.URL + "/", "HANDOFF_API_KEY": "agent-key"}

	code, out, stderr := hookRun(t, kv, permissionEvent)
	if code != 0 || out != decision || stderr != "" {
		t.Fatalf("hook: %d %q %q", code, out, stderr)
	}
	r := srv.only(t)
	if r.method != http.MethodPost || r.path != "/api/v1/hooks/claude-code" || r.query != "" {
		t.Errorf("request: %s %s?%s", r.method, r.path, r.query)
	}
	if r.auth != "Bearer agent-key" || r.contentType != "application/json" {
		t.Errorf("headers: %q %q", r.auth, r.contentType)
	}
	if string(r.body) != permissionEvent {
		t.Errorf("body changed on the way: %q", r.body)
	}
}

func TestHookFlagsWinAndCodexIsNamed(t *testing.T) {
	srv := newHookServer(t, http.StatusOK, `{"decision":"block","reason":"the person wrote: add tests"}`)
	kv := map[string]string{"HANDOFF_URL": "http://127.0.0.1:1", "HANDOFF_API_KEY": "env-key"}

	code, out, stderr := hookRun(t, kv, `{"hook_event_name":"Stop"}`,
		"--url", srv.URL, "--key", "flag-key", "--agent", "codex", "--timeout", "5s")
	if code != 0 || out != `{"decision":"block","reason":"the person wrote: add tests"}` || stderr != "" {
		t.Fatalf("hook: %d %q %q", code, out, stderr)
	}
	if r := srv.only(t); r.query != "agent_type=Codex" || r.auth != "Bearer flag-key" {
		t.Errorf("request: ?%s, %q", r.query, r.auth)
	}
}

func TestHookWithoutADecisionPrintsNothing(t *testing.T) {
	for _, body := range []string{"", "{}", " {}\n", "\n"} {
		srv := newHookServer(t, http.StatusOK, body)
		kv := map[string]string{"HANDOFF_URL": srv.URL, "HANDOFF_API_KEY": "k"}
		if code, out, stderr := hookRun(t, kv, `{"hook_event_name":"Notification"}`); code != 0 || out != "" || stderr != "" {
			t.Errorf("answer %q: %d %q %q", body, code, out, stderr)
		}
	}
	srv := newHookServer(t, http.StatusNoContent, "")
	kv := map[string]string{"HANDOFF_URL": srv.URL, "HANDOFF_API_KEY": "k"}
	if code, out, stderr := hookRun(t, kv, `{"hook_event_name":"SessionEnd"}`); code != 0 || out != "" || stderr != "" {
		t.Errorf("204: %d %q %q", code, out, stderr)
	}
}

// Every failure is no decision: nothing on stdout, one line on stderr,
// exit 0.
func TestHookFailuresAreNeverADecision(t *testing.T) {
	unreachable := httptest.NewServer(http.NotFoundHandler())
	unreachable.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select { // a person who never decides
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first
	redirect := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)

	cases := []struct {
		name   string
		url    string
		status int
		body   string
		stdin  string
		args   []string
		noKey  bool
		want   string // in the stderr line
	}{
		{name: "500", status: 500, body: `{"decision":"block"}`, want: "500"},
		{name: "401", status: 401, body: `{"detail":"invalid token"}`, want: "401"},
		{name: "garbage", status: 200, body: "<html>oops</html>", want: "not a JSON object"},
		{name: "truncated", status: 200, body: `{"decision":`, want: "not a JSON object"},
		{name: "array", status: 200, body: `[{"decision":"block"}]`, want: "not a JSON object"},
		{name: "string", status: 200, body: `"allow"`, want: "not a JSON object"},
		{name: "too large", status: 200, body: `{"reason":"` + strings.Repeat("x", maxHookBody) + `"}`, want: "larger than"},
		{name: "unreachable", url: unreachable.URL, want: "refused"},
		{name: "timeout", url: slow.URL, args: []string{"--timeout", "100ms"}, want: "no decision within 100ms"},
		{name: "redirect", url: redirect.URL, want: "307"},
		{name: "no key", noKey: true, want: "HANDOFF_API_KEY"},
		{name: "stdin not JSON", stdin: "PermissionRequest", want: "not a JSON object"},
		{name: "stdin empty", stdin: " ", want: "not a JSON object"},
		{name: "stdin too large", stdin: `{"a":"` + strings.Repeat("x", maxHookBody) + `"}`, want: "larger than 1 MiB"},
		{name: "bad URL", url: "ftp://example.com", want: "http(s) URL"},
		{name: "URL with a query", url: "http://127.0.0.1:1/?x=1", want: "without a query"},
		{name: "bad agent", args: []string{"--agent", "cursor"}, want: "--agent"},
		{name: "bad flag", args: []string{"--wait"}, want: "-wait"},
		{name: "argument", args: []string{"PermissionRequest"}, want: "no arguments"},
		{name: "bad timeout", args: []string{"--timeout", "0s"}, want: "--timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newHookServer(t, max(c.status, 200), c.body)
			kv := map[string]string{"HANDOFF_URL": srv.URL, "HANDOFF_API_KEY": "k"}
			if c.url != "" {
				kv["HANDOFF_URL"] = c.url
			}
			if c.noKey {
				delete(kv, "HANDOFF_API_KEY")
			}
			stdin := c.stdin
			if stdin == "" {
				stdin = permissionEvent
			}
			code, out, stderr := hookRun(t, kv, stdin, c.args...)
			if code != 0 || out != "" {
				t.Fatalf("a failure became an answer: %d %q", code, out)
			}
			if !strings.HasPrefix(stderr, "handoff hook: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q, want one line with %q", stderr, c.want)
			}
		})
	}
}

// Through the command line too: a bad flag is not the usage exit 2,
// which Claude Code would read as a refusal.
func TestHookExitsZeroFromTheCommandLine(t *testing.T) {
	code, out, stderr := cli(t, nil, "hook", "--no-such-flag")
	if code != 0 || out != "" || !strings.HasPrefix(stderr, "handoff hook: ") {
		t.Fatalf("hook --no-such-flag: %d %q %q", code, out, stderr)
	}
}
