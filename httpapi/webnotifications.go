package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
)

// The Notifications page: the person's push devices and webhooks, each
// testable (a sample sent now) and removable, and a form for a webhook.

func (s *Server) notificationsPage(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.renderNotifications(w, r, ws, http.StatusOK, pageData{})
}

// renderNotifications renders the page with what d says (a notice, an
// error, a new secret, the URL being typed).
func (s *Server) renderNotifications(w http.ResponseWriter, r *http.Request, ws webSession, status int, d pageData) {
	devices, err := s.store.ListPushSubscriptions(r.Context(), ws.p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hooks, err := s.store.ListWebhooks(r.Context(), ws.p.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d.Title, d.SignedIn, d.CSRF, d.UserID = "Notifications", true, ws.csrf, ws.p.UserID.String()
	d.Devices, d.Webhooks, d.EventTypes = devices, hooks, db.WebhookEventTypes
	s.render(w, r, status, "notifications", d)
}

func (s *Server) addWebhookForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	_ = r.ParseForm()
	h, err := s.store.CreateWebhook(r.Context(), db.NewWebhook{UserID: ws.p.UserID, URL: r.PostFormValue("url"),
		EventTypes: r.PostForm["event_types"], Format: r.PostFormValue("format")})
	if db.ErrorCode(err) == db.EInvalid {
		s.renderNotifications(w, r, ws, http.StatusUnprocessableEntity, pageData{Error: db.ErrorMessage(err), Draft: r.PostFormValue("url")})
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.renderNotifications(w, r, ws, http.StatusCreated, pageData{NewToken: h.Secret})
}

// itemForm runs op on the item the path names and shows the page with
// notice, or with what went wrong.
func (s *Server) itemForm(op func(r *http.Request, user, id uuid.UUID) error, notice string) func(http.ResponseWriter, *http.Request, webSession) {
	return func(w http.ResponseWriter, r *http.Request, ws webSession) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			s.renderNotifications(w, r, ws, http.StatusNotFound, pageData{Error: "No such item."})
			return
		}
		err = op(r, ws.p.UserID, id)
		switch db.ErrorCode(err) {
		case db.ENotFound:
			s.renderNotifications(w, r, ws, http.StatusNotFound, pageData{Error: db.ErrorMessage(err)})
		case db.EUnavailable:
			s.renderNotifications(w, r, ws, http.StatusServiceUnavailable, pageData{Error: db.ErrorMessage(err)})
		default:
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.renderNotifications(w, r, ws, http.StatusOK, pageData{Notice: notice})
		}
	}
}

func (s *Server) testWebhookForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.itemForm(func(r *http.Request, user, id uuid.UUID) error { return s.store.TestWebhook(r.Context(), user, id) },
		"A test event is on its way; its delivery shows in the webhook's deliveries.")(w, r, ws)
}

func (s *Server) removeWebhookForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.itemForm(func(r *http.Request, user, id uuid.UUID) error { return s.store.DeleteWebhook(r.Context(), user, id) },
		"Webhook removed.")(w, r, ws)
}

func (s *Server) testDeviceForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.itemForm(func(r *http.Request, user, id uuid.UUID) error { return s.store.TestPush(r.Context(), user, id) },
		"A test notification is on its way to the device.")(w, r, ws)
}

func (s *Server) removeDeviceForm(w http.ResponseWriter, r *http.Request, ws webSession) {
	s.itemForm(func(r *http.Request, user, id uuid.UUID) error {
		return s.store.DeletePushSubscription(r.Context(), user, id)
	}, "Device removed.")(w, r, ws)
}
