package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/handoffhq/handoff/bench"
)

// handoff bench: flags in, the bench package's load generator, the result
// out. It makes its own user and agent key in the server's database, so
// it needs DATABASE_URL and JWT_PRIVATE_KEY, as the server's operator.

const benchUsage = `handoff bench send|answer|waiters [--url http://127.0.0.1:8080] [--agents N] [--duration 10s]
  [--sessions N] [--questions N] [--think 10ms] [--mcp] [--timeline] [--pgbench] [--compare [--rounds N]] [--ceiling FILE] [--json]`

func benchCmd(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != bench.ModeSend && args[0] != bench.ModeAnswer && args[0] != bench.ModeWaiters) {
		return usagef("bench needs one of send, answer, waiters: %s", benchUsage)
	}
	mode := args[0]
	var (
		o                       bench.Options
		compare, asJSON         bool
		defaultAgents, sessions = 8, 0
	)
	switch mode {
	case bench.ModeSend:
		defaultAgents, sessions = 32, 1000
	case bench.ModeWaiters:
		defaultAgents = 1000
	}
	fs := flag.NewFlagSet("bench "+mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the server (loopback only)")
	fs.IntVar(&o.Agents, "agents", defaultAgents, "concurrent agents")
	fs.IntVar(&o.Sessions, "sessions", sessions, "sessions the agents cycle over (send)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each send load runs (send)")
	fs.IntVar(&o.Questions, "questions", 50, "questions per agent (answer)")
	fs.DurationVar(&o.Think, "think", 10*time.Millisecond, "how long the person takes to answer (answer)")
	fs.BoolVar(&o.MCP, "mcp", false, "agents use MCP tools instead of REST (send, answer)")
	fs.BoolVar(&o.Timeline, "timeline", false, "also report successes and errors per second, the first and last error, and the recovery from them (send)")
	fs.BoolVar(&o.PGBench, "pgbench", false, "also run the reference ceiling with pgbench and print the ratio (send)")
	fs.IntVar(&o.PGBenchClients, "pgbench-clients", 32, "pgbench clients of the ceiling (send)")
	fs.IntVar(&o.Rounds, "rounds", 3, "with --compare: rounds of REST, MCP and the ceiling, taking turns")
	fs.StringVar(&o.Ceiling, "ceiling", bench.DefaultCeiling(), "the reference ceiling, send-ceiling.sql, with send-ceiling-schema.sql beside it (send)")
	fs.BoolVar(&compare, "compare", false, "REST send, MCP log_step and the pgbench ceiling in one run, with their ratios (send)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: handoff bench %s [flags]\n", mode)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return nil
	} else if err != nil {
		return usagef("bench %s: %v (see handoff bench %s --help)", mode, err, mode)
	} else if fs.NArg() > 0 {
		return usagef("bench %s takes only flags, not %q", mode, fs.Arg(0))
	}
	if compare {
		if mode != bench.ModeSend {
			return usagef("--compare is for bench send")
		}
		mode = bench.ModeCompare
	}
	if err := o.Check(mode); err != nil {
		return usagef("%v", err)
	}
	var err error
	if o.DatabaseURL, err = databaseURL(getenv, true); err != nil {
		return err
	}
	src := readKeySource(getenv, "")
	if err := src.signing(": bench signs its own agent key, as the server's operator would"); err != nil {
		return err
	}
	if o.Keys, err = loadKeys(src); err != nil {
		return err
	}

	var res bench.Result
	switch mode {
	case bench.ModeSend:
		res, err = bench.Send(ctx, o)
	case bench.ModeCompare:
		res, err = bench.Compare(ctx, o)
	case bench.ModeAnswer:
		res, err = bench.Answer(ctx, o)
	case bench.ModeWaiters:
		res, err = bench.Waiters(ctx, o)
	}
	if err != nil {
		return err
	}
	res["bench"] = mode
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%v\n", k, res[k])
	}
	return tw.Flush()
}
