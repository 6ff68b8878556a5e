package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

// rawRequest sends head (and any body bytes) on a new connection and
// returns the response to it, then whether the server closed the
// connection after it. With drip, a byte of body follows every 10 ms
// until the answer comes. It gives up after a minute (a hung server fails).
func rawRequest(t *testing.T, url, head string, drip bool) (*http.Response, bool) {
	resp, err := rawRequestEnd(t, url, head, drip)
	// Closed: the end of the stream, or a reset (the server closed with
	// bytes of ours unread).
	return resp, err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// rawRequestEnd is rawRequest returning what reading on after the
// response met: io.EOF for a connection closed in good order.
func rawRequestEnd(t *testing.T, url, head string, drip bool) (*http.Response, error) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if drip {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(conn, " "); err != nil {
						return
					}
				}
			}
		}()
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, err
}

// A body that stalls or trickles is cut off (408, connection closed) at
// the body's bound.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{BodyTimeout: 300 * time.Millisecond}})
	u := srv.User()
	tok := srv.Token(u, "agent")
	host := strings.TrimPrefix(srv.URL, "http://")

	post := "POST /api/v1/messages/agent HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\n"
	authed := post + "Authorization: Bearer " + tok + "\r\n"

	// Ten bytes of a thousand, then nothing.
	resp, closed := rawRequest(t, srv.URL, authed+"Content-Length: 1000\r\n\r\n{\"agent_in", false)
	if resp.StatusCode != http.StatusRequestTimeout || !closed {
		t.Errorf("stalled body: %d, closed %v; want 408 and closed", resp.StatusCode, closed)
	}

	// A byte at a time, never stopping: the bound is on the whole body,
	// not on a pause.
	resp, closed = rawRequest(t, srv.URL, authed+"Content-Length: 100000\r\n\r\n{\"content\":\"", true)
	if resp.StatusCode != http.StatusRequestTimeout || !closed {
		t.Errorf("trickled body: %d, closed %v; want 408 and closed", resp.StatusCode, closed)
	}

}

// A request without a valid token is refused at once and its connection
// closed, its body unread. The body's bound here is an hour: a server that
// read (or discarded) the body first would not answer within
// rawRequest's minute.
func TestUnauthenticatedBodiesAreNotRead(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{BodyTimeout: time.Hour}})
	post := "POST /api/v1/messages/agent HTTP/1.1\r\nHost: " + strings.TrimPrefix(srv.URL, "http://") +
		"\r\nContent-Type: application/json\r\n"
	for _, c := range []struct {
		what, head string
		drip       bool
	}{
		{"no token, a body announced, none sent", post + "Content-Length: 100000\r\n\r\n", false},
		{"no token, a body trickled", post + "Content-Length: 100000\r\n\r\n", true},
		{"a bad token, a body trickled", post + "Authorization: Bearer not.a.token\r\nContent-Length: 100000\r\n\r\n", true},
		{"no token, a megabyte announced", post + "Content-Length: 1048576\r\n\r\n", false},
		{"no token, a chunked body trickled", post + "Transfer-Encoding: chunked\r\n\r\n10000\r\n", true},
	} {
		resp, closed := rawRequest(t, srv.URL, c.head, c.drip)
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close || !closed {
			t.Errorf("%s: %d, Connection: close %v, closed %v; want 401 and closed", c.what, resp.StatusCode, resp.Close, closed)
		}
	}
	// A client with an old key that sent its whole body gets its 401 and
	// a connection closed in good order, not reset under it.
	body := `{"content":"` + strings.Repeat("x", 99985) + `"}`
	resp, end := rawRequestEnd(t, srv.URL, post+"Authorization: Bearer not.a.token\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body, false)
	if resp.StatusCode != http.StatusUnauthorized || end != io.EOF {
		t.Errorf("a whole body with a bad token: %d, then %v; want 401, then the end", resp.StatusCode, end)
	}
}

