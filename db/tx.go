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

// Every Store operation runs in one transaction, in one of two shapes:
//
//   - withTx: a transaction that does not center on an instance (users,
//     keys, webhooks, reads that span an instance's messages).
//   - withInstance: every write to an agent instance. It locks the
//     instance first, creates it when the operation may and it is
//     missing, claims the idempotency key inside the transaction, hands
//     the operation the locked row, stores the operation's result under
//     the key, and commits.
//
// Both run on a pipeTx, which saves round trips: BEGIN goes with the
// first statement, COMMIT can go with the last, and withInstance's lock
// goes with the operation's first statement unless the operation asks for
// the locked row before it sends one. That is safe because each
// statement's snapshot is taken when the server reaches it, after the lock
// is held; and because a lock that finds no instance makes withInstance
// discard the attempt: it rolls back, and an operation's first statement
// (the only one that can carry COMMIT as well as the lock) changes nothing
// without the user's instance. A plain agent step is one round trip:
// BEGIN, lock, insert (which reads the queue) and COMMIT together.

// withTx runs fn in one transaction and commits if it returns no error.
// A failure, or a cancelled ctx, rolls back (even when ctx is done).
func withTx[T any](ctx context.Context, s *Store, fn func(q *Queries) (T, error)) (T, error) {
	var zero T
	tx, err := s.begin(ctx)
	if err != nil {
		return zero, err
	}
	defer tx.close(ctx)
	res, err := fn(New(tx))
	if err != nil {
		return zero, invalidText(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// instanceMode says what withInstance does when the instance is missing.
type instanceMode int

const (
	// mustExist: a missing instance is ENotFound.
	mustExist instanceMode = iota
	// createMissing: a missing instance is created (the client's id; an id
	// another user has is a conflict).
	createMissing
	// createNew: the instance must not exist yet; it is created.
	createNew
)

// instanceOp is what withInstance needs to know about an operation.
type instanceOp struct {
	userID, id uuid.UUID
	mode       instanceMode
	// newInstance describes the instance to create (createMissing,
	// createNew).
	agentType string
	name      *string
	metadata  []byte
	// operation, key and request make the operation idempotent when key
	// is set (see claimKey).
	operation, key string
	request        any
}

// instanceTx is what an instance operation runs with: the transaction's
// statements, the instance's lock, and the transaction itself for River's
// inserts.
type instanceTx struct {
	*Queries
	tx *pipeTx
	// finalCommits: Final's statement may carry the COMMIT (nothing
	// follows the operation).
	finalCommits bool
	lock         *lead
	inst         AgentInstance
}

// Instance returns the locked instance. The lock rides with the
// operation's first statement; an operation that needs the row before
// that sends the lock on its own here.
func (t *instanceTx) Instance(ctx context.Context) (AgentInstance, error) {
	if !t.lock.sent {
		if err := t.tx.sendLead(ctx); err != nil {
			return AgentInstance{}, err
		}
	}
	return t.inst, t.lock.err
}

// Final returns the Queries for the operation's last statement: when
// nothing follows the operation in its transaction, COMMIT is sent with
// that statement (one round trip for both). Any statement after it fails
// with pgx.ErrTxClosed, so a forgotten later write is an error, never a
// write outside the transaction.
func (t *instanceTx) Final() *Queries {
	if t.finalCommits {
		t.tx.commitNext = true
	}
	return t.Queries
}

// withInstance runs fn on the user's instance, locked, in one transaction
// (see the top of this file), and reports whether an idempotent retry got
// the stored result (then fn did not run and nothing was written).
func withInstance[T any](ctx context.Context, s *Store, op instanceOp,
	fn func(t *instanceTx) (T, error)) (res T, replayed bool, err error) {
	if op.key != "" && len(op.key) > MaxIdempotencyKeyLen {
		return res, false, Errorf(EInvalid, "Idempotency-Key is longer than %d characters", MaxIdempotencyKeyLen)
	}
	if op.mode == mustExist || op.mode == createMissing {
		// Most operations find their instance: try with the lock riding
		// on the first statement.
		res, replayed, err = runInstanceTx(ctx, s, op, fn, false)
		if op.mode == mustExist || !errors.Is(err, errNoInstance) {
			return res, replayed, err
		}
	}
	return runInstanceTx(ctx, s, op, fn, true)
}

// errNoInstance marks the ENotFound of a lock that found no instance.
var errNoInstance = Errorf(ENotFound, "Agent instance not found")

// runInstanceTx is one attempt of withInstance. With create, the lock is
// taken on its own first and a missing instance is created (op.mode).
func runInstanceTx[T any](ctx context.Context, s *Store, op instanceOp,
	fn func(t *instanceTx) (T, error), create bool) (res T, replayed bool, err error) {
	var zero T
	tx, err := s.begin(ctx)
	if err != nil {
		return zero, false, err
	}
	defer tx.close(ctx)
	q := New(tx)
	it := &instanceTx{Queries: q, tx: tx, finalCommits: op.key == ""}
	if create {
		inst, err := lockOrCreate(ctx, q, op)
		if err != nil {
			return zero, false, invalidText(err)
		}
		it.inst, it.lock = inst, &lead{sent: true}
	} else {
		// The lock raises when the instance is missing, aborting the
		// transaction: what rides behind it (perhaps with COMMIT) must not
		// run, even if another transaction creates the instance meanwhile.
		it.lock = &lead{sql: lockInstanceOrRaise, args: []any{op.id, op.userID}, read: func(row pgx.Row) error {
			var err error
			it.inst, err = New(rowDBTX{row}).LockInstanceOrRaise(ctx, LockInstanceOrRaiseParams{ID: op.id, UserID: op.userID})
			if pgCode(err) == sqlstateNoDataFound {
				return errNoInstance
			}
			return err
		}}
		tx.lead = it.lock
	}
	var claim keyClaim
	if op.key != "" {
		claim, err = claimKey(ctx, q, op)
		if it.lock.err != nil {
			return zero, false, it.lock.err
		}
		if err != nil {
			return zero, false, err
		}
		if claim.stored != nil {
			if err := claim.replay(&res); err != nil {
				return zero, false, err
			}
			return res, true, tx.Commit(ctx)
		}
	}
	res, err = fn(it)
	if it.lock.err != nil { // the lock failed; what fn saw was skipped
		return zero, false, it.lock.err
	}
	if err != nil {
		return zero, false, invalidText(err)
	}
	if !it.lock.sent { // fn sent nothing: the lock still has to be taken
		if _, err := it.Instance(ctx); err != nil {
			return zero, false, err
		}
	}
	if op.key != "" {
		if err := claim.save(ctx, q, tx, op, res); err != nil {
			return zero, false, err
		}
	}
	if tx.commitErr != nil {
		return zero, false, fmt.Errorf("commit: %w", tx.commitErr)
	}
	if !tx.done {
		if err := tx.Commit(ctx); err != nil {
			return zero, false, fmt.Errorf("commit: %w", err)
		}
	}
	return res, false, nil
}

// lockOrCreate takes the instance's row lock on its own, creating the
// instance as op.mode (createMissing or createNew) allows.
func lockOrCreate(ctx context.Context, q *Queries, op instanceOp) (AgentInstance, error) {
	inst, err := q.LockInstance(ctx, LockInstanceParams{ID: op.id, UserID: op.userID})
	switch {
	case err == nil && op.mode == createNew:
		return AgentInstance{}, Errorf(EConflict, "Agent instance already exists")
	case err == nil:
		return inst, nil
	case !isNoRows(err):
		return AgentInstance{}, fmt.Errorf("lock instance: %w", err)
	}
	inst, err = newInstance(ctx, q, op.userID, op.id, op.agentType, op.name, op.metadata)
	if ErrorCode(err) != EConflict || op.mode == createNew {
		return inst, err
	}
	// Someone created the id first. If it was this user (a concurrent
	// first message), the row is now committed and visible.
	inst, err = q.LockInstance(ctx, LockInstanceParams{ID: op.id, UserID: op.userID})
	if isNoRows(err) {
		return AgentInstance{}, Errorf(EConflict, "agent_instance_id %s is already in use", op.id)
	}
	return inst, err
}

// lead is a statement that goes out with the transaction's next one (in
// the same round trip, before it): withInstance's lock.
type lead struct {
	sql  string
	args []any
	// read takes the statement's row when it arrives.
	read func(pgx.Row) error
	sent bool
	err  error
}

// rowDBTX hands sqlc's generated scan a row that has already arrived.
type rowDBTX struct{ row pgx.Row }

func (r rowDBTX) QueryRow(context.Context, string, ...any) pgx.Row { return r.row }

func (rowDBTX) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errors.New("rowDBTX: a row only")
}

func (rowDBTX) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("rowDBTX: a row only")
}

// begin starts a pipeTx on a pooled connection. Nothing is sent yet.
func (s *Store) begin(ctx context.Context) (*pipeTx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire: %w", err)
	}
	return &pipeTx{conn: conn}, nil
}

