package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// ExpiryGrace is how long after its deadline a permission request's
// expiry job looks at it: the waiter, when alive, expires it at the
// deadline itself, so the job normally finds it settled.
const ExpiryGrace = 5 * time.Second

// ExpirePermissionArgs is the durable job that expires a permission
// request at its deadline when its waiter could not: the process holding
// the agent's wait died (a crash, a lost replica). Without it the request
// would show as waiting, and keep its session awaiting input and its push
// notification on the person's devices, until the session ended.
type ExpirePermissionArgs struct {
	UserID     uuid.UUID `json:"user_id"`
	InstanceID uuid.UUID `json:"agent_instance_id"`
	RequestID  uuid.UUID `json:"request_id"`
}

// Kind names the job for River.
func (ExpirePermissionArgs) Kind() string { return "expire_permission" }

// enqueueExpiry schedules the expiry of a request opened in t, in the same
// transaction: a request exists only with the job that ends it.
func (s *Store) enqueueExpiry(ctx context.Context, t *instanceTx, a ExpirePermissionArgs, deadline time.Time) error {
	if s.jobs == nil {
		return nil
	}
	_, err := s.jobs.InsertTx(ctx, t.tx, a, &river.InsertOpts{ScheduledAt: deadline.Add(ExpiryGrace)})
	if err != nil {
		return fmt.Errorf("schedule expiry: %w", err)
	}
	return nil
}

// ExpirePermissionWorker works ExpirePermissionArgs: it records "expired"
// on a request still undecided, as its waiter would have (the session
// stops awaiting input unless another question waits; the devices close
// the request). A request decided or expired already is left as it is.
type ExpirePermissionWorker struct {
	river.WorkerDefaults[ExpirePermissionArgs]
	// Store is the store on the jobs' database; what the expiry enqueues
	// (push withdrawals) goes through the River client working the job
	// (else through Store's own).
	Store *Store
}

// Work expires the request unless it is settled. A request that still
// waits by this server's clock (servers' clocks differ) is looked at again
// once it has expired.
func (w *ExpirePermissionWorker) Work(ctx context.Context, job *river.Job[ExpirePermissionArgs]) error {
	s := w.Store
	if c, err := river.ClientFromContextSafely[pgx.Tx](ctx); err == nil {
		s = s.withJobs(c)
	}
	a := job.Args
	m, err := New(s.pool).GetAgentMessage(ctx, GetAgentMessageParams{ID: a.RequestID, UserID: a.UserID})
	switch {
	case isNoRows(err):
		return nil // its session (or user) is gone, and the request with it
	case err != nil:
		return err
	case ParseDecision(m.Decision) != nil:
		return nil // decided, or expired by its waiter
	case m.ExpiresAt != nil && time.Until(*m.ExpiresAt) > 0:
		return river.JobSnooze(time.Until(*m.ExpiresAt) + ExpiryGrace)
	}
	_, _, expired, err := s.expirePermission(ctx, a.UserID, a.InstanceID, a.RequestID)
	switch {
	case ErrorCode(err) == ENotFound || isNoRows(err):
		return nil // deleted meanwhile
	case err != nil:
		return err
	case expired:
		countPermission(OutcomeExpired)
	}
	return nil
}

// AddWorkers registers the jobs the store enqueues for itself (a
// permission request's expiry) on ws. Every River client that works the
// store's jobs needs them.
func AddWorkers(ws *river.Workers, s *Store) {
	river.AddWorker(ws, &ExpirePermissionWorker{Store: s})
}
