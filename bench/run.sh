#!/usr/bin/env bash
# Runs handoff's load benchmarks on this machine: starts PostgreSQL (unless
# DATABASE_URL is set) and a handoff server on loopback, then
#   send     32 agents over 1,000 sessions posting steps over REST, then over
#            MCP log_step, then the team's reference ceiling with pgbench
#            (32 clients, same PostgreSQL, same duration) in the same run,
#            with the ratios REST/ceiling and MCP/REST (needs pgbench and
#            send-ceiling.sql, found at ../shared/bench/ or BENCH_CEILING);
#   answer   answer-to-agent latency over REST long polls and MCP ask_question;
#   waiters  10,000 agents waiting at once, then all answered.
# Everything targets 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SEND_AGENTS=${BENCH_SEND_AGENTS:-32}
SESSIONS=${BENCH_SESSIONS:-1000}
CEILING=${BENCH_CEILING:-../shared/bench/send-ceiling.sql}
AGENTS=${BENCH_AGENTS:-8}
WAITERS=${BENCH_WAITERS:-10000}
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18080}

. bench/env.sh

PORT=$PORT ./bin/handoff serve 2>/tmp/handoff-bench-server.log &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
URL="http://127.0.0.1:$PORT"

send=(./bin/handoff bench send --url "$URL" --agents "$SEND_AGENTS" --sessions "$SESSIONS" --duration "$DURATION")
if command -v pgbench >/dev/null && [ -f "$CEILING" ]; then
  echo "== send: REST, MCP log_step and the pgbench ceiling ($SEND_AGENTS agents over $SESSIONS sessions, 32 pgbench clients, $DURATION each)"
  "${send[@]}" --compare --ceiling "$CEILING" "$@"
else
  command -v pgbench >/dev/null || echo "(pgbench not installed: apt-get install postgresql-client; no ceiling)"
  [ -f "$CEILING" ] || echo "(no reference ceiling at $CEILING: set BENCH_CEILING; no ceiling)"
  echo "== send: REST ($SEND_AGENTS agents over $SESSIONS sessions, $DURATION)"
  "${send[@]}" "$@"
  echo "== send: MCP log_step"
  "${send[@]}" --mcp "$@"
fi
echo "== answer: REST long poll"
./bin/handoff bench answer --url "$URL" --agents "$AGENTS" --questions 50 "$@"
echo "== answer: MCP (the wait of ask_question: wait_for_answer)"
./bin/handoff bench answer --url "$URL" --agents "$AGENTS" --questions 50 --think 30ms --mcp "$@"
echo "== waiters: $WAITERS at once"
./bin/handoff bench waiters --url "$URL" --agents "$WAITERS" "$@"