// pipeTx is a transaction on one pooled connection that saves round
// trips: its BEGIN is sent with its first statement, and with commitNext
// its COMMIT is sent with the next statement. It implements pgx.Tx, so
// sqlc's Queries and River's InsertManyTx run on it.
type pipeTx struct {
	conn *pgxpool.Conn
	// begun: BEGIN has been sent.
	begun bool
	// commitNext: send COMMIT with the next statement.
	commitNext bool
	// done: committed or rolled back; later statements fail.
	done bool
	// commitErr is the failure of a COMMIT sent with a Query's rows (sqlc
	// reads rows.Err before it closes them, so it is kept here).
	commitErr  error
	savepoints int
	released   bool
	// lead, when not yet sent, goes out first with the next statement.
	lead *lead
}

var _ pgx.Tx = (*pipeTx)(nil)

// close ends the transaction if it is still open (rolling back) and
// returns the connection to the pool; a connection that cannot roll back
// is closed, so the pool never hands out one inside a transaction.
func (t *pipeTx) close(ctx context.Context) {
	if t.released {
		return
	}
	t.released = true
	if !t.done && t.begun {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if _, err := t.conn.Exec(rctx, "rollback"); err != nil {
			_ = t.conn.Conn().Close(rctx)
		}
		cancel()
	}
	t.done = true
	t.conn.Release()
}

