package httpapi

import (
	"github.com/handoffhq/handoff/auth"
)

// routes is the route table: each API route names its request parser, the
// store operation it runs, and its renderer.
func (s *Server) routes() {
	agent := auth.ScopeAgent // every Omnara route takes an agent key, as Omnara's do

	s.mux.HandleFunc("POST /api/v1/messages/agent",
		endpoint(s, agent, parseSendAgentMessage, s.store.SendAgentMessage, renderSendAgentMessage))
	s.mux.HandleFunc("POST /api/v1/messages/user",
		endpoint(s, agent, parseCreateUserMessage, s.store.CreateUserMessage, renderCreateUserMessage))
	s.mux.HandleFunc("GET /api/v1/messages/pending",
		endpoint(s, agent, parsePending, s.pendingMessages, renderPending))
	s.mux.HandleFunc("PATCH /api/v1/messages/{message_id}/request-input",
		endpoint(s, agent, pathRef("message_id"), s.requestInput, renderRequestInput))
	s.mux.HandleFunc("POST /api/v1/sessions/end",
		endpoint(s, agent, bodyRef, s.endSession, renderEndSession))
	s.mux.HandleFunc("POST /api/v1/agent-instances",
		endpoint(s, agent, parseRegisterInstance, s.store.RegisterInstance, renderRegisterInstance))
	s.mux.HandleFunc("POST /api/v1/agents/instances/{agent_instance_id}/heartbeat",
		endpoint(s, agent, pathRef("agent_instance_id"), s.heartbeat, renderHeartbeat))
	s.mux.HandleFunc("GET /api/v1/questions/{question_id}/answer",
		endpoint(s, agent, parseAnswerQuery, s.questionAnswer, renderAnswer))
	s.mux.HandleFunc("GET /api/v1/auth/verify",
		endpoint(s, agent, principalUser, s.store.GetUser, renderVerify))

	// The person's side (handoff's own routes).
	user := auth.ScopeUser
	s.mux.HandleFunc("GET /api/v1/agent-instances",
		endpoint(s, user, parseListInstances, s.listInstances, renderInstancePage))
	s.mux.HandleFunc("GET /api/v1/agent-instances/{agent_instance_id}",
		endpoint(s, agent, pathRef("agent_instance_id"), s.getInstance, renderInstance))
	s.mux.HandleFunc("GET /api/v1/agent-instances/{agent_instance_id}/messages",
		endpoint(s, user, parseListMessages, s.listMessages, renderMessagePage))
	s.mux.HandleFunc("POST /api/v1/agent-instances/{agent_instance_id}/messages",
		endpoint(s, user, parsePersonMessage, s.store.CreateUserMessage, renderPersonMessage))
	s.mux.HandleFunc("GET /api/v1/me", endpoint(s, agent, principalItself, s.me, renderMe))
	s.mux.HandleFunc("GET /api/v1/events", s.authed(user, s.events))
	s.mux.HandleFunc("POST /api/v1/auth/api-keys", endpoint(s, user, parseCreateKey, s.createKey, renderCreatedKey))
	s.mux.HandleFunc("GET /api/v1/auth/api-keys", endpoint(s, user, principalUser, s.listKeys, renderKeys))
	s.mux.HandleFunc("DELETE /api/v1/auth/api-keys/{key_id}",
		endpoint(s, user, pathRef("key_id"), s.revokeKey, renderRevoked))

	// The web page.
	s.webRoutes()

	// Operations. GET / is the page for browsers, Omnara's JSON otherwise.
	s.mux.HandleFunc("GET /{$}", s.root)
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", metricsHandler())
}
