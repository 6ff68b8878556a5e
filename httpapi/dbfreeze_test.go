package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/testserver"
)

// While PostgreSQL hangs (every byte held by a frozen proxy), requests
// get 503 problem+json with Retry-After instead of hanging. What they sent
// may still run when the database wakes (their statements were on the
// wire), so a 503 means "unknown": the retry with the same
// Idempotency-Key, once the database answers again, stores the message
// exactly once.
func TestFrozenDatabaseAnswers503(t *testing.T) {
	t.Parallel()
	var proxy *dbtest.Proxy
	var direct string
	srv := testserver.New(t, testserver.Options{
		DatabaseURL: func(url string) string {
			direct = url
			p, via := dbtest.NewProxy(t, url)
			proxy = p
			return via
		},
		PoolOptions: []db.PoolOption{db.OpTimeout(500 * time.Millisecond)},
	})
	user := srv.User()
	tok := srv.Token(user, auth.ScopeAgent)
	inst := uuid.NewString()
	send := func(content string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/messages/agent", strings.NewReader(
			`{"agent_instance_id":"`+inst+`","agent_type":"x","content":"`+content+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "send-"+content)
		c := &http.Client{Timeout: time.Minute}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: no answer: %v", content, err)
		}
		resp.Body.Close()
		return resp
	}
	if r := send("before"); r.StatusCode != 200 {
		t.Fatalf("before the freeze: %d", r.StatusCode)
	}

	proxy.Freeze()
	r := send("during")
	proxy.Thaw()
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("during the freeze: %d, Retry-After %q, %s", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"))
	}
	deadline := time.Now().Add(time.Minute)
	for send("during").StatusCode != 200 { // the retry; broken connections are replaced
		if time.Now().After(deadline) {
			t.Fatal("the server did not recover after the database did")
		}
	}
	check, err := db.NewPool(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var n int
	if err := check.QueryRow(context.Background(), "SELECT count(*) FROM messages WHERE content = 'during'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the message answered 503 and then retried is stored %d times, want once", n)
	}
}