// batch queues sql after a BEGIN (not sent yet) and the lead (not sent
// yet), and before a COMMIT (commitNext), and sends them together. The
// results it returns read the BEGIN and the lead first.
func (t *pipeTx) batch(ctx context.Context, sql string, args []any) (br pgx.BatchResults, commit bool) {
	b := &pgx.Batch{}
	begin, lead := t.queueLead(b)
	b.Queue(sql, args...)
	if t.commitNext {
		b.Queue("commit")
		t.commitNext, commit = false, true
	}
	br = t.conn.SendBatch(ctx, b)
	if begin || lead != nil {
		return &leadResults{BatchResults: br, begin: begin, lead: lead}, commit
	}
	return br, commit
}

// queueLead queues on b what must go before the next statement: BEGIN and
// the lead, each unless sent already. It returns what it queued.
func (t *pipeTx) queueLead(b *pgx.Batch) (begin bool, l *lead) {
	if !t.begun {
		b.Queue("begin")
		t.begun, begin = true, true
	}
	if t.lead != nil && !t.lead.sent {
		b.Queue(t.lead.sql, t.lead.args...)
		t.lead.sent, l = true, t.lead
	}
	return begin, l
}

// leadResults reads a batch's BEGIN and lead before the statement's
// results. A failed BEGIN or lead fails the statement: the server skipped
// it.
type leadResults struct {
	pgx.BatchResults
	begin bool
	lead  *lead
	read  bool
	err   error
}

func (r *leadResults) readLead() error {
	if r.read {
		return r.err
	}
	r.read = true
	if r.begin {
		if _, r.err = r.BatchResults.Exec(); r.err != nil {
			return r.err
		}
	}
	if r.lead != nil {
		r.lead.err = r.lead.read(r.BatchResults.QueryRow())
		r.err = r.lead.err
	}
	return r.err
}

