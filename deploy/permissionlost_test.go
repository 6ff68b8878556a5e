package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// A Claude Code permission request held by a replica that is killed
// (SIGKILL) while it waits is expired at its deadline by another replica:
// the request stops showing as waiting and its session stops awaiting
// input, instead of both staying so until the session ends.
func TestPermissionRequestOutlivesItsReplica(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "HANDOFF_HOOK_WAIT=10s")
	c.start(2)
	_, agent, _ := c.user()
	holder := c.replicas[0]
	inst := uuid.New()
	event := `{"session_id":"` + inst.String() + `","cwd":"/w","hook_event_name":"PermissionRequest","tool_name":"Bash",` +
		`"tool_input":{"command":"make deploy"}}`
	go func() {
		// Cut by the kill; what it returns is not the test's business.
		_, _ = status(context.Background(), "POST", holder.url+"/api/v1/hooks/claude-code", agent, event)
	}()
	const open = `SELECT count(*) FROM messages WHERE agent_instance_id = $1 AND kind = 'permission' AND decision IS NULL`
	until(t, "the permission request to open", func() bool { return c.count(open, inst) == 1 })
	holder.kill(t)
	killed := time.Now()
	if n := c.count(open, inst); n != 1 {
		t.Fatalf("the request was settled before its waiter died (%d open): the test proves nothing", n)
	}
	until(t, "the request to be expired", func() bool {
		return c.count(`SELECT count(*) FROM messages WHERE agent_instance_id = $1 AND decision->>'outcome' = 'expired'`, inst) == 1
	})
	t.Logf("expired by another replica %v after the kill (the wait was 10 s)", time.Since(killed).Round(100*time.Millisecond))
	if n := c.count(`SELECT count(*) FROM agent_instances WHERE id = $1 AND status = 'ACTIVE'`, inst); n != 1 {
		t.Fatal("the session still awaits input")
	}
}
