package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/handoffhq/handoff/auth"
)

// An open event stream of a key that is then revoked ends by itself,
// with no other request or event to notice it.
func TestRevokedKeysStreamEnds(t *testing.T) {
	a := newAPI(t)
	tok, key, err := auth.IssueToken(context.Background(), a.store, a.keys, auth.OperatorRequest(a.user, "phone", auth.ScopeUser))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", a.ts.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := a.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	if _, err := a.store.RevokeAPIKey(context.Background(), a.user, key.ID); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("the revoked key's stream is still open")
	}
}
