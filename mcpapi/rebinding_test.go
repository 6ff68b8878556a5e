package mcpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/handoffhq/handoff/httpapi"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

// DNS rebinding: a page on another site whose name now resolves to this
// server may not use /mcp/. A request must be addressed to the public
// URL's host or to loopback, and a browser's Origin must be the public
// URL's or loopback's.
func TestMCPRefusesForeignHostsAndOrigins(t *testing.T) {
	t.Parallel()
	srv := testserver.New(t, testserver.Options{HTTP: httpapi.Config{PublicURL: "https://handoff.example.com"},
		MCP: &mcpapi.Config{}})
	tok := srv.Token(srv.User(), "agent")
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	for _, c := range []struct {
		host, origin string
		refused      bool
	}{
		{"127.0.0.1:" + port, "", false},
		{"localhost:" + port, "http://localhost:" + port, false},
		{"handoff.example.com", "https://handoff.example.com", false},
		{"HANDOFF.example.com:443", "", false},
		{"handoff.example.com.attacker.example", "", true},
		{"127.0.0.1.attacker.example:" + port, "", true},
		{"127.0.0.1:" + port, "null", true},
		{"attacker.example:" + port, "", true},
		{"127.0.0.1:" + port, "http://attacker.example", true},
		{"handoff.example.com", "https://attacker.example", true},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/mcp/", strings.NewReader(initialize))
		req.Host = c.host
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		refused := resp.StatusCode == http.StatusForbidden
		if refused != c.refused || (c.refused && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json")) {
			t.Errorf("Host %s, Origin %q: %d, refused want %v", c.host, c.origin, resp.StatusCode, c.refused)
		}
	}
}
