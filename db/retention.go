package db

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Retention is how long rows that only grow are kept: the live view's
// events (a stream resuming from an older Last-Event-ID gets what is
// left), idempotency keys (a retry after that is a new request) and
// webhook delivery attempts (the person's delivery log). Zero keeps rows
// for ever.
type Retention struct {
	Events            time.Duration
	IdempotencyKeys   time.Duration
	WebhookDeliveries time.Duration
}

// DefaultRetention: a week of events and idempotency keys (clients retry
// within minutes; streams reconnect within hours), a month of deliveries.
var DefaultRetention = Retention{
	Events:            7 * 24 * time.Hour,
	IdempotencyKeys:   7 * 24 * time.Hour,
	WebhookDeliveries: 30 * 24 * time.Hour,
}

// RetentionInterval is how often the retention job runs.
const RetentionInterval = time.Hour

// retentionBatch is how many rows one statement deletes: small enough to
// hold locks briefly, large enough to keep up.
const retentionBatch = 5000

// Deleted counts the rows one retention run removed.
type Deleted struct {
	Events, IdempotencyKeys, WebhookDeliveries int64
}

// DeleteExpired removes the rows older than r keeps, in batches (each its
// own statement, so no long transaction holds back the live view).
func (s *Store) DeleteExpired(ctx context.Context, r Retention, now time.Time) (Deleted, error) {
	var d Deleted
	q := New(s.pool)
	for _, t := range []struct {
		keep time.Duration
		n    *int64
		del  func(before time.Time) (int64, error)
	}{
		{r.Events, &d.Events, func(before time.Time) (int64, error) {
			return q.DeleteOldEvents(ctx, DeleteOldEventsParams{Lim: retentionBatch, Before: before})
		}},
		{r.IdempotencyKeys, &d.IdempotencyKeys, func(before time.Time) (int64, error) {
			return q.DeleteOldIdempotencyKeys(ctx, DeleteOldIdempotencyKeysParams{Lim: retentionBatch, Before: before})
		}},
		{r.WebhookDeliveries, &d.WebhookDeliveries, func(before time.Time) (int64, error) {
			return q.DeleteOldWebhookDeliveries(ctx, DeleteOldWebhookDeliveriesParams{Lim: retentionBatch, Before: before})
		}},
	} {
		if t.keep <= 0 {
			continue
		}
		for {
			n, err := t.del(now.Add(-t.keep))
			if err != nil {
				return d, fmt.Errorf("retention: %w", err)
			}
			*t.n += n
			if n < retentionBatch {
				break
			}
		}
	}
	return d, nil
}

// RetentionArgs is the periodic retention job.
type RetentionArgs struct{}

// Kind names the job for River.
func (RetentionArgs) Kind() string { return "retention" }

// RetentionWorker runs DeleteExpired as a River job.
type RetentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	Store *Store
	Keep  Retention
}

// Work deletes what has expired.
func (w *RetentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	_, err := w.Store.DeleteExpired(ctx, w.Keep, time.Now())
	return err
}

// Timeout bounds one run (a first run on a large backlog takes a while).
func (w *RetentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration { return 30 * time.Minute }

// RetentionJob is the periodic job that enqueues retention every
// RetentionInterval, and once at start. River runs periodic jobs on its
// leader only, so replicas do not repeat each other's work.
func RetentionJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(RetentionInterval),
		func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