// Headers that trickle are cut off too: the tests' server is serve's, with
// its header timeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{HeaderTimeout: 300 * time.Millisecond}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(conn, "POST /api/v1/messages/agent HTTP/1.1\r\nHost: x\r\nContent-Ty"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still holds a connection whose headers stopped coming")
	}
	if len(b) != 0 && !strings.HasPrefix(string(b), "HTTP/1.1 4") {
		t.Fatalf("answer to headers that stopped coming: %q", b)
	}
}

// One client holds at most MaxConnsPerClient connections: more are closed
// on arrival, its others keep working, and a closed one frees its place.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{MaxConnsPerClient: 2}})
	addr := strings.TrimPrefix(srv.URL, "http://")
	get := "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	// A connection kept open; ask sends it a request, open makes one and
	// asks (the error: what stopped it getting an answer).
	type kept struct {
		conn net.Conn
		br   *bufio.Reader
	}
	ask := func(k kept) error {
		_ = k.conn.SetDeadline(time.Now().Add(time.Minute))
		if _, err := io.WriteString(k.conn, get); err != nil {
			return err
		}
		resp, err := http.ReadResponse(k.br, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz: %d", resp.StatusCode)
		}
		return nil
	}
	open := func() (kept, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		k := kept{c, bufio.NewReader(c)}
		t.Cleanup(func() { c.Close() })
		return k, ask(k)
	}
	a, err := open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(); err == nil {
		t.Fatal("a third connection from the same client was served")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a third connection was held open, not closed")
	}
	if err := ask(b); err != nil {
		t.Fatalf("the client's second connection stopped working: %v", err)
	}
	// Closing one frees its place (once the server has seen it close).
	a.conn.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := open(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("a closed connection's place was not freed: %v", err)
		}
	}
}

// The body's bound ends with the body: an MCP call that has sent its
// request and waits for the person's answer is not cut off by it.
func TestWaitAfterTheBodyIsNotCutOff(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{BodyTimeout: 300 * time.Millisecond},
		MCP: &mcpapi.Config{Wait: 55 * time.Second, Stateless: true}})
	u := srv.User()
	tok := srv.Token(u, auth.ScopeAgent)
	hc := testserver.HeaderClient(http.Header{"Authorization": {"Bearer " + tok}})
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "v0"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp/", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	step, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "log_step",
		Arguments: map[string]any{"step_description": "start"}})
	if err != nil || step.IsError {
		t.Fatalf("log_step: %v %+v", err, step)
	}
	inst := step.StructuredContent.(map[string]any)["agent_instance_id"].(string)
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask_question",
			Arguments: map[string]any{"agent_instance_id": inst, "question_text": "Deploy?"}})
		done <- result{res, err}
	}()
	// The question is stored, so the call's body has been read.
	id := uuid.MustParse(inst)
	for deadline := time.Now().Add(30 * time.Second); ; {
		got, err := srv.Store.GetInstance(context.Background(), u, id)
		if err == nil && got.Status == db.AgentStatusAWAITINGINPUT {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the question was never stored: %v %v", got.Status, err)
		}
		<-time.After(5 * time.Millisecond) // polling the condition
	}
	// A body sent after it has had its bound and been cut off: so has the
	// call's, were it still bounded.
	host := strings.TrimPrefix(srv.URL, "http://")
	resp, _ := rawRequest(t, srv.URL, "POST /api/v1/messages/agent HTTP/1.1\r\nHost: "+host+"\r\nAuthorization: Bearer "+tok+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", false)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("the stalled body: %d, want 408", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/messages/user",
		strings.NewReader(`{"agent_instance_id":"`+inst+`","content":"Yes","mark_as_read":false}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	ans, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ans.Body.Close()
	if ans.StatusCode != http.StatusOK {
		t.Fatalf("the answer: %d", ans.StatusCode)
	}
	select {
	case r := <-done:
		if r.err != nil || r.res.IsError {
			t.Fatalf("the waiting call: %v %+v", r.err, r.res)
		}
		if got := r.res.StructuredContent.(map[string]any); !strings.Contains(fmt.Sprint(got), "Yes") {
			t.Fatalf("the waiting call answered %v", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiting call never answered")
	}
}
