package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/handoffhq/handoff/db/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func envOf(kv map[string]string) env { return func(k string) string { return kv[k] } }

// cli runs the command in-process and returns its exit code and output.
func cli(t *testing.T, kv map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, envOf(kv), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadConfigIsOneLineAndExit2(t *testing.T) {
	keys := t.TempDir()
	if code, _, stderr := cli(t, nil, "keys", "generate", "--out", keys); code != 0 {
		t.Fatal(stderr)
	}
	pub := filepath.Join(keys, "jwt_public.pem")
	good := map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "JWT_PUBLIC_KEY": pub}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad DATABASE_URL", with("DATABASE_URL", "postgres://%zz"), []string{"serve"}, "DATABASE_URL is not a valid"},
		{"bad PORT", with("PORT", "http"), []string{"serve"}, `PORT must be a port number (0-65535), not "http"`},
		{"bad MCP_SERVER_PORT", with("MCP_SERVER_PORT", "99999"), []string{"serve"}, "MCP_SERVER_PORT must be a port number"},
		{"no key", with("JWT_PUBLIC_KEY", ""), []string{"serve"}, "JWT_PUBLIC_KEY is not set"},
		{"unreadable key", with("JWT_PUBLIC_KEY", "/nonexistent/key.pem"), []string{"serve"}, "JWT_PUBLIC_KEY: not PEM text"},
		{"bad shutdown timeout", with("HANDOFF_SHUTDOWN_TIMEOUT", "soon"), []string{"serve"}, "HANDOFF_SHUTDOWN_TIMEOUT must be"},
		{"bad log level", with("HANDOFF_LOG_LEVEL", "loud"), []string{"serve"}, "HANDOFF_LOG_LEVEL must be debug or info or warn or error"},
		{"bad untracked flag", with("HANDOFF_ALLOW_UNTRACKED_TOKENS", "maybe"), []string{"serve"}, "HANDOFF_ALLOW_UNTRACKED_TOKENS must be"},
		{"serve with arguments", good, []string{"serve", "now"}, "serve takes only --mcp-stateless"},
		{"bad MCP wait", with("HANDOFF_MCP_WAIT", "forever"), []string{"serve"}, "HANDOFF_MCP_WAIT must be"},
		{"bad retention", with("HANDOFF_RETAIN_EVENTS", "a week"), []string{"serve"}, "HANDOFF_RETAIN_EVENTS must be"},
		{"bad connection cap", with("HANDOFF_MAX_CONNS_PER_CLIENT", "-1"), []string{"serve"}, "HANDOFF_MAX_CONNS_PER_CLIENT must be a whole number"},
		{"bad MCP stateless", with("HANDOFF_MCP_STATELESS", "yes"), []string{"serve"}, "HANDOFF_MCP_STATELESS must be"},
		{"migrate sideways", good, []string{"migrate", "sideways"}, "migrate takes one of up, down, status"},
		{"keys without --out", nil, []string{"keys", "generate"}, "keys generate needs --out DIR"},
		{"keys bad alg", nil, []string{"keys", "generate", "--out", t.TempDir(), "--alg", "hs256"}, "--alg must be eddsa or rs256"},
		{"user without email", good, []string{"user", "create"}, "user create needs --email E"},
		{"token bad scope", good, []string{"token", "issue", "--user", uuid.NewString(), "--scope", "root"}, "--scope must be agent, user or admin"},
		{"token expires in hours", good, []string{"token", "issue", "--user", uuid.NewString(), "--scope", "agent", "--expires", "36h"}, "--expires must be a whole number of days"},
		{"token without private key", good, []string{"token", "issue", "--user", uuid.NewString(), "--scope", "agent"}, "JWT_PRIVATE_KEY is not set"},
		{"token bad user", good, []string{"token", "issue", "--user", "me", "--scope", "agent"}, "token issue needs --user ID"},
		{"revoke bad id", good, []string{"token", "revoke", "k"}, "KEY_ID must be a key id"},
		{"unknown flag", good, []string{"token", "list", "--usr", "x"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, c.env, c.args...)
			if code != exitConfig {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if stdout != "" || !strings.HasPrefix(stderr, "handoff: ") || !strings.Contains(stderr, c.want) {
				t.Fatalf("stdout %q, stderr %q; want %q", stdout, stderr, c.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("more than one line: %q", stderr)
			}
		})
	}
	if code, _, stderr := cli(t, nil, "frobnicate"); code != exitConfig || !strings.Contains(stderr, "handoff help") {
		t.Fatalf("unknown command: %d %q", code, stderr)
	}
}

