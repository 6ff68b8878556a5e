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
	"github.com/handoffhq/handoff/mcpapi"
)

func TestBenchRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://192.168.1.2", "http://example.com", "ftp://127.0.0.1"} {
		if err := loopbackOnly(u); err == nil {
			t.Errorf("%s accepted as a bench target", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:1", "http://[::1]:80"} {
		if err := loopbackOnly(u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	if code, _, stderr := cli(t, nil, "bench", "send", "--url", "http://10.1.1.1"); code != exitConfig || !strings.Contains(stderr, "loopback") {
		t.Fatalf("non-loopback bench: %d %q", code, stderr)
	}
}

// Each bench mode runs end to end, small, against a real server.
func TestBenchSmoke(t *testing.T) {
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
	kv := map[string]string{"DATABASE_URL": dbURL,
		"JWT_PRIVATE_KEY": filepath.Join(dir, "jwt_private.pem"), "JWT_PUBLIC_KEY": filepath.Join(dir, "jwt_public.pem")}
	keys, err := auth.LoadKeys(kv["JWT_PUBLIC_KEY"], kv["JWT_PRIVATE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	api := httpapi.New(httpapi.Config{Store: store, Verifier: auth.NewVerifier(keys, store, auth.VerifierOptions{}), Log: log})
	for pattern, h := range mcpapi.New(mcpapi.Config{Store: store, Log: log}).Routes() {
		api.Mount(pattern, auth.ScopeAgent, h)
	}
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)

	bench := func(args ...string) map[string]any {
		t.Helper()
		code, out, stderr := cli(t, kv, append(append([]string{"bench"}, args...), "--url", ts.URL, "--json")...)
		if code != 0 {
			t.Fatalf("bench %v: %d %s", args, code, stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("bench %v printed %q", args, out)
		}
		return m
	}
	for _, mcp := range []string{"--mcp=false", "--mcp=true"} {
		s := bench("send", "--agents", "2", "--duration", "300ms", mcp)
		if s["errors"] != float64(0) || s["requests"].(float64) < 1 {
			t.Fatalf("send %s: %v", mcp, s)
		}
		a := bench("answer", "--agents", "2", "--questions", "2", "--think", "0s", mcp)
		if a["answered"] != float64(4) || a["unanswered"] != float64(0) {
			t.Fatalf("answer %s: %v", mcp, a)
		}
	}
	w := bench("waiters", "--agents", "20")
	if w["answered"] != float64(20) || w["failed"] != float64(0) || w["all_waiting_at_once"] != true {
		t.Fatalf("waiters: %v", w)
	}
}
