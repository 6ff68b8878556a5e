package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoffhq/handoff/bench"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/internal/testserver"
	"github.com/handoffhq/handoff/mcpapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://192.168.1.2", "http://example.com", "ftp://127.0.0.1"} {
		if err := bench.LoopbackOnly(u); err == nil {
			t.Errorf("%s accepted as a bench target", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:1", "http://[::1]:80"} {
		if err := bench.LoopbackOnly(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	if _, err := bench.Send(context.Background(), bench.Options{URL: "http://example.com", Agents: 1}); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Send to another host: %v", err)
	}
}

// server starts a real server with MCP and returns a small run's options
// against it.
func server(t *testing.T) (*testserver.Server, bench.Options) {
	srv := testserver.New(t, testserver.Options{MCP: &mcpapi.Config{}})
	return srv, bench.Options{URL: srv.URL, DatabaseURL: srv.Pool.Config().ConnString(), Keys: srv.Keys,
		Agents: 2, Sessions: 5, Duration: 200 * time.Millisecond, Questions: 2}
}

// Each mode runs end to end, small, against a real server.
func TestModes(t *testing.T) {
	ctx := context.Background()
	_, o := server(t)
	for _, viaMCP := range []bool{false, true} {
		o.MCP, o.Timeline = viaMCP, !viaMCP
		s, err := bench.Send(ctx, o)
		if err != nil || s["errors"] != int64(0) || s["requests"].(int) < 1 || s["sessions"] != 5 {
			t.Fatalf("send (mcp %v): %v %v", viaMCP, s, err)
		}
		// The timeline (REST only here): the load's one second, no errors.
		perS, timed := s["ok_per_s"].([]int)
		if timed != o.Timeline || timed && (len(perS) != 1 || perS[0] > s["requests"].(int) ||
			s["first_error_s"] != "-" || s["recovery_s"] != "-") {
			t.Fatalf("send (timeline %v): %v", o.Timeline, s)
		}
		o.Timeline = false
		a, err := bench.Answer(ctx, o)
		if err != nil || a["answered"] != 4 || a["unanswered"] != int64(0) {
			t.Fatalf("answer (mcp %v): %v %v", viaMCP, a, err)
		}
	}
	o.MCP, o.Agents = false, 20
	w, err := bench.Waiters(ctx, o)
	if err != nil || w["answered"] != int64(20) || w["failed"] != int64(0) || w["all_waiting_at_once"] != true {
		t.Fatalf("waiters: %v %v", w, err)
	}
}

// The pgbench ceiling runs in a schema of its own, made from the schema
// file beside the script and dropped afterwards, after the server's load
// in the same run. The script here is a stand-in of the team's reference.
func TestCeiling(t *testing.T) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		t.Skip("pgbench is not installed")
	}
	dir := t.TempDir()
	ceiling := filepath.Join(dir, bench.CeilingFile)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(bench.CeilingSchemaFile, "create table sessions(id int primary key, n bigint not null default 0);\n")
	write(bench.CeilingFile, "\\set s random(1, 10)\n"+
		"INSERT INTO sessions(id) VALUES (:s) ON CONFLICT (id) DO UPDATE SET n = sessions.n + 1;\n")

	ctx := context.Background()
	srv, o := server(t)
	o.Ceiling, o.PGBenchClients = ceiling, 2
	o.PGBench = true
	s, err := bench.Send(ctx, o)
	if err != nil || s["pgbench_tps"].(float64) <= 0 || s["ratio"].(float64) <= 0 || s["pgbench_clients"] != 2 {
		t.Fatalf("send --pgbench: %v %v", s, err)
	}
	c, err := bench.Compare(ctx, o)
	if err != nil || c["rest_steps_per_s"].(float64) <= 0 || c["mcp_calls_per_s"].(float64) <= 0 ||
		c["ratio_rest_to_ceiling"].(float64) <= 0 || c["ratio_mcp_to_rest"].(float64) <= 0 ||
		c["rest_errors"] != int64(0) || c["mcp_errors"] != int64(0) {
		t.Fatalf("compare: %v %v", c, err)
	}
	// Nothing of the ceiling is left in the server's database.
	pool := srv.Pool
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'handoff_bench_ceiling_%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d ceiling schemas left (%v)", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'sessions'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the ceiling's table is in the server's schema: %d (%v)", n, err)
	}

	// Without the schema file beside it, the ceiling is refused up front.
	o.Ceiling = filepath.Join(t.TempDir(), bench.CeilingFile)
	if err := os.WriteFile(o.Ceiling, []byte("SELECT 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := o.Check(bench.ModeSend); err == nil || !strings.Contains(err.Error(), bench.CeilingSchemaFile) {
		t.Fatalf("a ceiling without its schema: %v", err)
	}
}
