package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// Webhooks (user scope): where handoff reaches the person. The signing
// secret is shown once, at creation.

func parseCreateWebhook(r *http.Request, w http.ResponseWriter, p auth.Principal) (db.NewWebhook, error) {
	var req struct {
		URL        *string  `json:"url"`
		EventTypes []string `json:"event_types"`
		Format     *string  `json:"format"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return db.NewWebhook{}, err
	}
	u, err := required(req.URL, "url")
	if err != nil {
		return db.NewWebhook{}, err
	}
	return db.NewWebhook{UserID: p.UserID, URL: u, EventTypes: req.EventTypes, Format: valueOr(req.Format, "")}, nil
}

// createWebhook stores the webhook; the store applies the rules, the URL
// policy among them, and a broken one is a 422.
func (s *Server) createWebhook(ctx context.Context, h db.NewWebhook) (db.Webhook, error) {
	created, err := s.store.CreateWebhook(ctx, h)
	return created, unprocessable(err)
}

type webhookJSON struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	Format     string    `json:"format"`
	Secret     string    `json:"secret,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

func webhookResponse(h db.Webhook, withSecret bool) webhookJSON {
	out := webhookJSON{ID: h.ID.String(), URL: h.URL, EventTypes: h.EventTypes, Format: h.Format, CreatedAt: h.CreatedAt}
	if withSecret {
		out.Secret = h.Secret
	}
	return out
}

func renderCreatedWebhook(h db.Webhook) (int, any) {
	return http.StatusCreated, webhookResponse(h, true)
}

func renderWebhooks(hs []db.Webhook) (int, any) {
	out := make([]webhookJSON, len(hs))
	for i, h := range hs {
		out[i] = webhookResponse(h, false)
	}
	return http.StatusOK, out
}

func (s *Server) deleteWebhook(ctx context.Context, ref instanceRef) (struct{}, error) {
	return struct{}{}, s.store.DeleteWebhook(ctx, ref.userID, ref.id)
}

func renderDeleted(struct{}) (int, any) {
	return http.StatusOK, map[string]string{"message": "Webhook deleted"}
}

func (s *Server) listDeliveries(ctx context.Context, ref instanceRef) ([]db.WebhookDelivery, error) {
	return s.store.ListDeliveries(ctx, ref.userID, ref.id, 100)
}

func renderDeliveries(ds []db.WebhookDelivery) (int, any) {
	out := make([]map[string]any, len(ds))
	for i, d := range ds {
		out[i] = map[string]any{"event_id": d.EventID, "event_type": d.EventType, "attempt": d.Attempt,
			"status_code": d.StatusCode, "error": d.Error, "attempted_at": d.AttemptedAt}
	}
	return http.StatusOK, out
}
