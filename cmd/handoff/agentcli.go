package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/handoffhq/handoff/client"
)

// handoff send / ask / end: an agent's side from a shell script or a hook.
// The server and key come from flags or HANDOFF_URL and HANDOFF_API_KEY,
// the session from --instance or HANDOFF_AGENT_INSTANCE_ID.

// Exit codes of ask besides 0 (answered), 1 (failed) and 2 (usage).
const (
	exitTimedOut     = 3
	exitSessionEnded = 4
)

// exitError carries a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func (f agentFlags) client() *client.Client { return client.New(f.url, f.key, nil) }

// handoff send TEXT: prints the person's unread messages, one per line. A
// new session's id goes to stderr as HANDOFF_AGENT_INSTANCE_ID=….
func sendCmd(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	f, rest, err := parseAgentFlags("send", args, getenv, false)
	if err != nil {
		return err
	}
	text := strings.Join(rest, " ")
	if strings.TrimSpace(text) == "" {
		return usagef("send needs the message text")
	}
	res, err := f.client().Send(ctx, client.SendParams{InstanceID: f.instance, AgentType: f.agentType, Content: text})
	if err != nil {
		return err
	}
	if f.instance == "" {
		fmt.Fprintf(stderr, "HANDOFF_AGENT_INSTANCE_ID=%s\n", res.InstanceID)
	}
	for _, m := range res.QueuedUserMessages {
		fmt.Fprintln(stdout, m.Content)
	}
	return nil
}

// handoff ask QUESTION: prints the answer. Exit 0 answered, 3 timed out
// (the question stands), 4 session ended.
func askCmd(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	f, rest, err := parseAgentFlags("ask", args, getenv, true)
	if err != nil {
		return err
	}
	question := strings.Join(rest, " ")
	if strings.TrimSpace(question) == "" {
		return usagef("ask needs the question text")
	}
	if f.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	c := f.client()
	sent, err := c.Send(ctx, client.SendParams{InstanceID: f.instance, AgentType: f.agentType, Content: question, RequiresUserInput: true})
	if err != nil {
		return err
	}
	if f.instance == "" {
		fmt.Fprintf(stderr, "HANDOFF_AGENT_INSTANCE_ID=%s\n", sent.InstanceID)
	}
	wctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	answer, err := c.WaitForAnswer(wctx, sent.InstanceID, sent.MessageID)
	switch {
	case err == nil:
		fmt.Fprintln(stdout, answer)
		return nil
	case errors.Is(err, client.ErrSessionEnded):
		return &exitError{exitSessionEnded, "the session ended before an answer came"}
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return &exitError{exitTimedOut, fmt.Sprintf("no answer within %s (question %s stands)", f.timeout, sent.MessageID)}
	}
	return err
}

// handoff end: ends the session.
func endCmd(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	f, rest, err := parseAgentFlags("end", args, getenv, false)
	if err != nil {
		return err
	}
	if len(rest) > 0 || f.instance == "" {
		return usagef("end takes no arguments and needs --instance or HANDOFF_AGENT_INSTANCE_ID")
	}
	res, err := f.client().End(ctx, f.instance)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.FinalStatus)
	return nil
}
