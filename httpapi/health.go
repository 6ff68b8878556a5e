package httpapi

import (
	"context"
	"net/http"
	"time"
)

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	if wantsHTML(r) {
		s.home(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"message": "Agent Dashboard Unified Server",
		"version": "1.0.0",
		"endpoints": map[string]string{
			"mcp": "/mcp/ (MCP tools via Streamable HTTP)",
			"api": "/api/v1/* (REST API endpoints)",
		},
	})
}

// health is Omnara's health answer, kept for its deployments' checks.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "server": "unified"})
}

// healthz: the process is alive (no dependency checked).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: the process can serve: the database answers and its schema is at
// the migrations' head.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		// The cause is for the operator's log, not for whoever asks.
		s.log.WarnContext(r.Context(), "not ready", "err", err)
		w.Header().Set("Retry-After", "5")
		writeProblem(w, http.StatusServiceUnavailable, "not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