func (r *leadResults) Exec() (pgconn.CommandTag, error) {
	if err := r.readLead(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return r.BatchResults.Exec()
}

func (r *leadResults) Query() (pgx.Rows, error) {
	if err := r.readLead(); err != nil {
		return nil, err
	}
	return r.BatchResults.Query()
}

func (r *leadResults) QueryRow() pgx.Row {
	if err := r.readLead(); err != nil {
		return errRow{err}
	}
	return r.BatchResults.QueryRow()
}

// sendLead sends the lead on its own (with BEGIN when not yet sent).
func (t *pipeTx) sendLead(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	b := &pgx.Batch{}
	begin, l := t.queueLead(b)
	br := &leadResults{BatchResults: t.conn.SendBatch(ctx, b), begin: begin, lead: l}
	err := br.readLead()
	if cerr := br.BatchResults.Close(); err == nil {
		err = cerr
	}
	return err
}

// direct reports whether a statement can go straight to the connection.
func (t *pipeTx) direct() bool {
	return t.begun && !t.commitNext && (t.lead == nil || t.lead.sent)
}

// readCommit reads the COMMIT of a batch whose statement succeeded.
func (t *pipeTx) readCommit(br pgx.BatchResults) error {
	tag, err := br.Exec()
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	if err == nil {
		t.done = true
	}
	return err
}

// Exec implements pgx.Tx.
func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.done {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	if t.direct() {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, commit := t.batch(ctx, sql, args)
	tag, err := br.Exec()
	if err == nil && commit {
		err = t.readCommit(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query implements pgx.Tx.
func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.done {
		return nil, pgx.ErrTxClosed
	}
	if t.direct() {
		return t.conn.Query(ctx, sql, args...)
	}
	br, commit := t.batch(ctx, sql, args)
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &pipeRows{Rows: rows, t: t, br: br, commit: commit}, nil
}

// QueryRow implements pgx.Tx.
func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.done {
		return errRow{pgx.ErrTxClosed}
	}
	if t.direct() {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	br, commit := t.batch(ctx, sql, args)
	return pipeRow{t: t, br: br, commit: commit}
}

// ensureBegun sends BEGIN (and the lead) on their own, for the methods
// that cannot carry them.
func (t *pipeTx) ensureBegun(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if t.lead != nil && !t.lead.sent {
		return t.sendLead(ctx)
	}
	if !t.begun {
		if _, err := t.conn.Exec(ctx, "begin"); err != nil {
			return err
		}
		t.begun = true
	}
	return nil
}

// Commit implements pgx.Tx. A transaction that sent nothing has nothing
// to commit.
func (t *pipeTx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if !t.begun {
		t.done = true
		return nil
	}
	tag, err := t.conn.Exec(ctx, "commit")
	if err == nil && tag.String() == "ROLLBACK" {
		t.done = true
		return pgx.ErrTxCommitRollback
	}
	if err == nil {
		t.done = true
	}
	return err
}

// Rollback implements pgx.Tx; it is a no-op on a finished transaction.
func (t *pipeTx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	if !t.begun {
		return nil
	}
	_, err := t.conn.Exec(ctx, "rollback")
	return err
}

// Begin implements pgx.Tx: a nested transaction is a savepoint.
func (t *pipeTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return nil, err
	}
	t.savepoints++
	sp := &savepointTx{pipeTx: t, name: fmt.Sprintf("sp_%d", t.savepoints)}
	if _, err := t.conn.Exec(ctx, "savepoint "+sp.name); err != nil {
		return nil, err
	}
	return sp, nil
}

// CopyFrom implements pgx.Tx.
func (t *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// SendBatch implements pgx.Tx.
func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.ensureBegun(ctx); err != nil {
		return errBatch{err: err}
	}
	return t.conn.SendBatch(ctx, b)
}

// LargeObjects implements pgx.Tx. handoff stores no large objects; pgx
// gives no way to make them on another Tx, so the result is unusable.
func (t *pipeTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Prepare implements pgx.Tx.
func (t *pipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return nil, err
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// Conn implements pgx.Tx.
func (t *pipeTx) Conn() *pgx.Conn { return t.conn.Conn() }

// savepointTx is a nested transaction of a pipeTx.
type savepointTx struct {
	*pipeTx
	name string
	done bool
}

// Commit releases the savepoint.
func (s *savepointTx) Commit(ctx context.Context) error { return s.end(ctx, "release savepoint ") }

// Rollback rolls back to the savepoint.
func (s *savepointTx) Rollback(ctx context.Context) error {
	return s.end(ctx, "rollback to savepoint ")
}

// end ends the savepoint with stmt (naming it), once.
func (s *savepointTx) end(ctx context.Context, stmt string) error {
	if s.done || s.pipeTx.done {
		return pgx.ErrTxClosed
	}
	s.done = true
	_, err := s.conn.Exec(ctx, stmt+s.name)
	return err
}

// pipeRow is the row of a QueryRow sent in a batch.
type pipeRow struct {
	t      *pipeTx
	br     pgx.BatchResults
	commit bool
}

func (r pipeRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if r.commit {
		// No rows, or a row that does not scan, is no failure to the
		// server: it ran the COMMIT. Read what it did either way (after a
		// failure there, it reads that failure again).
		if cerr := r.t.readCommit(r.br); err == nil {
			err = cerr
		}
	}
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// pipeRows are the rows of a Query sent in a batch; closing them reads
// the COMMIT that followed.
type pipeRows struct {
	pgx.Rows
	t      *pipeTx
	br     pgx.BatchResults
	commit bool
	closed bool
}

func (r *pipeRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *pipeRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	if r.commit {
		r.t.commitErr = r.t.readCommit(r.br)
	}
	_ = r.br.Close()
}

func (r *pipeRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.t.commitErr
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errBatch is the BatchResults of a batch that could not be sent.
type errBatch struct {
	pgx.BatchResults // methods pgx may add; unreachable
	err              error
}

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow{b.err} }
func (b errBatch) Close() error                     { return b.err }

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
