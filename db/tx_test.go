package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// pipeEnv is a store on a one-connection pool (so every transaction reuses
// the connection the one before left) and a scratch table.
func pipeEnv(t *testing.T) (context.Context, *db.Store, *pgxpool.Pool, *pgxpool.Pool) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.Close)
	other, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	if _, err := other.Exec(ctx, "CREATE TABLE scratch (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return ctx, db.NewStore(one), one, other
}

func scratch(t *testing.T, ctx context.Context, p *pgxpool.Pool) []int {
	t.Helper()
	rows, err := p.Query(ctx, "SELECT n FROM scratch ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func xid(t *testing.T, ctx context.Context, tx pgx.Tx) string {
	t.Helper()
	var x string
	if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()::text").Scan(&x); err != nil {
		t.Fatal(err)
	}
	return x
}

// Every statement kind runs in the one transaction, whose BEGIN went out
// with the first; others see nothing until it commits.
func TestPipeTxOneTransaction(t *testing.T) {
	ctx, s, _, other := pipeEnv(t)
	tx, err := s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close(ctx)
	first := xid(t, ctx, tx)
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT pg_current_xact_id()::text FROM scratch")
	if err != nil {
		t.Fatal(err)
	}
	viaQuery, err := pgx.CollectOneRow(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if viaQuery != first || xid(t, ctx, tx) != first {
		t.Fatalf("statements ran in different transactions: %s, %s", first, viaQuery)
	}
	if got := scratch(t, ctx, other); len(got) != 0 {
		t.Fatalf("uncommitted rows visible to others: %v", got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := scratch(t, ctx, other); len(got) != 1 {
		t.Fatalf("after commit others see %v", got)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (2)"); !errors.Is(err, pgx.ErrTxClosed) {
		t.Fatalf("statement after commit: %v, want ErrTxClosed", err)
	}
}

// COMMIT rides with the next statement of each kind, even the first (BEGIN,
// statement and COMMIT in one round trip); after it the transaction is
// closed and a forgotten write fails instead of running on its own.
func TestPipeTxCommitWithNext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first bool // the statement that commits is also the first
		run   func(ctx context.Context, tx pgx.Tx) error
	}{
		{"exec", false, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (2)")
			return err
		}},
		{"query row", false, func(ctx context.Context, tx pgx.Tx) error {
			var n int
			return tx.QueryRow(ctx, "INSERT INTO scratch VALUES (2) RETURNING n").Scan(&n)
		}},
		{"query", false, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, "INSERT INTO scratch VALUES (2) RETURNING n")
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowTo[int])
			return err
		}},
		{"first exec", true, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1), (2)")
			return err
		}},
		{"first query", true, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, "INSERT INTO scratch VALUES (1), (2) RETURNING n")
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowTo[int])
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, s, _, other := pipeEnv(t)
			tx, err := s.BeginPipe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close(ctx)
			if !tc.first {
				if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err != nil {
					t.Fatal(err)
				}
			}
			tx.CommitWithNext()
			if err := tc.run(ctx, tx); err != nil {
				t.Fatal(err)
			}
			if !tx.Done() {
				t.Fatal("transaction still open after the statement that carried COMMIT")
			}
			if got := scratch(t, ctx, other); len(got) != 2 {
				t.Fatalf("others see %v, want both rows committed", got)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (3)"); !errors.Is(err, pgx.ErrTxClosed) {
				t.Fatalf("statement after the commit: %v, want ErrTxClosed", err)
			}
			if err := tx.QueryRow(ctx, "SELECT 1").Scan(new(int)); !errors.Is(err, pgx.ErrTxClosed) {
				t.Fatalf("query row after the commit: %v, want ErrTxClosed", err)
			}
			if _, err := tx.Query(ctx, "SELECT 1"); !errors.Is(err, pgx.ErrTxClosed) {
				t.Fatalf("query after the commit: %v, want ErrTxClosed", err)
			}
		})
	}
}

// A statement that fails with COMMIT queued behind it commits nothing,
// and the connection goes back to the pool outside any transaction.
func TestPipeTxFailedFinalStatement(t *testing.T) {
	ctx, s, one, other := pipeEnv(t)
	tx, err := s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	tx.CommitWithNext()
	if err := tx.QueryRow(ctx, "SELECT 1/0").Scan(new(int)); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if tx.Done() {
		t.Fatal("a failed statement's COMMIT counted as done")
	}
	tx.Close(ctx)
	if got := scratch(t, ctx, other); len(got) != 0 {
		t.Fatalf("a failed transaction committed %v", got)
	}
	// The pool's one connection is outside any transaction block, where
	// SAVEPOINT is an error.
	if _, err := one.Exec(ctx, "SAVEPOINT probe"); err == nil {
		t.Fatal("the connection was left inside a transaction")
	}
}

// A failure before COMMIT (a statement the server refused) leaves the
// transaction aborted: Commit says it rolled back.
func TestPipeTxCommitAfterError(t *testing.T) {
	ctx, s, _, other := pipeEnv(t)
	tx, err := s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close(ctx)
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit of an aborted transaction: %v, want ErrTxCommitRollback", err)
	}
	if got := scratch(t, ctx, other); len(got) != 0 {
		t.Fatalf("aborted transaction committed %v", got)
	}
}

// A nested transaction is a savepoint: rolling it back keeps the outer
// transaction's work.
func TestPipeTxSavepoint(t *testing.T) {
	ctx, s, _, other := pipeEnv(t)
	tx, err := s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close(ctx)
	inner, err := tx.Begin(ctx) // BEGIN goes out on its own first
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := inner.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	kept, err := tx.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Exec(ctx, "INSERT INTO scratch VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := kept.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := scratch(t, ctx, other); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("committed %v, want [2 3]", got)
	}
}

// Rolling back, and closing without commit, discard everything; a
// transaction that sent nothing has nothing to end.
func TestPipeTxRollback(t *testing.T) {
	ctx, s, _, other := pipeEnv(t)
	tx, err := s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	tx.Close(ctx)
	tx, err = s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	tx.Close(ctx) // no commit
	if got := scratch(t, ctx, other); len(got) != 0 {
		t.Fatalf("rolled back rows visible: %v", got)
	}
	empty, err := s.BeginPipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Commit(ctx); err != nil {
		t.Fatalf("commit of an empty transaction: %v", err)
	}
	empty.Close(ctx)
}
