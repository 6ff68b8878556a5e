// Package webhook delivers handoff's webhooks: signed per the Standard
// Webhooks specification, from durable River jobs enqueued in the
// transactions that make the events, retried with exponential backoff for
// 24 hours on timeouts, 5xx and 429, never to private addresses unless the
// operator allows them.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/internal/netguard"
)

// Config configures deliveries.
type Config struct {
	Store *db.Store
	// PublicURL is where people reach the web page (links in Slack messages).
	PublicURL string
	// AllowPrivate lets deliveries reach loopback, private and link-local
	// addresses (HANDOFF_WEBHOOK_ALLOW_PRIVATE=1; tests set it). The store
	// that creates webhooks takes the same setting (db.WithWebhookPolicy).
	AllowPrivate bool
	// RetryBase is the first retry's delay; it doubles per attempt, up to
	// an hour. Default 5 s.
	RetryBase time.Duration
	Log       *slog.Logger
}

// Timeout bounds one delivery attempt; MaxResponse the response read.
const (
	Timeout     = 10 * time.Second
	MaxResponse = 64 << 10
	GiveUpAfter = 24 * time.Hour
)

// RescueAfter is how long a delivery job may stay running before River
// takes it for abandoned (its process died mid-delivery) and retries it:
// just past the worker's own Timeout, not River's default hour. Set it as
// the client's RescueStuckJobsAfter. A delivery cut off by a crash may
// thus be sent twice; receivers dedupe by webhook-id.
const RescueAfter = JobTimeout + time.Second

// JobTimeout bounds a delivery job's run (a little over the request's
// Timeout). Set it as the client's JobTimeout too, the default of jobs
// without their own, which River requires to be at most RescueAfter.
const JobTimeout = Timeout + 2*time.Second

// Worker delivers one webhook event.
type Worker struct {
	river.WorkerDefaults[db.DeliverWebhookArgs]
	cfg    Config
	client *http.Client
}

// NewWorker returns the delivery worker.
func NewWorker(cfg Config) *Worker {
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	// The dial-time half of the target policy (creation checked the URL).
	return &Worker{cfg: cfg, client: netguard.Client(Timeout, cfg.AllowPrivate)}
}

// Workers registers the worker for a River client.
func Workers(w *Worker) *river.Workers {
	ws := river.NewWorkers()
	river.AddWorker(ws, w)
	return ws
}

// NextRetry: exponential backoff from RetryBase, capped at an hour.
func (w *Worker) NextRetry(job *river.Job[db.DeliverWebhookArgs]) time.Time {
	return netguard.Backoff(w.cfg.RetryBase, job.Attempt)
}

// Timeout bounds a job run: JobTimeout.
func (w *Worker) Timeout(*river.Job[db.DeliverWebhookArgs]) time.Duration { return JobTimeout }

// Work sends the event once. Retried: network errors, timeouts, 5xx and
// 429 (until 24 h after the event). Not retried: other 4xx, a webhook
// deleted meanwhile.
func (w *Worker) Work(ctx context.Context, job *river.Job[db.DeliverWebhookArgs]) error {
	a := job.Args
	hook, err := w.cfg.Store.GetWebhook(ctx, a.UserID, a.WebhookID)
	if db.ErrorCode(err) == db.ENotFound {
		return nil // deleted: nothing to deliver to
	} else if err != nil {
		return err
	}
	body, err := Body(hook.Format, a, w.cfg.PublicURL)
	if err != nil {
		return river.JobCancel(err)
	}
	ts := time.Now().Unix()
	sig, err := Sign(hook.Secret, a.EventID, ts, body)
	if err != nil {
		return river.JobCancel(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "handoff-webhooks")
	req.Header.Set("webhook-id", a.EventID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	res, err := w.client.Do(req)
	rec := db.RecordDeliveryParams{WebhookID: hook.ID, UserID: a.UserID, EventID: a.EventID, EventType: a.Type, Attempt: int32(job.Attempt)}
	var status int
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxResponse))
		res.Body.Close()
		status = res.StatusCode
		code := int32(status)
		rec.StatusCode = &code
	} else {
		msg := err.Error()
		rec.Error = &msg
	}
	if rerr := w.cfg.Store.RecordDelivery(context.WithoutCancel(ctx), rec); rerr != nil {
		w.cfg.Log.Warn("record webhook delivery", "err", rerr)
	}
	switch {
	case err == nil && status/100 == 2:
		return nil
	case errors.Is(err, netguard.ErrPrivateTarget):
		return river.JobCancel(err)
	case err == nil && status/100 == 4 && status != http.StatusTooManyRequests:
		return river.JobCancel(fmt.Errorf("receiver answered %d", status))
	case time.Since(a.CreatedAt) > GiveUpAfter:
		return river.JobCancel(fmt.Errorf("gave up after 24 h (last: %v, status %d)", err, status))
	case err != nil:
		return err
	}
	return fmt.Errorf("receiver answered %d", status)
}

// Sign is the Standard Webhooks signature: "v1," + base64 of the
// HMAC-SHA256 of "id.timestamp.body" keyed by the secret's bytes (the
// base64 after "whsec_").
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("bad webhook secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Body is what a webhook receives: the standard event, or Slack's
// {"text": …} with a link to the session.
func Body(format string, a db.DeliverWebhookArgs, publicURL string) ([]byte, error) {
	if format != db.FormatSlack {
		return json.Marshal(map[string]any{"type": a.Type, "timestamp": a.CreatedAt.UTC().Format(time.RFC3339Nano), "data": a.Data})
	}
	var d db.WebhookData
	if err := json.Unmarshal(a.Data, &d); err != nil {
		return nil, err
	}
	var text string
	switch a.Type {
	case db.EventQuestionAsked:
		text = "An agent needs your input: " + d.Content
	case db.EventPermissionRequested:
		text = "An agent asks permission: " + d.Content
	case db.EventQuestionAnswered:
		text = "Question answered: " + d.Content
	case db.EventSessionEnded:
		text = "A session ended."
	case db.EventWebhookTest:
		text = "A test event from handoff: this webhook works."
	default:
		text = strings.ToLower(d.SenderType) + ": " + d.Content
	}
	if publicURL != "" && a.Type != db.EventWebhookTest {
		text += "\n<" + strings.TrimRight(publicURL, "/") + "/sessions/" + d.AgentInstanceID.String() + "|Open the session>"
	}
	return json.Marshal(map[string]string{"text": text})
}
