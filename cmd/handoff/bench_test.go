package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
	"github.com/handoffhq/handoff/httpapi"
)

func TestBenchRefusesOtherHosts(t *testing.T) {
	if code, _, stderr := cli(t, nil, "bench", "send", "--url", "http://10.1.1.1"); code != exitConfig || !strings.Contains(stderr, "loopback") {
		t.Fatalf("non-loopback bench: %d %q", code, stderr)
	}
}

// Bad bench flags exit 2 before anything is loaded.
func TestBenchBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "--pgbench", "--ceiling", filepath.Join(t.TempDir(), "none.sql")}, "--ceiling"},
		{[]string{"send", "--agents", "8", "--sessions", "4"}, "--sessions must be at least --agents"},
		{[]string{"answer", "--compare"}, "--compare is for bench send"},
		{[]string{"waiters", "--pgbench"}, "--pgbench is for bench send"},
		{[]string{"send", "--duration", "1h"}, "--duration must be"},
		{[]string{"send", "--compare", "--timeline"}, "--timeline is for bench send"},
		{[]string{"answer", "--timeline"}, "--timeline is for bench send"},
		{[]string{"send"}, "DATABASE_URL is not set"},
	} {
		if code, _, stderr := cli(t, nil, append([]string{"bench"}, c.args...)...); code != exitConfig || !strings.Contains(stderr, c.want) {
			t.Errorf("bench %v: %d %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

// handoff bench send wires its flags and the environment to the bench
// package and prints its result (the modes themselves are tested there).
func TestBenchSendCommand(t *testing.T) {
	dbURL := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := db.NewStore(pool, db.WithHub(dbtest.Hub(t, pool)))
	dir := t.TempDir()
	if code, _, stderr := cli(t, nil, "keys", "generate", "--out", dir); code != 0 {
		t.Fatal(stderr)
	}
	kv := map[string]string{"DATABASE_URL": dbURL, "JWT_PRIVATE_KEY": filepath.Join(dir, "jwt_private.pem")}
	keys, err := auth.LoadKeys("", kv["JWT_PRIVATE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Store: store, Verifier: auth.NewVerifier(keys, store, auth.VerifierOptions{}),
		Log: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)

	code, out, stderr := cli(t, kv, "bench", "send", "--url", ts.URL, "--agents", "2", "--sessions", "4", "--duration", "100ms", "--timeline", "--json")
	if code != 0 {
		t.Fatalf("bench send: %d %s", code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["bench"] != "send" || m["via"] != "rest" ||
		m["sessions"] != float64(4) || m["errors"] != float64(0) || m["requests"].(float64) < 1 ||
		m["recovery_s"] != "-" || m["ok_per_s"] == nil {
		t.Fatalf("bench send printed %q", out)
	}
}
