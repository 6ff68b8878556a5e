// Command handoff is the human-in-the-loop server for AI agents, and the
// operator's tools around it.
//
//	handoff serve [--mcp-stateless] [--data-dir DIR]
//	handoff migrate up|down|status
//	handoff keys generate --out DIR [--alg eddsa|rs256]
//	handoff user create --email E [--name N]
//	handoff token issue --user ID --scope agent|user|admin [--name N] [--expires 720h]
//	handoff token revoke KEY_ID
//	handoff token list --user ID
//	handoff send TEXT | handoff ask QUESTION | handoff end   (HANDOFF_URL, HANDOFF_API_KEY, HANDOFF_AGENT_INSTANCE_ID)
//	handoff mcp-stdio   (MCP over stdio, proxying HANDOFF_URL's /mcp/ with HANDOFF_API_KEY)
//	handoff hook [--agent claude-code|codex]   (an agent's command hook: event on stdin, decision on stdout)
//	handoff install claude-code [--dir DIR | --user] [--url U] [--dry-run]   (handoff's hooks and MCP server in Claude Code's settings)
//	handoff bench send|answer|waiters [--url U] [--agents N] [--compare] ...
//
// Configuration comes from the environment: DATABASE_URL, MCP_SERVER_PORT
// (default 8080; PORT wins), JWT_PUBLIC_KEY, JWT_PRIVATE_KEY (PEM text or a
// file path), and handoff's own HANDOFF_* settings (see README), all read
// and checked in config.go before a command has any effect. A bad or
// missing setting is one line on stderr and exit code 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1 // the command ran and failed
	exitConfig = 2 // bad usage or configuration
)

// usageError is a bad command line or configuration: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `usage:
  handoff serve [--mcp-stateless] [--data-dir DIR]
  handoff migrate up|down|status
  handoff keys generate --out DIR [--alg eddsa|rs256]
  handoff user create --email E [--name N]
  handoff token issue --user ID --scope agent|user|admin [--name N] [--expires 720h]
  handoff token revoke KEY_ID
  handoff token list --user ID
  handoff send TEXT | ask QUESTION | end   [--url U] [--key K] [--instance ID]   (an agent, from a shell)
  handoff mcp-stdio [--url U] [--api-key K] [--client-type T]   (MCP on stdio, proxying a server's /mcp/)
  handoff hook [--url U] [--key K] [--agent claude-code|codex] [--timeout 595s]   (a command hook: event on stdin, decision on stdout; never fails)
  handoff install claude-code [--dir DIR | --user] [--url U] [--dry-run]   (handoff's hooks and MCP server in Claude Code's settings)
  handoff bench send|answer|waiters [flags]   (load on a server on this machine)
  handoff signin-link [--user ID]   (a fresh sign-in link for the web page)
  handoff version
  handoff healthcheck [--url U]   (exit 0 when the server that serve's settings describe is ready)`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "handoff: "+ee.msg)
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "handoff: "+ue.msg)
		return exitConfig
	default:
		fmt.Fprintln(stderr, "handoff: "+err.Error())
		return exitFail
	}
}

func dispatch(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("a command is needed (see handoff help)")
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 {
		sub = rest[0]
	}
	switch {
	case cmd == "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case cmd == "migrate":
		return migrate(ctx, rest, getenv, stdout)
	case cmd == "keys" && sub == "generate":
		return keysGenerate(rest[1:], stdout)
	case cmd == "user" && sub == "create":
		return userCreate(ctx, rest[1:], getenv, stdout)
	case cmd == "token" && sub == "issue":
		return tokenIssue(ctx, rest[1:], getenv, stdout)
	case cmd == "token" && sub == "revoke":
		return tokenRevoke(ctx, rest[1:], getenv, stdout)
	case cmd == "token" && sub == "list":
		return tokenList(ctx, rest[1:], getenv, stdout)
	case cmd == "mcp-stdio":
		return mcpStdio(ctx, rest, getenv, stderr)
	case cmd == "hook":
		return hookCmd(ctx, rest, getenv, os.Stdin, stdout, stderr)
	case cmd == "install":
		return installCmd(rest, getenv, stdout)
	case cmd == "send":
		return sendCmd(ctx, rest, getenv, stdout, stderr)
	case cmd == "ask":
		return askCmd(ctx, rest, getenv, stdout, stderr)
	case cmd == "end":
		return endCmd(ctx, rest, getenv, stdout)
	case cmd == "bench":
		return benchCmd(ctx, rest, getenv, stdout)
	case cmd == "signin-link":
		return signinLink(ctx, rest, getenv, stdout)
	case cmd == "version" || cmd == "--version":
		return versionCmd(stdout)
	case cmd == "healthcheck":
		return healthcheck(ctx, rest, getenv, stdout)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usagef("unknown command %q (see handoff help)", joinArgs(args))
}

func joinArgs(args []string) string {
	if len(args) > 2 {
		args = args[:2]
	}
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
