package db

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/handoffhq/handoff/internal/netguard"
)

// Web Push (design §12.2): a question or permission request is pushed to
// each of the person's devices by a durable job enqueued in the
// transaction that asks it, like a webhook; when it is answered (or
// expires, or its session ends) a follow-up push with the same Topic
// replaces it, and the page's service worker closes its notification.

// DeliverPushArgs is the durable job of one push to one device.
type DeliverPushArgs struct {
	SubscriptionID uuid.UUID       `json:"subscription_id"`
	UserID         uuid.UUID       `json:"user_id"`
	Payload        json.RawMessage `json:"payload"`
	// Topic lets a newer push replace one not yet delivered (RFC 8030);
	// the notification's tag is the same.
	Topic string `json:"topic"`
	// TTL: how long the push service keeps it for an offline device (no
	// longer than the question can be answered).
	TTL       time.Duration `json:"ttl"`
	Urgent    bool          `json:"urgent"`
	CreatedAt time.Time     `json:"created_at"`
	// QuestionID is the question an ask push shows (nil on other pushes):
	// it is sent only while the question waits (see QuestionWaits), so a
	// retry that runs after the withdrawal does not bring it back.
	QuestionID *uuid.UUID `json:"question_id,omitempty"`
}

// Kind names the job for River.
func (DeliverPushArgs) Kind() string { return "push_delivery" }

// Withdrawal is the push that closes what this ask push shows, on the
// same device.
func (a DeliverPushArgs) Withdrawal() (DeliverPushArgs, error) {
	var p PushPayload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return DeliverPushArgs{}, err
	}
	raw, err := json.Marshal(PushPayload{Type: PushAnswered, URL: p.URL, Tag: p.Tag})
	return DeliverPushArgs{SubscriptionID: a.SubscriptionID, UserID: a.UserID, Payload: raw, Topic: a.Topic,
		TTL: MaxPushTTL, CreatedAt: time.Now().UTC()}, err
}

// Push payload types, as the service worker reads them.
const (
	PushAsk      = "ask"      // show a notification
	PushAnswered = "answered" // close the notification with Tag (answered, expired, or its session ended)
)

// PushPayload is what the page's service worker receives.
type PushPayload struct {
	Type  string `json:"type"`
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	// URL opens the session when the notification is clicked.
	URL string `json:"url"`
	Tag string `json:"tag"`
}

// MaxPushTTL bounds how long a question's push waits for an offline device.
const MaxPushTTL = 24 * time.Hour

// pushBodyLen bounds a notification's text (a push carries at most about
// 4 KB).
const pushBodyLen = 300

// PushTopic is the Topic (and notification tag) of a question's pushes:
// its id in 22 URL-safe characters (RFC 8030 allows 32).
func PushTopic(questionID uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(questionID[:])
}

// enqueuePushes adds the pushes an event calls for, one job per device of
// the user: a question asked or a permission requested shows a
// notification; a question answered withdraws it.
func (s *Store) enqueuePushes(ctx context.Context, t *instanceTx, userID uuid.UUID, data WebhookData, types []string) error {
	switch {
	case slices.Contains(types, EventQuestionAsked) || slices.Contains(types, EventPermissionRequested):
		if data.MessageID == nil {
			return nil
		}
		p := PushPayload{Type: PushAsk, Title: "A question for you", URL: sessionPath(data.AgentInstanceID)}
		if data.Kind == KindPermission {
			p.Title = "Permission request"
		}
		text, _ := SplitOptions(data.Content)
		p.Body = clip(text, pushBodyLen)
		ttl := MaxPushTTL
		if data.expiresAt != nil {
			ttl = min(ttl, time.Until(*data.expiresAt))
		}
		return s.push(ctx, t, userID, *data.MessageID, p, ttl, true)
	case slices.Contains(types, EventQuestionAnswered) && data.QuestionID != nil:
		return s.withdraw(ctx, t, userID, data.AgentInstanceID, *data.QuestionID)
	}
	return nil
}

// sessionPath is the page of a session, which a notification opens.
func sessionPath(instanceID uuid.UUID) string { return "/sessions/" + instanceID.String() }

