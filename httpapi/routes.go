package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/handoffhq/handoff/auth"
)

//go:embed openapi.json
var openAPI []byte

// serveOpenAPI serves the OpenAPI 3.1 document of the REST API.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// handle registers a route and remembers its pattern (Patterns).
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	s.mux.HandleFunc(pattern, h)
}

// Patterns lists the method patterns of the API, the page and operations
// (not the MCP mounts): what the OpenAPI document must describe.
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

// routes is the route table: each API route names its request parser, the
// store operation it runs, and its renderer.
func (s *Server) routes() {
	agent := auth.ScopeAgent // every Omnara route takes an agent key, as Omnara's do

	s.handle("POST /api/v1/messages/agent",
		endpoint(s, agent, parseSendAgentMessage, s.store.SendAgentMessage, renderSendAgentMessage))
	s.handle("POST /api/v1/messages/user",
		endpoint(s, agent, parseCreateUserMessage, s.store.CreateUserMessage, renderCreateUserMessage))
	s.handle("GET /api/v1/messages/pending",
		endpoint(s, agent, parsePending, s.pendingMessages, renderPending))
	s.handle("PATCH /api/v1/messages/{message_id}/request-input",
		endpoint(s, agent, pathRef("message_id"), s.requestInput, renderRequestInput))
	s.handle("POST /api/v1/sessions/end",
		endpoint(s, agent, bodyRef, s.endSession, renderEndSession))
	s.handle("POST /api/v1/agent-instances",
		endpoint(s, agent, parseRegisterInstance, s.store.RegisterInstance, renderRegisterInstance))
	s.handle("POST /api/v1/agents/instances/{agent_instance_id}/heartbeat",
		endpoint(s, agent, pathRef("agent_instance_id"), s.heartbeat, renderHeartbeat))
	s.handle("GET /api/v1/questions/{question_id}/answer",
		endpoint(s, agent, parseAnswerQuery, s.questionAnswer, renderAnswer))
	// Agents' hooks: a permission request waits for the person, so the
	// key is re-checked while it does.
	s.handle("POST /api/v1/hooks/claude-code", s.authedLong(agent, run(s, parseHook, s.hook, renderHook)))
	s.handle("GET /api/v1/auth/verify",
		endpoint(s, agent, principalUser, s.store.GetUser, renderVerify))

	// The person's side (handoff's own routes).
	user := auth.ScopeUser
	s.handle("GET /api/v1/agent-instances",
		endpoint(s, user, parseListInstances, s.listInstances, renderInstancePage))
	s.handle("GET /api/v1/agent-instances/{agent_instance_id}",
		endpoint(s, agent, pathRef("agent_instance_id"), s.getInstance, renderInstance))
	s.handle("GET /api/v1/agent-instances/{agent_instance_id}/messages",
		endpoint(s, user, parseListMessages, s.listMessages, renderMessagePage))
	s.handle("POST /api/v1/agent-instances/{agent_instance_id}/messages",
		endpoint(s, user, parsePersonMessage, s.store.CreateUserMessage, renderPersonMessage))
	s.handle("GET /api/v1/me", endpoint(s, agent, principalItself, s.me, renderMe))
	s.handle("GET /api/v1/events", s.authedLong(user, s.events))
	s.handle("POST /api/v1/webhooks", endpoint(s, user, parseCreateWebhook, s.createWebhook, renderCreatedWebhook))
	s.handle("GET /api/v1/webhooks", endpoint(s, user, principalUser, s.store.ListWebhooks, renderWebhooks))
	s.handle("DELETE /api/v1/webhooks/{webhook_id}", endpoint(s, user, pathRef("webhook_id"), s.deleteWebhook, renderDeleted))
	s.handle("GET /api/v1/webhooks/{webhook_id}/deliveries",
		endpoint(s, user, pathRef("webhook_id"), s.listDeliveries, renderDeliveries))
	s.handle("GET /api/v1/push/vapid-public-key",
		endpoint(s, user, principalUser, s.vapidPublicKey, renderVAPIDKey))
	s.handle("POST /api/v1/push/subscriptions",
		endpoint(s, user, parsePushSubscription, s.addPushSubscription, renderCreatedPushSubscription))
	s.handle("GET /api/v1/push/subscriptions",
		endpoint(s, user, principalUser, s.store.ListPushSubscriptions, renderPushSubscriptions))
	s.handle("DELETE /api/v1/push/subscriptions/{subscription_id}",
		endpoint(s, user, pathRef("subscription_id"), s.deletePushSubscription, renderDeletedPushSubscription))
	s.handle("POST /api/v1/auth/api-keys", endpoint(s, user, parseCreateKey, s.createKey, renderCreatedKey))
	s.handle("GET /api/v1/auth/api-keys", endpoint(s, user, principalUser, s.listKeys, renderKeys))
	s.handle("DELETE /api/v1/auth/api-keys/{key_id}",
		endpoint(s, user, pathRef("key_id"), s.revokeKey, renderRevoked))

	// The web page.
	s.webRoutes()

	// Operations. GET / is the page for browsers, Omnara's JSON otherwise.
	s.handle("GET /{$}", s.root)
	s.handle("GET /health", s.health)
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", metricsHandler().ServeHTTP)
	s.handle("GET /openapi.json", serveOpenAPI)
}