// A bad setting stops serve before it has any effect: without
// DATABASE_URL, the data directory (where the embedded PostgreSQL and the
// keys would live) is not even made.
func TestBadSettingStartsNothing(t *testing.T) {
	for _, kv := range []map[string]string{
		{"HANDOFF_MCP_WAIT": "abc"},
		{"HANDOFF_EMBEDDED_POSTGRES": "podman"},
		{"HANDOFF_RETAIN_WEBHOOK_DELIVERIES": "-1h"},
		{"HANDOFF_SHUTDOWN_TIMEOUT": "-1s"},
		{"HANDOFF_PPROF_ADDR": "6060"},
		{"HANDOFF_GC_HEAP_FLOOR": "64MB"},
		{"HANDOFF_DIRECT_DATABASE_URL": "postgres://u:p@127.0.0.1:1/db"}, // without DATABASE_URL
		{"MCP_SERVER_PORT": "http"},
		{"JWT_PUBLIC_KEY": "/nonexistent/key.pem"},
	} {
		dataDir := filepath.Join(t.TempDir(), "state")
		kv["HANDOFF_DATA_DIR"] = dataDir
		code, stdout, stderr := cli(t, kv, "serve")
		if code != exitConfig || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", kv, code, stdout, stderr)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("%v: the data dir was made (%v)", kv, err)
		}
	}
	// --data-dir too, and the flag wins over HANDOFF_DATA_DIR.
	dataDir := filepath.Join(t.TempDir(), "flag")
	if code, _, stderr := cli(t, map[string]string{"HANDOFF_MCP_WAIT": "abc", "HANDOFF_DATA_DIR": t.TempDir()},
		"serve", "--data-dir", dataDir); code != exitConfig || !strings.Contains(stderr, "HANDOFF_MCP_WAIT must be") {
		t.Fatalf("exit %d %q", code, stderr)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("the data dir was made (%v)", err)
	}
}

// The heap floor: 64 MiB unless set; sizes in GOMEMLIMIT's units; off at
// 0 and whenever the operator set GOGC.
func TestHeapFloorSetting(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want uint64
	}{
		{nil, 64 << 20},
		{map[string]string{"HANDOFF_GC_HEAP_FLOOR": "0"}, 0},
		{map[string]string{"HANDOFF_GC_HEAP_FLOOR": "256MiB"}, 256 << 20},
		{map[string]string{"HANDOFF_GC_HEAP_FLOOR": "1GiB"}, 1 << 30},
		{map[string]string{"HANDOFF_GC_HEAP_FLOOR": "500000"}, 500000},
		{map[string]string{"GOGC": "200"}, 0},
		{map[string]string{"GOGC": "200", "HANDOFF_GC_HEAP_FLOOR": "256MiB"}, 0},
	} {
		got, err := heapFloor(envOf(c.env))
		if err != nil || got != c.want {
			t.Errorf("%v: floor %d (%v), want %d", c.env, got, err, c.want)
		}
	}
	for _, bad := range []string{"64MB", "-1", "lots", "1e9", "99999999GiB"} {
		if _, err := heapFloor(envOf(map[string]string{"HANDOFF_GC_HEAP_FLOOR": bad})); err == nil {
			t.Errorf("HANDOFF_GC_HEAP_FLOOR=%s accepted", bad)
		}
	}
}

// HANDOFF_DIRECT_DATABASE_URL goes with DATABASE_URL, and must parse.
func TestDirectDatabaseURL(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:6432/db", "JWT_PUBLIC_KEY": "x"}
	for _, c := range []struct{ direct, want string }{
		{"postgres://u:p@127.0.0.1:5432/db?sslmode=bogus", "HANDOFF_DIRECT_DATABASE_URL is not a valid"},
	} {
		env := map[string]string{"HANDOFF_DIRECT_DATABASE_URL": c.direct}
		for k, v := range base {
			env[k] = v
		}
		if _, err := loadServeConfig(nil, envOf(env)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.direct, err)
		}
	}
	if _, err := loadServeConfig(nil, envOf(map[string]string{"HANDOFF_DIRECT_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db"})); err == nil ||
		!strings.Contains(err.Error(), "goes with DATABASE_URL") {
		t.Errorf("without DATABASE_URL: %v", err)
	}
}

func TestListenPort(t *testing.T) {
	for _, c := range []struct {
		port, mcp string
		want      int
	}{{"", "", 8080}, {"", "9000", 9000}, {"7000", "9000", 7000}, {"$PORT", "9000", 9000}} {
		got, err := listenPort(envOf(map[string]string{"PORT": c.port, "MCP_SERVER_PORT": c.mcp}))
		if err != nil || got != c.want {
			t.Errorf("PORT=%q MCP_SERVER_PORT=%q: %d %v, want %d", c.port, c.mcp, got, err, c.want)
		}
	}
}

