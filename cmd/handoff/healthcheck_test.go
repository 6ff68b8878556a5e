package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// healthcheck asks where serve listens by the same settings: here
// HANDOFF_LISTEN on every interface, asked on loopback.
func TestHealthcheckFollowsTheListenAddress(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	env := map[string]string{"HANDOFF_LISTEN": ":" + port, "DATABASE_URL": "postgres://u:p@127.0.0.1:1/db"}
	if code, out, stderr := cli(t, env, "healthcheck"); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("ready server: %d %q %s", code, out, stderr)
	}
	ready.Store(false)
	if code, _, _ := cli(t, env, "healthcheck"); code == 0 {
		t.Fatal("a server that is not ready passed")
	}
}