// withdraw enqueues, for each of the user's devices, the pushes that close
// the questions' notifications: answered, decided, expired, or their
// session ended.
func (s *Store) withdraw(ctx context.Context, t *instanceTx, userID, instanceID uuid.UUID, questions ...uuid.UUID) error {
	for _, q := range questions {
		p := PushPayload{Type: PushAnswered, URL: sessionPath(instanceID)}
		if err := s.push(ctx, t, userID, q, p, MaxPushTTL, false); err != nil {
			return err
		}
	}
	return nil
}

// withdrawWaiting withdraws the notifications of what waits on an
// instance whose session ends (nobody can answer it any more): its open
// permission requests and its open ordinary question. inst is the
// instance before it ended; only a session awaiting input has any.
func (s *Store) withdrawWaiting(ctx context.Context, t *instanceTx, inst AgentInstance) error {
	if s.jobs == nil || inst.Status != AgentStatusAWAITINGINPUT {
		return nil
	}
	open, err := t.OpenPermissions(ctx, OpenPermissionsParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
	if err != nil {
		return fmt.Errorf("open requests: %w", err)
	}
	ids := make([]uuid.UUID, 0, len(open)+1)
	for _, m := range open {
		ids = append(ids, m.ID)
	}
	plain, err := t.OpenPlainQuestion(ctx, OpenPlainQuestionParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
	if err != nil {
		return fmt.Errorf("open question: %w", err)
	}
	if plain {
		q, err := t.LatestPlainQuestion(ctx, LatestPlainQuestionParams{AgentInstanceID: inst.ID, UserID: inst.UserID})
		if err != nil {
			return fmt.Errorf("latest question: %w", err)
		}
		ids = append(ids, q.ID)
	}
	return s.withdraw(ctx, t, inst.UserID, inst.ID, ids...)
}

// push enqueues p for each of the user's devices.
func (s *Store) push(ctx context.Context, t *instanceTx, userID, question uuid.UUID, p PushPayload, ttl time.Duration, urgent bool) error {
	if s.jobs == nil || ttl <= 0 {
		return nil
	}
	ids, err := t.PushSubscriptionIDs(ctx, userID)
	if err != nil || len(ids) == 0 {
		return err
	}
	p.Tag = PushTopic(question)
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var asks *uuid.UUID
	if p.Type == PushAsk {
		asks = &question
	}
	now := time.Now().UTC()
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{
			Args: DeliverPushArgs{SubscriptionID: id, UserID: userID, Payload: raw, Topic: p.Tag, TTL: ttl.Round(time.Second),
				Urgent: urgent, CreatedAt: now, QuestionID: asks},
			InsertOpts: &river.InsertOpts{MaxAttempts: MaxDeliveryAttempts},
		}
	}
	_, err = s.jobs.InsertManyTx(ctx, t.tx, params)
	return err
}

// clip shortens s to at most n characters, marking the cut.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// NewPushSubscription is a device a person subscribes (the browser's
// PushSubscription: endpoint and keys, base64url).
type NewPushSubscription struct {
	UserID       uuid.UUID
	Endpoint     string
	P256dh, Auth string
	Name         string
}

// AddPushSubscription stores a device (again: renewed keys replace the
// old). The endpoint is checked like a webhook's URL (no private targets
// unless the operator allows them); the keys must be a P-256 public key
// and a 16-byte secret.
func (s *Store) AddPushSubscription(ctx context.Context, p NewPushSubscription) (PushSubscription, error) {
	if err := netguard.CheckURL(ctx, p.Endpoint, s.webhookAllowPrivate); err != nil {
		return PushSubscription{}, Errorf(EInvalid, "endpoint: %v", err)
	}
	if !strings.HasPrefix(p.Endpoint, "https://") && !s.webhookAllowPrivate {
		return PushSubscription{}, Errorf(EInvalid, "endpoint must be an https URL")
	}
	if key, err := decodeKey(p.P256dh); err != nil || len(key) != 65 {
		return PushSubscription{}, Errorf(EInvalid, "keys.p256dh must be a P-256 public key (65 bytes, base64url)")
	} else if _, err := ecdh.P256().NewPublicKey(key); err != nil {
		return PushSubscription{}, Errorf(EInvalid, "keys.p256dh is not a point on P-256")
	}
	if auth, err := decodeKey(p.Auth); err != nil || len(auth) != 16 {
		return PushSubscription{}, Errorf(EInvalid, "keys.auth must be 16 bytes, base64url")
	}
	if utf8.RuneCountInString(p.Name) > 200 {
		return PushSubscription{}, Errorf(EInvalid, "name is longer than 200 characters")
	}
	return withTx(ctx, s, func(q *Queries) (PushSubscription, error) {
		return q.UpsertPushSubscription(ctx, UpsertPushSubscriptionParams{UserID: p.UserID, Endpoint: p.Endpoint,
			P256dh: p.P256dh, Auth: p.Auth, Name: p.Name})
	})
}

// decodeKey reads base64url, padded or not.
func decodeKey(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// ListPushSubscriptions returns the user's devices.
func (s *Store) ListPushSubscriptions(ctx context.Context, userID uuid.UUID) ([]PushSubscription, error) {
	return New(s.pool).ListPushSubscriptions(ctx, userID)
}

// GetPushSubscription returns one of the user's devices.
func (s *Store) GetPushSubscription(ctx context.Context, userID, id uuid.UUID) (PushSubscription, error) {
	sub, err := New(s.pool).GetPushSubscription(ctx, GetPushSubscriptionParams{ID: id, UserID: userID})
	if isNoRows(err) {
		return sub, Errorf(ENotFound, "Push subscription not found")
	}
	return sub, err
}

// DeletePushSubscription removes one of the user's devices.
func (s *Store) DeletePushSubscription(ctx context.Context, userID, id uuid.UUID) error {
	n, err := New(s.pool).DeletePushSubscription(ctx, DeletePushSubscriptionParams{ID: id, UserID: userID})
	if err == nil && n == 0 {
		return Errorf(ENotFound, "Push subscription not found")
	}
	return err
}

// QuestionWaits reports whether one of the user's questions still waits
// for the person: unanswered (a permission request undecided and not
// expired) in a session that has not ended. An ask push is sent only
// while it does.
func (s *Store) QuestionWaits(ctx context.Context, userID, questionID uuid.UUID) (bool, error) {
	waits, err := New(s.pool).QuestionWaits(ctx, QuestionWaitsParams{ID: questionID, UserID: userID})
	return waits, wrapErr("question waits", err)
}

// VAPIDKeys returns the server's VAPID key pair (base64url: the private
// scalar and the uncompressed public point), making it if there is none
// (serve calls it as it starts). Replicas that make one at once store the
// first and all read it.
func (s *Store) VAPIDKeys(ctx context.Context) (private, public string, err error) {
	s.vapidMu.Lock()
	defer s.vapidMu.Unlock()
	if s.vapid[1] != "" {
		return s.vapid[0], s.vapid[1], nil
	}
	q := New(s.pool)
	keys, err := q.GetVAPIDKeys(ctx)
	if isNoRows(err) {
		k, kerr := ecdh.P256().GenerateKey(rand.Reader)
		if kerr != nil {
			return "", "", kerr
		}
		enc := base64.RawURLEncoding.EncodeToString
		if err = q.EnsureVAPIDKeys(ctx, EnsureVAPIDKeysParams{PrivateKey: enc(k.Bytes()),
			PublicKey: enc(k.PublicKey().Bytes())}); err != nil {
			return "", "", fmt.Errorf("store VAPID keys: %w", err)
		}
		keys, err = q.GetVAPIDKeys(ctx) // another replica's, if it won
	}
	if err != nil {
		return "", "", fmt.Errorf("VAPID keys: %w", err)
	}
	s.vapid = [2]string{keys.PrivateKey, keys.PublicKey}
	return keys.PrivateKey, keys.PublicKey, nil
}

// TestPush sends one of the user's devices a sample notification (the
// page's "Test" button).
func (s *Store) TestPush(ctx context.Context, userID, id uuid.UUID) error {
	if _, err := s.GetPushSubscription(ctx, userID, id); err != nil {
		return err
	}
	if s.jobs == nil {
		return Errorf(EUnavailable, "notifications are not sent by this server")
	}
	raw, err := json.Marshal(PushPayload{Type: PushAsk, Title: "handoff", Body: "Notifications work on this device.",
		URL: "/", Tag: "test"})
	if err != nil {
		return err
	}
	_, err = s.jobs.Insert(ctx, DeliverPushArgs{SubscriptionID: id, UserID: userID, Payload: raw, Topic: "test",
		TTL: time.Hour, Urgent: true, CreatedAt: time.Now().UTC()}, &river.InsertOpts{MaxAttempts: 5})
	return err
}
