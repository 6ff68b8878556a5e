package db_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
	"github.com/handoffhq/handoff/db/dbtest"
)

// Many people write, many agent senders and pollers consume, all on one
// instance at once: every user message is delivered exactly once, and
// every batch is in seq order.
func TestConcurrentSendersAndReaders(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	e.agent(inst, "start", false)

	const writers, perWriter, agents, perAgent, pollers, perPoller = 4, 15, 3, 15, 2, 15
	var (
		mu        sync.Mutex
		delivered = map[uuid.UUID]int{}
		batches   [][]db.Message
		wg        sync.WaitGroup
		errs      = make(chan error, writers+agents+pollers)
	)
	record := func(msgs []db.Message) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, msgs)
		for _, m := range msgs {
			delivered[m.ID]++
		}
	}
	sent := make(chan uuid.UUID, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				res, err := e.s.CreateUserMessage(e.ctx, db.CreateUserMessageParams{
					UserID: e.user, InstanceID: inst, Content: fmt.Sprintf("w%d-%d", w, i),
				})
				if err != nil {
					errs <- err
					return
				}
				sent <- res.MessageID
			}
		}()
	}
	for a := 0; a < agents; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perAgent; i++ {
				res, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
					UserID: e.user, InstanceID: inst, Content: fmt.Sprintf("a%d-%d", a, i), RequiresUserInput: i%3 == 0,
				})
				if err != nil {
					errs <- err
					return
				}
				record(res.Queued)
			}
		}()
	}
	for p := 0; p < pollers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPoller; i++ {
				inst, err := e.s.GetInstance(e.ctx, e.user, inst)
				if err != nil {
					errs <- err
					return
				}
				res, err := e.s.PendingMessages(e.ctx, e.user, inst.ID, inst.LastReadMessageID)
				if err != nil {
					errs <- err
					return
				}
				if res.Status == db.ReadStale && len(res.Messages) > 0 {
					errs <- fmt.Errorf("a stale read returned %d messages", len(res.Messages))
					return
				}
				record(res.Messages)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(sent)
	record(e.agent(inst, "drain", false).Queued)

	for _, b := range batches {
		for i := 1; i < len(b); i++ {
			if b[i].Seq <= b[i-1].Seq {
				t.Fatalf("batch out of seq order: %d after %d", b[i].Seq, b[i-1].Seq)
			}
		}
	}
	n := 0
	for id := range sent {
		n++
		if c := delivered[id]; c != 1 {
			t.Errorf("user message %s delivered %d times, want once", id, c)
		}
	}
	if n != writers*perWriter || len(delivered) != n {
		t.Fatalf("%d sent, %d distinct delivered", n, len(delivered))
	}
}

// Several first messages for one new instance at once: one instance, every
// message kept exactly once, and counted once. Rounds of it, each on a new
// instance (TestLockFindingNothingStopsWhatRidesBehindIt makes the race
// these met by chance certain).
func TestConcurrentFirstMessages(t *testing.T) {
	e := newEnv(t)
	const rounds, n = 10, 8
	for r := 0; r < rounds; r++ {
		inst := uuid.New()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
					UserID: e.user, InstanceID: inst, AgentType: "Claude Code", Content: fmt.Sprintf("hello %d", i),
				})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var msgs, steps int
		if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM messages WHERE agent_instance_id = $1),
			(SELECT step_count FROM agent_instances WHERE id = $1)`, inst).Scan(&msgs, &steps); err != nil {
			t.Fatal(err)
		}
		if msgs != n || steps != n {
			t.Fatalf("round %d: %d messages and a step count of %d, want %d", r, msgs, steps, n)
		}
	}
	if got := e.count("agent_instances"); got != rounds {
		t.Fatalf("%d instances, want %d", got, rounds)
	}
	if got := e.count("user_agents"); got != 1 {
		t.Fatalf("%d agent types, want 1", got)
	}
}

// The race TestConcurrentFirstMessages meets by chance, made certain: the
// instance is committed by another transaction after a send's lock found
// none but before the insert riding behind the lock takes its snapshot
// (the other transaction holds the messages table, so the insert waits
// for it while the lock does not). The send must store its message once:
// a lock that finds nothing lets nothing behind it run.
func TestLockFindingNothingStopsWhatRidesBehindIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := dbtest.URL(t)
	// The store has one connection, whose statements are prepared by a
	// first send: the next send's statements then go out without a
	// prepare round trip, the lock and the insert in one batch.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	one, err := db.NewPool(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.Close)
	aux, err := db.NewPool(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(aux.Close)
	e := &env{t: t, ctx: ctx, pool: aux, s: db.NewStore(one)}
	e.user = dbtest.User(t, e.s)
	e.agent(uuid.New(), "warm-up", false)

	inst := uuid.New()
	other, err := e.pool.Begin(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(e.ctx) //nolint:errcheck // after Commit, a no-op
	var pid int
	if _, err := other.Exec(e.ctx, `LOCK TABLE messages IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	if err := other.QueryRow(e.ctx, `
		WITH a AS (INSERT INTO user_agents (user_id, name) VALUES ($1, 'claude code')
		           ON CONFLICT (user_id, name) DO UPDATE SET name = EXCLUDED.name RETURNING id)
		INSERT INTO agent_instances (id, user_id, user_agent_id) SELECT $2, $1, a.id FROM a
		RETURNING pg_backend_pid()`, e.user, inst).Scan(&pid); err != nil {
		t.Fatal(err)
	}

	sent := make(chan error, 1)
	go func() {
		_, err := e.s.SendAgentMessage(e.ctx, db.SendAgentMessageParams{
			UserID: e.user, InstanceID: inst, AgentType: "Claude Code", Content: "hello",
		})
		sent <- err
	}()
	// The send waits on the other transaction: its insert for the table,
	// or (with the lock's error) its create path for the instance's id.
	for {
		var waiting bool
		if err := e.pool.QueryRow(e.ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> $1 AND wait_event_type = 'Lock')`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-sent:
			t.Fatalf("the send finished while the instance was uncommitted: %v", err)
		default:
		}
	}
	if err := other.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var msgs int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM messages WHERE agent_instance_id = $1`, inst).Scan(&msgs); err != nil {
		t.Fatal(err)
	}
	if msgs != 1 {
		t.Fatalf("%d messages stored for one send, want 1", msgs)
	}
}
