// Package push sends handoff's Web Push notifications (RFC 8030), each
// encrypted to its device (RFC 8291, aes128gcm) and signed with the
// server's VAPID key (RFC 8292), from durable River jobs that the store
// enqueues in the transactions that ask questions (db.DeliverPushArgs).
// A question's push is sent only while the question waits for an answer
// (and withdrawn again if it was answered while the push was on its way).
// A device its push service calls gone (404, 410) is deleted; timeouts,
// 429 and 5xx are retried with backoff while the push is still worth
// sending (its TTL); endpoints follow the webhooks' target policy.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/internal/netguard"
)

// Config configures push deliveries.
type Config struct {
	Store *db.Store
	// Contact is the VAPID subject the push services may reach the
	// operator at: an https URL (the public URL) or an e-mail address.
	Contact string
	// AllowPrivate lets pushes reach loopback and private addresses (the
	// webhooks' HANDOFF_WEBHOOK_ALLOW_PRIVATE; tests set it).
	AllowPrivate bool
	// RetryBase is the first retry's delay, doubling per attempt up to an
	// hour. Default 5 s.
	RetryBase time.Duration
	Log       *slog.Logger
}

// Timeout bounds one push request; JobTimeout a job's run.
const (
	Timeout    = 10 * time.Second
	JobTimeout = Timeout + 2*time.Second
)

// Worker delivers one push.
type Worker struct {
	river.WorkerDefaults[db.DeliverPushArgs]
	cfg    Config
	client *http.Client
}

// NewWorker returns the push worker.
func NewWorker(cfg Config) *Worker {
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Contact == "" {
		cfg.Contact = "handoff@localhost"
	}
	return &Worker{cfg: cfg, client: netguard.Client(Timeout, cfg.AllowPrivate)}
}

// NextRetry: exponential backoff from RetryBase, capped at an hour.
func (w *Worker) NextRetry(job *river.Job[db.DeliverPushArgs]) time.Time {
	return netguard.Backoff(w.cfg.RetryBase, job.Attempt)
}

// Timeout bounds a job run: JobTimeout.
func (w *Worker) Timeout(*river.Job[db.DeliverPushArgs]) time.Duration { return JobTimeout }

// Work sends the push once.
func (w *Worker) Work(ctx context.Context, job *river.Job[db.DeliverPushArgs]) error {
	a := job.Args
	left := a.TTL - time.Since(a.CreatedAt)
	if left <= 0 {
		return nil // no longer worth showing
	}
	if a.QuestionID != nil {
		// Answered, decided, expired or its session ended since it was
		// asked (this may be a retry): its withdrawal may have gone out
		// already, and this push, with the same Topic, would bring back a
		// notification nobody can act on.
		waits, err := w.cfg.Store.QuestionWaits(ctx, a.UserID, *a.QuestionID)
		if err != nil {
			return err
		} else if !waits {
			return nil
		}
	}
	sub, err := w.cfg.Store.GetPushSubscription(ctx, a.UserID, a.SubscriptionID)
	if db.ErrorCode(err) == db.ENotFound {
		return nil // the device was removed
	} else if err != nil {
		return err
	}
	private, public, err := w.cfg.Store.VAPIDKeys(ctx)
	if err != nil {
		return err
	}
	urgency := webpush.UrgencyNormal
	if a.Urgent {
		urgency = webpush.UrgencyHigh
	}
	res, err := webpush.SendNotificationWithContext(ctx, a.Payload,
		&webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
		&webpush.Options{HTTPClient: w.client, Subscriber: w.cfg.Contact, Topic: a.Topic, TTL: int(left.Seconds()),
			Urgency: urgency, VAPIDPublicKey: public, VAPIDPrivateKey: private, VapidExpiration: time.Now().Add(12 * time.Hour)})
	var status int
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		status = res.StatusCode
	}
	switch {
	case err == nil && status/100 == 2:
		w.recheck(ctx, a)
		return nil
	case err == nil && (status == http.StatusNotFound || status == http.StatusGone):
		// The device unsubscribed or expired: never send to it again.
		if derr := w.cfg.Store.DeletePushSubscription(context.WithoutCancel(ctx), a.UserID, a.SubscriptionID); derr != nil &&
			db.ErrorCode(derr) != db.ENotFound {
			return derr
		}
		w.cfg.Log.Info("push subscription gone; deleted", "subscription", a.SubscriptionID, "status", status)
		return nil
	case errors.Is(err, netguard.ErrPrivateTarget):
		return river.JobCancel(err)
	case err == nil && status/100 == 4 && status != http.StatusTooManyRequests:
		return river.JobCancel(fmt.Errorf("push service answered %d", status))
	case err != nil:
		return err
	}
	return fmt.Errorf("push service answered %d", status)
}

// recheck follows an accepted ask push: if its question stopped waiting
// while the push was on its way, the withdrawal may have reached the push
// service before it, so the withdrawal is queued again, to come after.
// The ask went out whatever happens here: a failure is only logged.
func (w *Worker) recheck(ctx context.Context, a db.DeliverPushArgs) {
	if a.QuestionID == nil {
		return
	}
	waits, err := w.cfg.Store.QuestionWaits(ctx, a.UserID, *a.QuestionID)
	if err == nil && !waits {
		var again db.DeliverPushArgs
		if again, err = a.Withdrawal(); err == nil {
			_, err = river.ClientFromContext[pgx.Tx](ctx).Insert(ctx, again,
				&river.InsertOpts{MaxAttempts: db.MaxDeliveryAttempts})
		}
	}
	if err != nil {
		w.cfg.Log.Warn("re-checking a pushed question failed", "subscription", a.SubscriptionID, "err", err)
	}
}
