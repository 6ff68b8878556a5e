package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
)

// rawRequest sends head (and any body bytes) on a new connection and
// returns the response to it, then whether the server closed the
// connection after it. It gives up after a minute (a hung server fails).
func rawRequest(t *testing.T, url, head string) (*http.Response, bool) {
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
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, err == io.EOF
}

// A body that trickles is cut off (408, connection closed) after the body
// deadline; a request without a valid token is refused at once, without
// waiting for its body.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{BodyTimeout: 300 * time.Millisecond}})
	u := srv.User()
	tok := srv.Token(u, "agent")
	host := strings.TrimPrefix(srv.URL, "http://")

	// Ten bytes of a thousand, then nothing.
	resp, closed := rawRequest(t, srv.URL, "POST /api/v1/messages/agent HTTP/1.1\r\nHost: "+host+
		"\r\nAuthorization: Bearer "+tok+"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"agent_in")
	if resp.StatusCode != http.StatusRequestTimeout || !closed {
		t.Errorf("trickled body: %d, closed %v; want 408 and closed", resp.StatusCode, closed)
	}

	// No token, a megabyte announced, none sent.
	resp, closed = rawRequest(t, srv.URL, "POST /api/v1/messages/agent HTTP/1.1\r\nHost: "+host+
		"\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n")
	if resp.StatusCode != http.StatusUnauthorized || !closed {
		t.Errorf("unauthenticated body: %d, closed %v; want 401 and closed", resp.StatusCode, closed)
	}

}
