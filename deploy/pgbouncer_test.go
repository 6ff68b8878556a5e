package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/handoffhq/handoff/client"
)

// pgbouncer starts Debian's PgBouncer in transaction mode in front of the
// database of dsn and returns the URL of the same database through it.
func pgbouncer(t *testing.T, dsn string) string {
	t.Helper()
	exe := need(t, "pgbouncer", "pgbouncer")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	user := u.User.Username()
	pass, _ := u.User.Password()
	dbname := strings.TrimPrefix(u.Path, "/")
	_, listenPort, _ := net.SplitHostPort(freeAddr(t))
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // PgBouncer drops root: its files must stay readable
		t.Fatal(err)
	}
	users := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(users, []byte(fmt.Sprintf("%q %q\n", user, pass)), 0o644); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(ini, []byte(fmt.Sprintf(`[databases]
%s = host=%s port=%s dbname=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = md5
auth_file = %s
admin_users = %s
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
`, dbname, host, port, dbname, listenPort, users, user)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{ini}
	if os.Geteuid() == 0 {
		args = []string{"-u", "nobody", ini} // it refuses to run as root
	}
	cmd := exec.Command(exe, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("pgbouncer:\n%s", out.String())
		}
	})
	through := *u
	through.Host = net.JoinHostPort("127.0.0.1", listenPort)
	// It serves once a connection through it works.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("pgbouncer exited:\n%s", out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, through.String())
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return through.String()
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer does not serve: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling another process
	}
}

// poolerClients counts the clients PgBouncer serves on dbname (its admin
// console speaks the simple protocol only).
func poolerClients(t *testing.T, through, dbname string) int {
	t.Helper()
	u, _ := url.Parse(through)
	u.Path = "/pgbouncer"
	q := u.Query()
	q.Set("default_query_exec_mode", "simple_protocol")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW CLIENTS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range rows.FieldDescriptions() {
			if f.Name == "database" && fmt.Sprint(vals[i]) == dbname {
				n++
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A replica whose pool goes through PgBouncer in transaction mode, with
// HANDOFF_DIRECT_DATABASE_URL for its LISTEN and its migrations: it
// migrates an empty database, and waiters (a REST long poll, an MCP
// question) are woken by the answers as on a direct connection.
func TestHubPastTransactionPooler(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	through := pgbouncer(t, c.dbURL)
	u, _ := url.Parse(through)
	q := u.Query()
	// PgBouncer 1.18 keeps no named prepared statements in transaction mode:
	// pgx describes each statement once, unnamed, and caches the types.
	q.Set("default_query_exec_mode", "cache_describe")
	u.RawQuery = q.Encode()
	for i, kv := range c.env {
		if strings.HasPrefix(kv, "DATABASE_URL=") {
			c.env[i] = "DATABASE_URL=" + u.String()
		}
	}
	c.env = append(c.env, "HANDOFF_DIRECT_DATABASE_URL="+c.dbURL)
	c.start(1)
	r := c.replicas[0]
	_, agent, person := c.user()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A REST long poll and an MCP question wait at once.
	rest, mcpInst := uuid.NewString(), uuid.NewString()
	ag := client.New(r.url, agent, nil)
	restGot := make(chan string, 1)
	go func() {
		a, _, err := ag.Ask(ctx, client.SendParams{InstanceID: rest, AgentType: "rest", Content: "REST?"})
		if err != nil {
			a = "error: " + err.Error()
		}
		restGot <- a
	}()
	cs, err := mcpConnect(ctx, r.url, agent)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	mcpGot := make(chan string, 1)
	go func() {
		var out struct{ Answer, Status string }
		if err := callTool(ctx, cs, "send_message", map[string]any{"agent_instance_id": mcpInst, "content": "MCP?",
			"requires_user_input": true}, &out); err != nil {
			out.Answer = "error: " + err.Error()
		}
		mcpGot <- out.Answer
	}()
	for c.count(`SELECT count(*) FROM messages WHERE requires_user_input`) < 2 {
		if ctx.Err() != nil {
			t.Fatal("the questions were not asked")
		}
		time.Sleep(20 * time.Millisecond) // polling the database
	}
	// The waiters' watches are in place once each waits on the hub.
	for waitersOn(r) < 2 {
		if ctx.Err() != nil {
			t.Fatal("the waiters do not wait")
		}
		time.Sleep(20 * time.Millisecond) // polling another process
	}
	p := client.New(r.url, person, nil)
	for inst, answer := range map[string]string{rest: "via REST", mcpInst: "via MCP"} {
		if _, err := p.Answer(ctx, inst, answer); err != nil {
			t.Fatal(err)
		}
	}
	if got := <-restGot; got != "via REST" {
		t.Fatalf("REST waiter: %q", got)
	}
	if got := <-mcpGot; got != "via MCP" {
		t.Fatalf("MCP waiter: %q", got)
	}
	// The pool's work went through the pooler; the listener went direct.
	if n := poolerClients(t, through, strings.TrimPrefix(u.Path, "/")); n == 0 {
		t.Fatal("the replica's pool is not PgBouncer's client")
	}
	if n := c.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'handoff-listener' AND datname = current_database()`); n != 1 {
		t.Fatalf("%d listener connections straight to PostgreSQL", n)
	}
}
