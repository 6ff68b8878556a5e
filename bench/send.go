package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Send: the agents post steps as fast as they can for the duration, over
// REST (or MCP log_step), each cycling over its share of the sessions.
// With PGBench, the reference ceiling runs after the load, on the same
// PostgreSQL with the same duration, and ratio is steps/s ÷ pgbench tps.
func Send(ctx context.Context, o Options) (Result, error) {
	r, err := start(ctx, o, ModeSend)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.makeSessions(ctx); err != nil {
		return nil, err
	}
	s, err := r.sendLoad(ctx, r.opts.MCP)
	if err != nil {
		return nil, err
	}
	via := "rest"
	if r.opts.MCP {
		via = "mcp"
	}
	res := Result{
		"via": via, "agents": r.opts.Agents, "sessions": r.opts.Sessions, "seconds": round(s.elapsed.Seconds()),
		"requests": s.requests, "errors": s.errors, "requests_per_s": round(s.perSecond()),
		"p50": s.lat.pct(0.50), "p99": s.lat.pct(0.99), "max": s.lat.pct(1),
	}
	if r.opts.Timeline {
		res["started_at"] = s.start.Format("2006-01-02T15:04:05.000Z07:00")
		for k, v := range s.timeline.report(r.opts.Duration) {
			res[k] = v
		}
	}
	if r.opts.PGBench {
		tps, err := r.ceiling(ctx)
		if err != nil {
			return nil, err
		}
		res["pgbench_clients"] = r.opts.PGBenchClients
		res["pgbench_tps"] = round(tps)
		res["ratio"] = round(s.perSecond() / tps)
	}
	return res, nil
}

// Compare measures, in one run on the same sessions, REST send steps/s,
// MCP log_step calls/s and the pgbench ceiling's tps, taking turns for
// Rounds rounds, and reports the totals' REST/ceiling and MCP/REST (and
// each round's, for their spread).
func Compare(ctx context.Context, o Options) (Result, error) {
	r, err := start(ctx, o, ModeCompare)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.makeSessions(ctx); err != nil {
		return nil, err
	}
	var rest, viaMCP loadStats
	var tpsSum float64
	var restRounds, mcpRounds []float64
	for range r.opts.Rounds {
		a, err := r.sendLoad(ctx, false)
		if err != nil {
			return nil, err
		}
		b, err := r.sendLoad(ctx, true)
		if err != nil {
			return nil, err
		}
		tps, err := r.ceiling(ctx)
		if err != nil {
			return nil, err
		}
		restRounds = append(restRounds, round(a.perSecond()/tps))
		mcpRounds = append(mcpRounds, round(b.perSecond()/a.perSecond()))
		rest, viaMCP, tpsSum = rest.add(a), viaMCP.add(b), tpsSum+tps
	}
	tps := tpsSum / float64(r.opts.Rounds)
	return Result{
		"rounds": r.opts.Rounds, "ratio_rest_to_ceiling_rounds": restRounds, "ratio_mcp_to_rest_rounds": mcpRounds,
		"agents": r.opts.Agents, "sessions": r.opts.Sessions, "seconds_each": round(r.opts.Duration.Seconds()),
		"rest_steps": rest.requests, "rest_errors": rest.errors, "rest_steps_per_s": round(rest.perSecond()),
		"rest_p50": rest.lat.pct(0.50), "rest_p99": rest.lat.pct(0.99),
		"mcp_calls": viaMCP.requests, "mcp_errors": viaMCP.errors, "mcp_calls_per_s": round(viaMCP.perSecond()),
		"mcp_p50": viaMCP.lat.pct(0.50), "mcp_p99": viaMCP.lat.pct(0.99),
		"pgbench_clients": r.opts.PGBenchClients, "pgbench_tps": round(tps),
		"ratio_rest_to_ceiling": round(rest.perSecond() / tps),
		"ratio_mcp_to_rest":     round(viaMCP.perSecond() / rest.perSecond()),
	}, nil
}

// makeSessions starts the run's sessions.
func (r *run) makeSessions(ctx context.Context) error {
	return parallel(r.opts.Sessions, 16, func(n int) error {
		_, err := r.postAgent(ctx, n, "start", false)
		return err
	})
}

