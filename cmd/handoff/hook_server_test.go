package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/testserver"
)

// handoff hook against a real server, as Codex runs it: the permission
// request waits for the person, and the decision is what it prints.
func TestHookCommandWithServer(t *testing.T) {
	srv := testserver.New(t, testserver.Options{})
	user := srv.User()
	person := client.New(srv.URL, srv.Token(user, auth.ScopeUser), nil)
	kv := map[string]string{"HANDOFF_URL": srv.URL, "HANDOFF_API_KEY": srv.Token(user, auth.ScopeAgent)}
	inst := uuid.New()
	event := `{"session_id":"` + inst.String() + `","cwd":"/w","hook_event_name":"PermissionRequest","tool_name":"Bash",` +
		`"tool_input":{"command":"npm install","description":"Install dependencies"}}`

	type result struct{ out, errs string }
	done := make(chan result, 1)
	go func() {
		var out, errs bytes.Buffer
		_ = hookCmd(context.Background(), []string{"--agent", "codex"}, envOf(kv), strings.NewReader(event), &out, &errs)
		done <- result{out.String(), errs.String()}
	}()
	request := dbtest.OpenPermissions(t, srv.Store, user, inst, 1)[0].ID.String()
	ch, err := person.Choose(context.Background(), inst.String(), request, 2, "use pnpm")
	if err != nil || ch.Decision == nil || ch.Decision.Outcome != "deny" {
		t.Fatalf("choose: %+v %v", ch, err)
	}
	r := <-done
	if r.out != `{"hookSpecificOutput":{"decision":{"behavior":"deny","message":"use pnpm"},"hookEventName":"PermissionRequest"}}`+"\n" || r.errs != "" {
		t.Fatalf("hook printed %q, stderr %q", r.out, r.errs)
	}
	got, err := person.Instance(context.Background(), inst.String())
	if err != nil || got.AgentType != "codex" {
		t.Fatalf("session %+v %v", got, err)
	}
	// An event with nothing to decide prints nothing.
	var out, errs bytes.Buffer
	_ = hookCmd(context.Background(), nil, envOf(kv), strings.NewReader(`{"session_id":"`+inst.String()+`","hook_event_name":"Notification","message":"idle"}`), &out, &errs)
	if out.Len() != 0 || errs.Len() != 0 {
		t.Fatalf("notification: %q %q", out.String(), errs.String())
	}
}
