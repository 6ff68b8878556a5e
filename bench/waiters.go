package bench

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/handoffhq/handoff/db"
)

// serverStats is what the server's /metrics and the database say about it.
type serverStats struct {
	rss, goroutines, waiters, poolTotal, poolMax float64
	dbConns                                      int
}

func (e *run) stats(ctx context.Context) (serverStats, error) {
	var s serverStats
	req, _ := http.NewRequestWithContext(ctx, "GET", e.opts.URL+"/metrics", nil)
	res, err := e.client.Do(req)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "process_resident_memory_bytes":
			s.rss = v
		case "go_goroutines":
			s.goroutines = v
		case "handoff_waiters":
			s.waiters = v
		case `handoff_db_connections{state="total"}`:
			s.poolTotal = v
		case `handoff_db_connections{state="max"}`:
			s.poolMax = v
		}
	}
	err = e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend'
		  AND application_name <> 'handoff-bench' AND pid <> pg_backend_pid()`).Scan(&s.dbConns)
	return s, err
}

// Waiters: N agents wait at once (REST long polls, one question each);
// memory, goroutines and database connections are read while they wait;
// then all are answered.
func Waiters(ctx context.Context, o Options) (Result, error) {
	e, err := start(ctx, o, ModeWaiters)
	if err != nil {
		return nil, err
	}
	defer e.close()
	o = e.opts
	qids := make([]string, o.Agents)
	if err := parallel(o.Agents, 32, func(n int) error {
		var err error
		qids[n], err = e.postAgent(ctx, n, "Waiting for you", true)
		return err
	}); err != nil {
		return nil, err
	}
	idle, err := e.stats(ctx)
	if err != nil {
		return nil, err
	}
	var (
		answered, failed atomic.Int64
		wg               sync.WaitGroup
		deadline         = time.Now().Add(3 * time.Minute)
	)
	for n := 0; n < o.Agents; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				p, err := e.poll(ctx, n, qids[n])
				if err != nil || p.Status != db.ReadOK {
					failed.Add(1)
					return
				}
				if len(p.Messages) > 0 {
					answered.Add(1)
					return
				}
			}
			failed.Add(1)
		}()
		if n%500 == 499 {
			time.Sleep(50 * time.Millisecond) // pace the connection burst under the listen backlog
		}
	}
	// Wait until the server holds them all.
	var waiting serverStats
	maxDB := idle.dbConns
	for {
		if waiting, err = e.stats(ctx); err != nil {
			return nil, err
		}
		maxDB = max(maxDB, waiting.dbConns)
		if int(waiting.waiters) >= o.Agents || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	allWaiting := int(waiting.waiters) >= o.Agents
	// Answer everyone, watching the database connections meanwhile.
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if s, err := e.stats(ctx); err == nil {
					maxDB = max(maxDB, s.dbConns)
				}
			}
		}
	}()
	err = parallel(o.Agents, 32, func(n int) error { return e.postAnswer(ctx, n, "go") })
	wg.Wait()
	close(stop)
	sampled.Wait()
	if err != nil {
		return nil, err
	}
	perWaiter := (waiting.rss - idle.rss) / float64(o.Agents) / 1024
	return Result{
		"waiters": o.Agents, "all_waiting_at_once": allWaiting, "answered": answered.Load(), "failed": failed.Load(),
		"rss_idle_mib": round(idle.rss / (1 << 20)), "rss_waiting_mib": round(waiting.rss / (1 << 20)),
		"rss_per_waiter_kib": round(perWaiter),
		"goroutines_idle":    idle.goroutines, "goroutines_waiting": waiting.goroutines,
		"db_pool_max": waiting.poolMax, "db_conns_idle": idle.dbConns, "db_conns_while_waiting": waiting.dbConns,
		"db_conns_max_seen": maxDB,
	}, nil
}