// loadStats is one load's count, errors and latencies (and, with
// Timeline, when they happened).
type loadStats struct {
	requests int
	errors   int64
	start    time.Time
	elapsed  time.Duration
	lat      latencies
	timeline *timeline
}

// add sums two loads (their rates are then the overall rate).
func (s loadStats) add(o loadStats) loadStats {
	return loadStats{requests: s.requests + o.requests, errors: s.errors + o.errors,
		elapsed: s.elapsed + o.elapsed, lat: append(s.lat, o.lat...)}
}

func (s loadStats) perSecond() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.requests) / s.elapsed.Seconds()
}

// sendLoad runs the agents for the duration; agent n posts to sessions n,
// n+agents, n+2·agents, … in turn.
func (r *run) sendLoad(ctx context.Context, viaMCP bool) (loadStats, error) {
	o := r.opts
	var mcps []*mcp.ClientSession
	if viaMCP {
		mcps = make([]*mcp.ClientSession, o.Agents)
		defer func() {
			for _, cs := range mcps {
				if cs != nil {
					cs.Close()
				}
			}
		}()
		if err := parallel(o.Agents, 16, func(n int) error {
			var err error
			mcps[n], err = r.mcpSession(ctx)
			return err
		}); err != nil {
			return loadStats{}, err
		}
	}
	var (
		mu     sync.Mutex
		all    latencies
		errs   atomic.Int64
		wg     sync.WaitGroup
		tl     timeline
		start  = time.Now()
		cutoff = start.Add(o.Duration)
	)
	for n := 0; n < o.Agents; n++ {
		var share []string
		for s := n; s < o.Sessions; s += o.Agents {
			share = append(share, r.instance(s).String())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies := make([][]byte, len(share))
			for i, inst := range share {
				bodies[i] = []byte(`{"agent_instance_id":"` + inst + `","content":"step"}`)
			}
			var mine latencies
			var myTimeline timeline
			for i := 0; time.Now().Before(cutoff); i = (i + 1) % len(share) {
				t0 := time.Now()
				var err error
				if viaMCP {
					err = r.postLogStep(ctx, mcps[n], share[i], int64(i))
				} else {
					err = r.postStep(ctx, bodies[i])
				}
				if o.Timeline {
					myTimeline.add(time.Since(start), err != nil)
				}
				if err != nil {
					errs.Add(1)
					if ctx.Err() != nil {
						break
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			tl.merge(&myTimeline)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return loadStats{}, err
	}
	return loadStats{requests: len(all), errors: errs.Load(), start: start, elapsed: time.Since(start), lat: all, timeline: &tl}, nil
}

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// ceiling runs the reference ceiling script with pgbench (PGBenchClients
// clients, -j 2, the run's duration) in a schema of its own on the
// server's database, made from the schema file beside the script and
// dropped afterwards, and returns its tps.
func (r *run) ceiling(ctx context.Context) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return 0, errors.New("pgbench is not installed (Debian: apt-get install postgresql-client)")
	}
	ddl, err := os.ReadFile(CeilingSchema(r.opts.Ceiling))
	if err != nil {
		return 0, err
	}
	schema := fmt.Sprintf("handoff_bench_ceiling_%d", r.id)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := r.pool.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return 0, fmt.Errorf("ceiling schema: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = r.pool.Exec(dctx, "DROP SCHEMA "+ident+" CASCADE")
	}()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+ident); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, string(ddl)); err != nil {
		return 0, fmt.Errorf("%s: %w", CeilingSchemaFile, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	clients := r.opts.PGBenchClients
	cmd := exec.CommandContext(ctx, bin, "-n", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(2, clients)),
		"-T", strconv.Itoa(max(1, int(r.opts.Duration.Round(time.Second).Seconds()))),
		"-f", r.opts.Ceiling, libpqURL(r.opts.DatabaseURL))
	cmd.Env = append(os.Environ(), "PGOPTIONS="+strings.TrimSpace(os.Getenv("PGOPTIONS")+" -c search_path="+schema),
		"PGAPPNAME=handoff-bench")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench %s: %v\n%s", filepath.Base(r.opts.Ceiling), err, out)
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// libpqURL drops pgx's own pool_* settings, which libpq refuses.
func libpqURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
