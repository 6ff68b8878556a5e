package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
)

// do sends one request with a bearer token and returns its status.
func do(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// The person's event stream on one replica sees an agent's message
// written through another; a key revoked on one replica is refused by
// every replica, and its open stream on another replica ends.
func TestEventsAndRevocationAcrossReplicas(t *testing.T) {
	t.Parallel()
	c := balancedCluster(t)
	u, agent, _ := c.user()
	person, key, err := auth.IssueToken(context.Background(), c.store, c.keys, auth.OperatorRequest(u, "revoked soon", auth.ScopeUser))
	if err != nil {
		t.Fatal(err)
	}
	a, b, third := c.replicas[0], c.replicas[1], c.replicas[2]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+person)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("events on %s: %v %v", a.name, res, err)
	}
	defer res.Body.Close()
	lines := make(chan string, 64)
	streamEnded := make(chan struct{})
	go func() {
		defer close(streamEnded)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	inst := uuid.NewString()
	if s := do(t, "POST", b.url+"/api/v1/messages/agent", agent,
		fmt.Sprintf(`{"agent_instance_id":"%s","agent_type":"x","content":"written through %s"}`, inst, b.name)); s != 200 {
		t.Fatalf("send through %s: %d", b.name, s)
	}
	for seen := false; !seen; {
		select {
		case l := <-lines:
			seen = strings.HasPrefix(l, "data: ") && strings.Contains(l, inst)
		case <-streamEnded:
			t.Fatal("the stream ended")
		case <-ctx.Done():
			t.Fatalf("%s's stream never showed the message written through %s", a.name, b.name)
		}
	}

	// Revoked through the third replica: every replica refuses the key,
	// and the stream on the first ends.
	if s := do(t, "DELETE", third.url+"/api/v1/auth/api-keys/"+key.ID.String(), person, ""); s != 200 {
		t.Fatalf("revoke through %s: %d", third.name, s)
	}
	revoked := time.Now()
	for _, r := range c.replicas {
		for do(t, "GET", r.url+"/api/v1/agent-instances", person, "") != http.StatusUnauthorized {
			if ctx.Err() != nil {
				t.Fatalf("%s still takes the revoked key", r.name)
			}
			time.Sleep(20 * time.Millisecond) // polling another process
		}
		t.Logf("%s refuses the revoked key %v after the revocation", r.name, time.Since(revoked).Round(10*time.Millisecond))
	}
	select {
	case <-streamEnded:
		t.Logf("%s's stream ended %v after the revocation", a.name, time.Since(revoked).Round(10*time.Millisecond))
	case <-ctx.Done():
		t.Fatalf("%s's stream of the revoked key is still open", a.name)
	}
}
