package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
)

// status sends one request with a bearer token and returns its status.
func status(ctx context.Context, method, url, token, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// do is status, the test failing on a transport error.
func do(t *testing.T, method, url, token, body string) int {
	t.Helper()
	s, err := status(context.Background(), method, url, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventStream is a person's event stream on one replica: seen closes
// when a data line mentions what it watches for, ended (at endedAt) when
// the stream ends.
type eventStream struct {
	on          *replica
	seen, ended chan struct{}
	endedAt     time.Time
}

// watchEvents opens the person's event stream directly on r and watches
// it for want.
func watchEvents(ctx context.Context, t *testing.T, r *replica, token, want string) *eventStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events on %s: %v", r.name, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		t.Fatalf("events on %s: %d", r.name, res.StatusCode)
	}
	s := &eventStream{on: r, seen: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(res.Body)
		for seen := false; sc.Scan(); {
			if l := sc.Text(); !seen && strings.HasPrefix(l, "data: ") && strings.Contains(l, want) {
				seen = true
				close(s.seen)
			}
		}
		s.endedAt = time.Now()
		close(s.ended)
	}()
	return s
}

// The person's event stream on every replica sees an agent's message
// written through the balancer, so at least two of them see a write
// another replica served. A key every replica (and the balancer) took is
// revoked through the balancer: each refuses it from then on, and its
// open streams end.
func TestEventsAndRevocationAcrossReplicas(t *testing.T) {
	t.Parallel()
	c := balancedCluster(t)
	u, agent, _ := c.user()
	person, key, err := auth.IssueToken(context.Background(), c.store, c.keys, auth.OperatorRequest(u, "revoked soon", auth.ScopeUser))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	inst := uuid.NewString()
	var streams []*eventStream
	for _, r := range c.replicas {
		streams = append(streams, watchEvents(ctx, t, r, person, inst))
	}
	// One replica serves the write; the streams on the others see it
	// through the database.
	if s := do(t, "POST", c.lbURL+"/api/v1/messages/agent", agent,
		fmt.Sprintf(`{"agent_instance_id":"%s","agent_type":"x","content":"written through the balancer"}`, inst)); s != 200 {
		t.Fatalf("send through the balancer: %d", s)
	}
	for _, s := range streams {
		select {
		case <-s.seen:
		case <-s.ended:
			t.Fatalf("%s's stream ended", s.on.name)
		case <-ctx.Done():
			t.Fatalf("%s's stream never showed the message written through the balancer", s.on.name)
		}
	}

	// Every replica, and the balancer, takes the key (each has its row
	// cached), then it is revoked through the balancer.
	type target struct{ name, url string }
	targets := []target{{"the balancer", c.lbURL}}
	for _, r := range c.replicas {
		targets = append(targets, target{r.name, r.url})
	}
	for _, tg := range targets {
		if s := do(t, "GET", tg.url+"/api/v1/agent-instances", person, ""); s != 200 {
			t.Fatalf("%s refuses the key before its revocation: %d", tg.name, s)
		}
	}
	if s := do(t, "DELETE", c.lbURL+"/api/v1/auth/api-keys/"+key.ID.String(), person, ""); s != 200 {
		t.Fatalf("revoke through the balancer: %d", s)
	}
	revoked := time.Now()
	var wg sync.WaitGroup
	for _, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s, err := status(ctx, "GET", tg.url+"/api/v1/agent-instances", person, "")
				if err == nil && s == http.StatusUnauthorized {
					// A figure for the note, not an assertion.
					t.Logf("%s refuses the revoked key %v after the revocation", tg.name, time.Since(revoked).Round(10*time.Millisecond))
					return
				}
				if ctx.Err() != nil {
					t.Errorf("%s still takes the revoked key (%d, %v)", tg.name, s, err)
					return
				}
				time.Sleep(20 * time.Millisecond) // polling another process
			}
		}()
	}
	wg.Wait()
	for _, s := range streams {
		select {
		case <-s.ended:
			t.Logf("%s's stream ended %v after the revocation", s.on.name, s.endedAt.Sub(revoked).Round(10*time.Millisecond))
		case <-ctx.Done():
			t.Fatalf("%s's stream of the revoked key is still open", s.on.name)
		}
	}
}
