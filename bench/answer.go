package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/handoffhq/handoff/db"
)

// Answer: each agent asks questions one after another (REST) and waits for
// each (a REST long poll, or with --mcp the wait_for_answer tool, the wait
// of ask_question); the person answers each after --think; latency runs from
// the start of the answer's POST to the agent holding the answer.
func Answer(ctx context.Context, o Options) (Result, error) {
	e, err := start(ctx, o, ModeAnswer)
	if err != nil {
		return nil, err
	}
	defer e.close()
	o = e.opts
	var (
		mu         sync.Mutex
		all        latencies
		unanswered atomic.Int64
	)
	err = parallel(o.Agents, o.Agents, func(n int) error {
		var cs *mcp.ClientSession
		if o.MCP {
			var err error
			if cs, err = e.mcpSession(ctx); err != nil {
				return err
			}
			defer cs.Close()
		}
		if _, err := e.postAgent(ctx, n, "start", false); err != nil {
			return err
		}
		var mine latencies
		for q := 0; q < o.Questions; q++ {
			answered := make(chan time.Time, 1)
			respond := func() {
				time.Sleep(o.Think) // the person's reading time, not synchronisation
				t0 := time.Now()
				if err := e.postAnswer(ctx, n, fmt.Sprintf("answer %d", q)); err != nil {
					t0 = time.Time{}
				}
				answered <- t0
			}
			qid, err := e.postAgent(ctx, n, "?", true)
			if err != nil {
				return err
			}
			go respond()
			var got bool
			if o.MCP {
				// The MCP wait path of ask_question, on a question stored
				// first so the person never answers before it exists.
				out, err := callTool(ctx, cs, "wait_for_answer", map[string]any{"question_id": qid})
				got = err == nil && out["answer"] == fmt.Sprintf("answer %d", q)
			} else {
				for {
					p, err := e.poll(ctx, n, qid)
					if err != nil {
						return err
					}
					if len(p.Messages) > 0 || p.Status != db.ReadOK {
						got = len(p.Messages) > 0
						break
					}
				}
			}
			t1 := time.Now()
			t0 := <-answered
			if !got || t0.IsZero() {
				unanswered.Add(1)
				continue
			}
			mine = append(mine, t1.Sub(t0))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	via := "rest-long-poll"
	if o.MCP {
		via = "mcp-wait_for_answer"
	}
	return Result{
		"via": via, "agents": o.Agents, "questions": o.Agents * o.Questions, "answered": len(all),
		"unanswered": unanswered.Load(), "think": o.Think.String(),
		"answer_to_agent_p50": all.pct(0.50), "answer_to_agent_p99": all.pct(0.99), "answer_to_agent_max": all.pct(1),
	}, nil
}