// The operator's whole path: migrate, make a user, keys and a token, serve,
// use the token, list and revoke it, and stop the server with an
// in-flight request that still completes.
func TestOperatorFlowAndGracefulShutdown(t *testing.T) {
	kv := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	code, out, stderr := cli(t, kv, "migrate", "up")
	if code != 0 || !strings.Contains(out, "no migrations to apply") {
		t.Fatalf("migrate up on a migrated database: %d %q %q", code, out, stderr)
	}
	code, out, _ = cli(t, kv, "migrate", "status")
	if code != 0 || !strings.Contains(out, "00001_init.sql") || !strings.Contains(out, "applied") {
		t.Fatalf("migrate status: %d %q", code, out)
	}
	code, out, stderr = cli(t, kv, "user", "create", "--email", "ada@example.test")
	userID := strings.TrimSpace(out)
	if _, err := uuid.Parse(userID); code != 0 || err != nil {
		t.Fatalf("user create printed %q (%d, %s)", out, code, stderr)
	}
	dir := t.TempDir()
	if code, _, stderr := cli(t, nil, "keys", "generate", "--out", dir, "--alg", "rs256"); code != 0 {
		t.Fatal(stderr)
	}
	kv["JWT_PRIVATE_KEY"] = filepath.Join(dir, "jwt_private.pem")
	kv["JWT_PUBLIC_KEY"] = filepath.Join(dir, "jwt_public.pem")
	code, out, stderr = cli(t, kv, "token", "issue", "--user", userID, "--scope", "agent", "--name", "ci", "--expires", "720h")
	token := strings.TrimSpace(out)
	if code != 0 || strings.Count(token, ".") != 2 || strings.Contains(token, "\n") {
		t.Fatalf("token issue printed %q (%d, %s)", out, code, stderr)
	}
	code, out, _ = cli(t, kv, "token", "list", "--user", userID)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], " ci ") || !strings.Contains(lines[1], "agent") {
		t.Fatalf("token list: %q", out)
	}
	keyID := strings.Fields(lines[1])[0]

	// The VAPID key pair is made as serve starts, before any push route
	// asks for it.
	vapidKeys := func() int {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), kv["DATABASE_URL"])
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM vapid_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := vapidKeys(); n != 0 {
		t.Fatalf("%d VAPID key pairs before the first start", n)
	}

	// Serve on a free port; learn the address from the log.
	kv["PORT"] = "0"
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envOf(kv), io.Discard, logW)
		logW.Close()
	}()
	logs := bufio.NewScanner(logR)
	addr := ""
	for addr == "" && logs.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(logs.Bytes(), &line) == nil && line.Msg == "handoff listening" {
			_, port, _ := net.SplitHostPort(line.Addr)
			addr = "127.0.0.1:" + port
		}
	}
	if addr == "" {
		t.Fatal("serve exited without listening")
	}
	go func() { _, _ = io.Copy(io.Discard, logR) }()
	if n := vapidKeys(); n != 1 {
		t.Fatalf("%d VAPID key pairs once serve listens, want 1", n)
	}

	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/auth/verify", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("verify with the issued token: %d", res.StatusCode)
	}

	// Start a request and hold its body back until its handler is
	// running (the server's "100 Continue" says so), then stop the server:
	// the request still completes before serve returns.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inst := uuid.NewString()
	body := `{"agent_instance_id":"` + inst + `","agent_type":"x","content":"in flight"}`
	fmt.Fprintf(conn, "POST /api/v1/messages/agent HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, token, len(body))
	br := bufio.NewReader(conn)
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("no 100 Continue: %v %v", cont, err)
	}
	stop()
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("in-flight request: %d", resp.StatusCode)
	}
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d after shutdown", code)
	}

	code, out, _ = cli(t, kv, "token", "revoke", keyID)
	if code != 0 || !strings.HasPrefix(out, "revoked "+keyID) {
		t.Fatalf("revoke: %d %q", code, out)
	}
	code, out, _ = cli(t, kv, "token", "list", "--user", userID)
	if f := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1]); code != 0 || f[len(f)-1] == "-" {
		t.Fatalf("list after revoke shows no revocation: %q", out)
	}
	if code, _, stderr := cli(t, kv, "token", "revoke", uuid.NewString()); code != exitFail || !strings.Contains(stderr, "API key not found") {
		t.Fatalf("revoke unknown: %d %q", code, stderr)
	}
}

// handoff version prints the build's version and Go's, as the MCP server
// reports it.
func TestVersion(t *testing.T) {
	code, out, _ := cli(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "handoff "+version()+" ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: %d %q", code, out)
	}
}
