package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/auth"
	"github.com/handoffhq/handoff/db"
)

// Web Push devices (user scope): the server's VAPID public key (what a
// browser subscribes with), and the person's subscriptions.

// GET /api/v1/push/vapid-public-key
func (s *Server) vapidPublicKey(ctx context.Context, _ uuid.UUID) (string, error) {
	_, public, err := s.store.VAPIDKeys(ctx)
	return public, err
}

func renderVAPIDKey(public string) (int, any) {
	return http.StatusOK, map[string]string{"public_key": public}
}

// POST /api/v1/push/subscriptions {endpoint, keys: {p256dh, auth}, name}:
// a browser's PushSubscription (its toJSON), as the page's script sends it.
func parsePushSubscription(r *http.Request, w http.ResponseWriter, p auth.Principal) (db.NewPushSubscription, error) {
	var req struct {
		Endpoint *string `json:"endpoint"`
		Keys     *struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
		Name *string `json:"name"`
		// expirationTime is part of a browser's PushSubscription JSON.
		ExpirationTime *float64 `json:"expirationTime"`
	}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return db.NewPushSubscription{}, err
	}
	endpoint, err := required(req.Endpoint, "endpoint")
	if err != nil {
		return db.NewPushSubscription{}, err
	}
	if req.Keys == nil {
		return db.NewPushSubscription{}, badRequest(http.StatusUnprocessableEntity, "keys is required")
	}
	return db.NewPushSubscription{UserID: p.UserID, Endpoint: endpoint, P256dh: req.Keys.P256dh, Auth: req.Keys.Auth,
		Name: valueOr(req.Name, "")}, nil
}

func (s *Server) addPushSubscription(ctx context.Context, p db.NewPushSubscription) (db.PushSubscription, error) {
	sub, err := s.store.AddPushSubscription(ctx, p)
	return sub, unprocessable(err)
}

// pushSubscriptionJSON is a device as the API shows it (not its keys).
type pushSubscriptionJSON struct {
	ID        string    `json:"id"`
	Endpoint  string    `json:"endpoint"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func pushSubscriptionResponse(p db.PushSubscription) pushSubscriptionJSON {
	return pushSubscriptionJSON{ID: p.ID.String(), Endpoint: p.Endpoint, Name: p.Name, CreatedAt: p.CreatedAt}
}

func renderCreatedPushSubscription(p db.PushSubscription) (int, any) {
	return http.StatusCreated, pushSubscriptionResponse(p)
}

func renderPushSubscriptions(ps []db.PushSubscription) (int, any) {
	out := make([]pushSubscriptionJSON, len(ps))
	for i, p := range ps {
		out[i] = pushSubscriptionResponse(p)
	}
	return http.StatusOK, out
}

// DELETE /api/v1/push/subscriptions/{subscription_id}
func (s *Server) deletePushSubscription(ctx context.Context, ref instanceRef) (struct{}, error) {
	return struct{}{}, s.store.DeletePushSubscription(ctx, ref.userID, ref.id)
}

func renderDeletedPushSubscription(struct{}) (int, any) {
	return http.StatusOK, map[string]string{"message": "Push subscription deleted"}
}

// POST /devices (the page, with its session cookie and form token): the
// browser's push subscription of this device, from "Notify this device".
func (s *Server) addDevice(w http.ResponseWriter, r *http.Request, ws webSession) {
	sub, err := s.store.AddPushSubscription(r.Context(), db.NewPushSubscription{UserID: ws.p.UserID,
		Endpoint: r.PostFormValue("endpoint"), P256dh: r.PostFormValue("p256dh"), Auth: r.PostFormValue("auth"),
		Name: r.PostFormValue("name")})
	if err != nil {
		s.fail(w, r, unprocessable(err))
		return
	}
	writeJSON(w, http.StatusCreated, pushSubscriptionResponse(sub))
}
