#!/usr/bin/env bash
# Runs handoff's load benchmarks on this machine: starts PostgreSQL (unless
# DATABASE_URL is set) and a handoff server on loopback, then
#   send     8 agents posting steps over REST, beside pgbench running the same
#            statements with the same client count (needs pgbench), and over MCP;
#   answer   answer-to-agent latency over REST long polls and MCP ask_question;
#   waiters  10,000 agents waiting at once, then all answered.
# Everything targets 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${BENCH_AGENTS:-8}
WAITERS=${BENCH_WAITERS:-10000}
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18080}

if [ -z "${DATABASE_URL:-}" ]; then
  # Host networking: the server and pgbench reach PostgreSQL on loopback
  # directly, without Docker's userland proxy in the way.
  docker start handoff-bench-pg >/dev/null 2>&1 ||
    docker run -d --name handoff-bench-pg --network host \
      -e POSTGRES_USER=handoff -e POSTGRES_PASSWORD=handoff -e POSTGRES_DB=handoff \
      "${HANDOFF_DEV_POSTGRES_IMAGE:-postgres:17-alpine}" \
      postgres -c port=54330 -c listen_addresses=127.0.0.1 >/dev/null
  export DATABASE_URL='postgres://handoff:handoff@127.0.0.1:54330/handoff?sslmode=disable'
fi
if [ -z "${JWT_PRIVATE_KEY:-}" ]; then
  [ -f .handoff/jwt_private.pem ] || go run ./cmd/handoff keys generate --out .handoff >/dev/null
  export JWT_PUBLIC_KEY=.handoff/jwt_public.pem JWT_PRIVATE_KEY=.handoff/jwt_private.pem
fi
go build -o bin/handoff ./cmd/handoff

PORT=$PORT ./bin/handoff serve 2>/tmp/handoff-bench-server.log &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
URL="http://127.0.0.1:$PORT"

echo "== send: REST vs pgbench (same statements, $AGENTS clients, $DURATION)"
pgbench_flag=--pgbench
command -v pgbench >/dev/null || { echo "(pgbench not installed: apt-get install postgresql-client)"; pgbench_flag=; }
./bin/handoff bench send --url "$URL" --agents "$AGENTS" --duration "$DURATION" $pgbench_flag "$@"
echo "== send: MCP log_step"
./bin/handoff bench send --url "$URL" --agents "$AGENTS" --duration "$DURATION" --mcp "$@"
echo "== answer: REST long poll"
./bin/handoff bench answer --url "$URL" --agents "$AGENTS" --questions 50 "$@"
echo "== answer: MCP (the wait of ask_question: wait_for_answer)"
./bin/handoff bench answer --url "$URL" --agents "$AGENTS" --questions 50 --think 30ms --mcp "$@"
echo "== waiters: $WAITERS at once"
./bin/handoff bench waiters --url "$URL" --agents "$WAITERS" "$@"
