package db

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/handoffhq/handoff/internal/netguard"
)

// Webhook event types.
const (
	EventQuestionAsked    = "question.asked"
	EventMessageCreated   = "message.created"
	EventSessionEnded     = "session.ended"
	EventQuestionAnswered = "question.answered"
	// EventPermissionRequested: an agent asks to use a tool (a question of
	// kind permission; it does not also send question.asked).
	EventPermissionRequested = "permission.requested"
)

// WebhookEventTypes are all the event types a webhook can take.
var WebhookEventTypes = []string{EventQuestionAsked, EventMessageCreated, EventSessionEnded, EventQuestionAnswered,
	EventPermissionRequested}

// Webhook formats.
const (
	FormatStandard = "standard"
	FormatSlack    = "slack"
)

// DeliverWebhookArgs is the durable job of one delivery: enqueued in the
// transaction that makes the event, so it exists exactly when that
// committed, and survives restarts.
type DeliverWebhookArgs struct {
	WebhookID uuid.UUID       `json:"webhook_id"`
	UserID    uuid.UUID       `json:"user_id"`
	EventID   string          `json:"event_id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Kind names the job for River.
func (DeliverWebhookArgs) Kind() string { return "webhook_delivery" }

// WebhookData is the data of an event.
type WebhookData struct {
	AgentInstanceID   uuid.UUID  `json:"agent_instance_id"`
	MessageID         *uuid.UUID `json:"message_id,omitempty"`
	SenderType        string     `json:"sender_type,omitempty"`
	Content           string     `json:"content,omitempty"`
	RequiresUserInput bool       `json:"requires_user_input,omitempty"`
	Status            string     `json:"status,omitempty"`
	// Options: a question's choices.
	Options []string `json:"options,omitempty"`
	// Kind and Permission: a permission request's kind and what it asks
	// (tool_name, tool_input, rule).
	Kind       string          `json:"kind,omitempty"`
	Permission json.RawMessage `json:"permission,omitempty"`
	// QuestionID, OptionIndex and Decision: what an answer answered and
	// chose (question.answered).
	QuestionID  *uuid.UUID `json:"question_id,omitempty"`
	OptionIndex *int       `json:"option_index,omitempty"`
	Decision    *Decision  `json:"decision,omitempty"`
	// expiresAt: when a permission request stops waiting (a push's TTL).
	expiresAt *time.Time
}

// WithJobs lets the store enqueue webhook and push deliveries and
// permission requests' expiries (River on the same database, whose
// workers include AddWorkers'). Without it, none is sent or scheduled.
func WithJobs(c *river.Client[pgx.Tx]) Option { return func(s *Store) { s.jobs = c } }

// WithWebhookPolicy sets whether webhooks may target loopback, private and
// link-local addresses (the operator's HANDOFF_WEBHOOK_ALLOW_PRIVATE; the
// delivery worker takes the same setting). By default they may not.
func WithWebhookPolicy(allowPrivate bool) Option {
	return func(s *Store) { s.webhookAllowPrivate = allowPrivate }
}

// MaxDeliveryAttempts bounds retries (the worker also stops after 24 h).
const MaxDeliveryAttempts = 100

// enqueueWebhooks tells the person of an event, inside t's transaction:
// one delivery job per webhook of the user and event type it takes (one
// query for them all), and the pushes to the person's devices that the
// event calls for (see enqueuePushes).
func (s *Store) enqueueWebhooks(ctx context.Context, t *instanceTx, userID uuid.UUID, data WebhookData, types ...string) error {
	if s.jobs == nil || len(types) == 0 {
		return nil
	}
	if err := s.enqueuePushes(ctx, t, userID, data, types); err != nil {
		return err
	}
	hooks, err := t.WebhooksFor(ctx, WebhooksForParams{UserID: userID, EventTypes: types})
	if err != nil || len(hooks) == 0 {
		return err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	var params []river.InsertManyParams
	for _, t := range types {
		for _, h := range hooks {
			if !slices.Contains(h.EventTypes, t) {
				continue
			}
			params = append(params, river.InsertManyParams{
				Args: DeliverWebhookArgs{WebhookID: h.ID, UserID: userID, EventID: "evt_" + uuid.NewString(),
					Type: t, Data: raw, CreatedAt: now},
				InsertOpts: &river.InsertOpts{MaxAttempts: MaxDeliveryAttempts},
			})
		}
	}
	_, err = s.jobs.InsertManyTx(ctx, t.tx, params)
	return err
}

// NewWebhook is a webhook to create.
type NewWebhook struct {
	UserID     uuid.UUID
	URL        string
	EventTypes []string
	Format     string
}

// CreateWebhook stores a webhook with a new signing secret (whsec_…, as
// Standard Webhooks writes them); the caller shows it once. The URL must
// pass the target policy (netguard.CheckURL, with the store's
// WithWebhookPolicy), checked last: a name is resolved, outside the
// transaction.
func (s *Store) CreateWebhook(ctx context.Context, p NewWebhook) (Webhook, error) {
	if len(p.EventTypes) == 0 {
		return Webhook{}, Errorf(EInvalid, "event_types must name at least one of %v", WebhookEventTypes)
	}
	for _, t := range p.EventTypes {
		known := false
		for _, k := range WebhookEventTypes {
			known = known || t == k
		}
		if !known {
			return Webhook{}, Errorf(EInvalid, "unknown event type %q (want %v)", t, WebhookEventTypes)
		}
	}
	if p.Format == "" {
		p.Format = FormatStandard
	}
	if p.Format != FormatStandard && p.Format != FormatSlack {
		return Webhook{}, Errorf(EInvalid, "format must be standard or slack")
	}
	if err := netguard.CheckURL(ctx, p.URL, s.webhookAllowPrivate); err != nil {
		return Webhook{}, Errorf(EInvalid, "%v", err)
	}
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	return withTx(ctx, s, func(q *Queries) (Webhook, error) {
		return q.CreateWebhook(ctx, CreateWebhookParams{UserID: p.UserID, URL: p.URL, EventTypes: p.EventTypes,
			Format: p.Format, Secret: "whsec_" + base64.StdEncoding.EncodeToString(key)})
	})
}

// ListWebhooks returns the user's webhooks.
func (s *Store) ListWebhooks(ctx context.Context, userID uuid.UUID) ([]Webhook, error) {
	return New(s.pool).ListWebhooks(ctx, userID)
}

// GetWebhook returns one of the user's webhooks.
func (s *Store) GetWebhook(ctx context.Context, userID, id uuid.UUID) (Webhook, error) {
	w, err := New(s.pool).GetWebhook(ctx, GetWebhookParams{ID: id, UserID: userID})
	if isNoRows(err) {
		return Webhook{}, Errorf(ENotFound, "Webhook not found")
	}
	return w, err
}

// DeleteWebhook removes one of the user's webhooks; its pending
// deliveries are dropped when their turn comes.
func (s *Store) DeleteWebhook(ctx context.Context, userID, id uuid.UUID) error {
	n, err := New(s.pool).DeleteWebhook(ctx, DeleteWebhookParams{ID: id, UserID: userID})
	if err == nil && n == 0 {
		return Errorf(ENotFound, "Webhook not found")
	}
	return err
}

// RecordDelivery notes one delivery attempt.
func (s *Store) RecordDelivery(ctx context.Context, p RecordDeliveryParams) error {
	return New(s.pool).RecordDelivery(ctx, p)
}

// ListDeliveries returns a webhook's latest delivery attempts.
func (s *Store) ListDeliveries(ctx context.Context, userID, webhookID uuid.UUID, limit int) ([]WebhookDelivery, error) {
	if _, err := s.GetWebhook(ctx, userID, webhookID); err != nil {
		return nil, err
	}
	return New(s.pool).ListDeliveries(ctx, ListDeliveriesParams{WebhookID: webhookID, UserID: userID, Lim: int32(limit)})
}

// EventWebhookTest is the type of a sample event (the page's "Test"
// button); it goes only to the webhook tested.
const EventWebhookTest = "webhook.test"

// TestWebhook sends one of the user's webhooks a sample event.
func (s *Store) TestWebhook(ctx context.Context, userID, id uuid.UUID) error {
	if _, err := s.GetWebhook(ctx, userID, id); err != nil {
		return err
	}
	if s.jobs == nil {
		return Errorf(EUnavailable, "webhooks are not sent by this server")
	}
	raw, err := json.Marshal(map[string]string{"message": "A test event from handoff: this webhook works."})
	if err != nil {
		return err
	}
	_, err = s.jobs.Insert(ctx, DeliverWebhookArgs{WebhookID: id, UserID: userID, EventID: "evt_" + uuid.NewString(),
		Type: EventWebhookTest, Data: raw, CreatedAt: time.Now().UTC()}, &river.InsertOpts{MaxAttempts: 5})
	return err
}
