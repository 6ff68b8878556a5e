package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// handoff hook: a command hook for agents that run hooks as commands
// (Codex, and Claude Code versions without http hooks). It reads the event
// JSON the agent writes on stdin, posts it unchanged to the server's hook
// endpoint, and prints the server's decision for the agent to read.
//
// A hook that fails must never decide anything, nor stop the agent: on any
// failure it prints nothing on stdout, one line on stderr, and exits 0.
// (Claude Code reads exit code 2 as a refusal, so not even a bad flag may
// end in the usual usage exit.)

// hookPath is the server's endpoint for hook events of Claude Code and of
// agents that speak the same hook format.
const hookPath = "/api/v1/hooks/claude-code"

// maxHookBody bounds the event read from stdin and the decision read back.
const maxHookBody = 1 << 20

// hookAgentTypes are --agent's values and the agent_type the server is
// told ("" leaves the server's default, Claude Code).
var hookAgentTypes = map[string]string{"claude-code": "", "codex": "Codex"}

func hookCmd(ctx context.Context, args []string, getenv env, stdin io.Reader, stdout, stderr io.Writer) error {
	decision, err := hookDecision(ctx, args, getenv, stdin)
	if err != nil {
		msg := strings.TrimPrefix(oneLine(err.Error()), "hook: ")
		fmt.Fprintf(stderr, "handoff hook: %s (no decision)\n", msg)
		return nil
	}
	if decision != nil {
		_, _ = stdout.Write(decision)
	}
	return nil
}

// hookDecision returns the server's decision, or nil when it has none.
func hookDecision(ctx context.Context, args []string, getenv env, stdin io.Reader) ([]byte, error) {
	var server, key, agent string
	var timeout time.Duration
	fs, err := flags("hook", args, func(fs *flag.FlagSet) {
		fs.StringVar(&server, "url", getenv("HANDOFF_URL"), "the server (HANDOFF_URL)")
		fs.StringVar(&key, "key", getenv("HANDOFF_API_KEY"), "an agent key (HANDOFF_API_KEY)")
		fs.StringVar(&agent, "agent", "claude-code", "the agent whose hook this is: claude-code or codex")
		fs.DurationVar(&timeout, "timeout", 595*time.Second, "how long to wait for the person's decision")
	})
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("hook takes no arguments, not %q", fs.Arg(0))
	}
	if server, err = serverURL(server); err != nil {
		return nil, err
	}
	endpoint, err := url.Parse(server + hookPath)
	if err != nil {
		return nil, err
	}
	agentType, ok := hookAgentTypes[agent]
	if !ok {
		return nil, fmt.Errorf("--agent must be claude-code or codex, not %q", agent)
	}
	if agentType != "" {
		endpoint.RawQuery = url.Values{"agent_type": {agentType}}.Encode()
	}
	if key == "" {
		return nil, errors.New("no agent key: --key or HANDOFF_API_KEY")
	}
	if timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}

	event, err := io.ReadAll(io.LimitReader(stdin, maxHookBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the event: %v", err)
	case len(event) > maxHookBody:
		return nil, errors.New("the event on stdin is larger than 1 MiB")
	case !isJSONObject(event):
		return nil, errors.New("the event on stdin is not a JSON object")
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "handoff-hook")
	// A redirect is not a decision: the key is not carried elsewhere.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no decision within %s", timeout)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("the server answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHookBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading the answer: %v", err)
	case len(body) > maxHookBody:
		return nil, errors.New("the answer is larger than 1 MiB")
	case len(bytes.TrimSpace(body)) == 0:
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if !isJSONObject(body) || json.Unmarshal(body, &fields) != nil {
		return nil, errors.New("the answer is not a JSON object")
	}
	if len(fields) == 0 {
		return nil, nil
	}
	return body, nil
}

// serverURL is the server's base URL, without a trailing slash: s, or
// the loopback default when s is empty.
func serverURL(s string) (string, error) {
	if s == "" {
		return "http://127.0.0.1:8080", nil
	}
	s = strings.TrimRight(s, "/")
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("the server URL must be an http(s) URL without a query, such as http://127.0.0.1:8080, not %q", s)
	}
	return s, nil
}

// isJSONObject reports whether b is one valid JSON value that is an object.
func isJSONObject(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

// oneLine keeps a message on one line of stderr.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
