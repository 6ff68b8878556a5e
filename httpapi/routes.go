package httpapi

import (
	"github.com/handoffhq/handoff/auth"
)

// routes is the route table: every REST route and the store operation it
// calls is one hop from here.
func (s *Server) routes() {
	// Omnara's agent API (contract §2); every route takes an agent key.
	s.mux.HandleFunc("POST /api/v1/messages/agent", s.authed(auth.ScopeAgent, s.sendAgentMessage))
	s.mux.HandleFunc("POST /api/v1/messages/user", s.authed(auth.ScopeAgent, s.createUserMessage))
	s.mux.HandleFunc("GET /api/v1/messages/pending", s.authed(auth.ScopeAgent, s.pendingMessages))
	s.mux.HandleFunc("PATCH /api/v1/messages/{message_id}/request-input", s.authed(auth.ScopeAgent, s.requestInput))
	s.mux.HandleFunc("POST /api/v1/sessions/end", s.authed(auth.ScopeAgent, s.endSession))
	s.mux.HandleFunc("POST /api/v1/agent-instances", s.authed(auth.ScopeAgent, s.registerInstance))
	s.mux.HandleFunc("POST /api/v1/agents/instances/{agent_instance_id}/heartbeat", s.authed(auth.ScopeAgent, s.heartbeat))
	s.mux.HandleFunc("GET /api/v1/auth/verify", s.authed(auth.ScopeAgent, s.verifyAuth))

	// Operations.
	s.mux.HandleFunc("GET /{$}", s.root)
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", metricsHandler())
}
