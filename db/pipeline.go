package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The hot path of an agent: a step on an existing session. It runs the
// same statements as the general path, but pipelines BEGIN with the
// instance lock and the insert with COMMIT, so a step costs three round
// trips to PostgreSQL instead of five. The queue read stays a statement of
// its own, after the lock: its snapshot must postdate the lock wait.

// sendStep sends an agent step on an instance the user has; ENotFound
// when there is none (the general path then creates it, or says the id is
// taken).
func (s *Store) sendStep(ctx context.Context, p SendAgentMessageParams) (SendAgentMessageResult, error) {
	return withLockedTx(ctx, s, p.UserID, p.InstanceID,
		func(q, commit *Queries, inst AgentInstance) (SendAgentMessageResult, error) {
			queued, err := queueAfter(ctx, q, inst)
			if err != nil {
				return SendAgentMessageResult{}, err
			}
			var steps int64
			if p.CountSteps {
				if steps, err = q.CountSteps(ctx, CountStepsParams{AgentInstanceID: inst.ID, UserID: p.UserID}); err != nil {
					return SendAgentMessageResult{}, fmt.Errorf("count steps: %w", err)
				}
				steps++ // this step
			}
			diff, setDiff := SanitizeGitDiff(p.GitDiff)
			msg, err := commit.InsertAgentMessage(ctx, InsertAgentMessageParams{
				UserID: p.UserID, AgentInstanceID: inst.ID, Content: p.Content, RequiresUserInput: false,
				MessageMetadata: nullJSON(p.Metadata), SetGitDiff: setDiff, GitDiff: diff,
			})
			if err != nil {
				return SendAgentMessageResult{}, fmt.Errorf("insert agent message: %w", err)
			}
			return SendAgentMessageResult{InstanceID: inst.ID, MessageID: msg.ID, Queued: queued, StepNumber: steps}, nil
		})
}

// withLockedTx runs fn in one transaction on the user's instance, locked;
// BEGIN rides with the lock (one round trip for both). fn's queries go
// through q; its last one may go through commit instead, which sends the
// COMMIT with it. An instance the user does not have is ENotFound.
func withLockedTx[T any](ctx context.Context, s *Store, userID, instanceID uuid.UUID,
	fn func(q, commit *Queries, inst AgentInstance) (T, error)) (T, error) {
	var zero T
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return zero, fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed { // any failure after BEGIN: end the transaction
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if _, rerr := conn.Exec(rctx, "rollback"); rerr != nil {
				_ = conn.Conn().Close(rctx) // the pool drops a closed connection
			}
		}
	}()
	inst, err := New(beginThen{conn}).LockInstance(ctx, LockInstanceParams{ID: instanceID, UserID: userID})
	if isNoRows(err) {
		return zero, Errorf(ENotFound, "Agent instance not found")
	} else if err != nil {
		return zero, invalidText(fmt.Errorf("lock instance: %w", err))
	}
	res, err := fn(New(conn), New(thenCommit{conn, &committed}), inst)
	if err != nil {
		return zero, invalidText(err)
	}
	if !committed {
		if _, err := conn.Exec(ctx, "commit"); err != nil {
			return zero, fmt.Errorf("commit: %w", err)
		}
		committed = true
	}
	return res, nil
}

// beginThen runs the one query sqlc gives it after a BEGIN, both in one
// round trip.
type beginThen struct{ conn *pgxpool.Conn }

func (b beginThen) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	batch := &pgx.Batch{}
	batch.Queue("begin")
	batch.Queue(sql, args...)
	return batchRow{br: b.conn.SendBatch(ctx, batch), first: true}
}

func (beginThen) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errors.New("beginThen: QueryRow only")
}

func (beginThen) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("beginThen: QueryRow only")
}

// thenCommit runs the one query sqlc gives it and a COMMIT, both in one
// round trip; the commit's failure is the query's failure, and committed
// is set when it succeeds.
type thenCommit struct {
	conn      *pgxpool.Conn
	committed *bool
}

func (t thenCommit) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	batch := &pgx.Batch{}
	batch.Queue(sql, args...)
	batch.Queue("commit")
	return batchRow{br: t.conn.SendBatch(ctx, batch), last: true, committed: t.committed}
}

func (thenCommit) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errors.New("thenCommit: QueryRow only")
}

func (thenCommit) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("thenCommit: QueryRow only")
}

// batchRow reads a two-statement batch: with first, a BEGIN then the row;
// with last, the row then a COMMIT.
type batchRow struct {
	br          pgx.BatchResults
	first, last bool
	committed   *bool // with last: set when the COMMIT succeeds
}

func (r batchRow) Scan(dest ...any) error {
	if r.first {
		if _, err := r.br.Exec(); err != nil {
			r.br.Close()
			return err
		}
	}
	err := r.br.QueryRow().Scan(dest...)
	if r.last && err == nil {
		if _, err = r.br.Exec(); err == nil {
			*r.committed = true
		}
	}
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}
