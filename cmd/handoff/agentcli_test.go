package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/client"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/internal/testserver"
)

func TestAgentCLI(t *testing.T) {
	srv := testserver.New(t, testserver.Options{})
	store, user := srv.Store, srv.User()
	person := client.New(srv.URL, srv.Token(user, auth.ScopeUser), nil)
	kv := map[string]string{"HANDOFF_URL": srv.URL, "HANDOFF_API_KEY": srv.Token(user, auth.ScopeAgent)}

	run := func(ctx context.Context, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, envOf(kv), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, stderr := run(context.Background(), "send", "starting", "work")
	inst, ok := strings.CutPrefix(strings.TrimSpace(stderr), "HANDOFF_AGENT_INSTANCE_ID=")
	if code != 0 || out != "" || !ok || uuid.Validate(inst) != nil {
		t.Fatalf("send: %d %q %q", code, out, stderr)
	}
	kv["HANDOFF_AGENT_INSTANCE_ID"] = inst
	if _, err := person.Answer(context.Background(), inst, "use tabs"); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(context.Background(), "send", "next step"); code != 0 || out != "use tabs\n" {
		t.Fatalf("send with feedback: %d %q", code, out)
	}

	// ask, answered by the person.
	done := make(chan [3]string, 1)
	go func() {
		code, out, stderr := run(context.Background(), "ask", "Ship it?")
		done <- [3]string{string(rune('0' + code)), out, stderr}
	}()
	awaitStatus(t, store, user, inst, db.AgentStatusAWAITINGINPUT)
	if _, err := person.Answer(context.Background(), inst, "yes"); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r[0] != "0" || r[1] != "yes\n" {
		t.Fatalf("ask: %q", r)
	}

	// ask with nobody answering in time: 3, the question stands.
	if code, _, stderr := run(context.Background(), "ask", "--timeout", "50ms", "Anyone?"); code != exitTimedOut || !strings.Contains(stderr, "stands") {
		t.Fatalf("ask timed out: %d %q", code, stderr)
	}

	// ask while the session ends: 4.
	go func() {
		code, _, _ := run(context.Background(), "ask", "Still there?")
		done <- [3]string{string(rune('0' + code))}
	}()
	awaitStatus(t, store, user, inst, db.AgentStatusAWAITINGINPUT)
	if code, out, _ := run(context.Background(), "end"); code != 0 || out != "COMPLETED\n" {
		t.Fatalf("end: %d %q", code, out)
	}
	if r := <-done; r[0] != "4" {
		t.Fatalf("ask when the session ended: exit %s", r[0])
	}

	delete(kv, "HANDOFF_API_KEY")
	if code, _, stderr := run(context.Background(), "send", "x"); code != exitConfig || !strings.Contains(stderr, "HANDOFF_API_KEY") {
		t.Fatalf("no key: %d %q", code, stderr)
	}
}

// awaitStatus returns once the instance has the status (a condition wait).
func awaitStatus(t *testing.T, store *db.Store, user uuid.UUID, inst string, status db.AgentStatus) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := store.GetInstance(context.Background(), user, uuid.MustParse(inst))
		if err == nil && got.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance never became %s", status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
