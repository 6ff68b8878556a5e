package db_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/handoffhq/handoff/db"
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
// message kept.
func TestConcurrentFirstMessages(t *testing.T) {
	e := newEnv(t)
	inst := uuid.New()
	const n = 8
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
	if got := e.count("agent_instances"); got != 1 {
		t.Fatalf("%d instances, want 1", got)
	}
	if got := e.count("user_agents"); got != 1 {
		t.Fatalf("%d agent types, want 1", got)
	}
	if got := e.count("messages"); got != n {
		t.Fatalf("%d messages, want %d", got, n)
	}
}
