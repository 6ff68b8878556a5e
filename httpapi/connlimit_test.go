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

// One client may hold at most MaxConnsPerClient connections: the next is
// closed on arrival, unread, while the ones it has keep working; when one
// closes, a new one is accepted again.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{})
	api := httpapi.New(httpapi.Config{Store: srv.Store, MaxConnsPerClient: 2})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: api}
	go func() { _ = hs.Serve(api.Listener(ln)) }()
	t.Cleanup(func() { _ = hs.Close() })
	addr := ln.Addr().String()

	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		t.Cleanup(func() { c.Close() })
		return c
	}
	healthy := func(c net.Conn) bool {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	a, b := dial(), dial()
	if !healthy(a) || !healthy(b) {
		t.Fatal("the first two connections do not work")
	}
	over := dial()
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection from the same client was served")
	} else if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the third connection: %v", err)
	}
	if !healthy(a) {
		t.Fatal("the client's other connections stopped working")
	}
	a.Close()
	deadline := time.Now().Add(time.Minute)
	for !healthy(dial()) {
		if time.Now().After(deadline) {
			t.Fatal("no connection accepted after one closed")
		}
	}
}
