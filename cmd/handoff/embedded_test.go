package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/embedpg"
	"github.com/handoffhq/handoff/internal/testserver"
)

// startServe runs `handoff serve` in-process with the embedded default and
// returns its address, its stdout and a stop func that returns its exit.
func startServe(t *testing.T, dataDir string, extra map[string]string) (addr string, stdout *bytes.Buffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logR, logW := io.Pipe()
	stdout = &bytes.Buffer{}
	done := make(chan int, 1)
	kv := map[string]string{"PORT": "0"}
	for k, v := range extra {
		kv[k] = v
	}
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dataDir}, envOf(kv), stdout, logW)
		logW.Close()
	}()
	sc := bufio.NewScanner(logR)
	var seen []string
	for addr == "" && sc.Scan() {
		seen = append(seen, sc.Text())
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "handoff listening" {
			host, port, _ := net.SplitHostPort(line.Addr)
			if _, ok := extra["HANDOFF_LISTEN"]; !ok && host != "127.0.0.1" {
				t.Errorf("the embedded default listens on %s, want loopback only", line.Addr)
			}
			addr = "127.0.0.1:" + port
		}
	}
	go func() { _, _ = io.Copy(io.Discard, logR) }()
	if addr == "" {
		cancel()
		t.Fatalf("serve exited %d without listening:\n%s", <-done, strings.Join(seen, "\n"))
	}
	return addr, stdout, func() int { cancel(); return <-done }
}

var agentKeyLine = regexp.MustCompile(`Agent key:  (\S+)`)

// With no DATABASE_URL, serve runs on its own PostgreSQL: it starts, makes
// and prints keys once, keeps its data across a restart, and leaves no
// PostgreSQL running when it stops.
func TestEmbeddedDefault(t *testing.T) {
	if _, err := embedpg.FindBinaries(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	testEmbedded(t, nil, func(dataDir string) bool {
		_, err := os.Stat(filepath.Join(dataDir, "postgres", "pgdata", "postmaster.pid"))
		return !os.IsNotExist(err)
	})
}

// Without binaries (forced here), the embedded default runs PostgreSQL in
// Docker, with its data in the data directory.
func TestEmbeddedDefaultInDocker(t *testing.T) {
	if !embedpg.DockerAvailable() {
		if os.Getenv("CI") != "" {
			t.Fatal("no Docker engine")
		}
		t.Skip("no Docker engine")
	}
	image := os.Getenv("TEST_POSTGRES_IMAGE")
	if image == "" {
		image = dbtest.DefaultImage
	}
	var container string
	testEmbedded(t, map[string]string{"HANDOFF_EMBEDDED_POSTGRES": "docker", "HANDOFF_POSTGRES_IMAGE": image}, func(string) bool {
		if container == "" {
			out, _ := exec.Command("docker", "ps", "-a", "--filter", "name=handoff-pg-", "--format", "{{.Names}}").Output()
			return strings.TrimSpace(string(out)) != ""
		}
		return exec.Command("docker", "inspect", container).Run() == nil
	})
}

// testEmbedded starts serve twice on one data directory; running tells
// whether PostgreSQL is still up.
func testEmbedded(t *testing.T, extra map[string]string, running func(dataDir string) bool) {
	dir, err := os.MkdirTemp("", "handoff-embedded-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755) // as root, the postgres user must reach it
	dataDir := filepath.Join(dir, "state")

	verify := func(addr, key string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/auth/verify", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	addr, out, stop := startServe(t, dataDir, extra)
	m := agentKeyLine.FindStringSubmatch(out.String())
	if m == nil {
		stop()
		t.Fatalf("first start printed no agent key:\n%s", out)
	}
	key := m[1]
	if code := verify(addr, key); code != 200 {
		stop()
		t.Fatalf("printed key: %d", code)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"url": "http://localhost:`)) || !bytes.Contains(out.Bytes(), []byte("/#token=")) {
		t.Errorf("first start printed no MCP config or sign-in link:\n%s", out)
	}
	mcpConfigWorks(t, out.String(), addr)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	if running(dataDir) {
		t.Fatal("PostgreSQL still running after serve stopped")
	}

	addr, out, stop = startServe(t, dataDir, extra)
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("second serve exited %d", code)
		}
		if running(dataDir) {
			t.Error("PostgreSQL still running after the second stop")
		}
	}()
	if out.Len() != 0 {
		t.Errorf("second start printed again:\n%s", out)
	}
	if code := verify(addr, key); code != 200 {
		t.Fatalf("the first start's key after a restart: %d", code)
	}
}

// mcpConfigWorks pastes the printed MCP config into the go-sdk client (as
// an MCP client would read it) and lists the tools.
func mcpConfigWorks(t *testing.T, printed, addr string) {
	t.Helper()
	start := strings.Index(printed, `{"mcpServers"`)
	end := strings.LastIndex(printed, "}}}}")
	if start < 0 || end < start {
		t.Fatalf("no MCP config printed:\n%s", printed)
	}
	var cfg struct {
		MCPServers map[string]struct {
			Type    string            `json:"type"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal([]byte(printed[start:end+4]), &cfg); err != nil {
		t.Fatalf("printed MCP config is not JSON: %v", err)
	}
	srv, ok := cfg.MCPServers["handoff"]
	if !ok || srv.Type != "http" {
		t.Fatalf("MCP config %+v", cfg)
	}
	if srv.Headers["X-Client-Type"] == "" {
		t.Errorf("the printed MCP config does not name the client type: %+v", srv.Headers)
	}
	_, port, _ := net.SplitHostPort(addr)
	url := strings.Replace(srv.URL, "localhost:"+port, addr, 1)
	h := http.Header{}
	for k, v := range srv.Headers {
		h.Set(k, v)
	}
	hc := testserver.HeaderClient(h)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "pasted", Version: "v0"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("the printed MCP config does not connect: %v", err)
	}
	defer cs.Close()
	n := 0
	for _, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("%d tools through the printed config", n)
	}
}
