package httpapi_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
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
