#!/usr/bin/env bash
# Replicas behind HAProxy on this machine (README: "Running several
# replicas"): one PostgreSQL, 1, 2 and 3 `handoff serve` behind
# deploy/haproxy.cfg, REST send through the balancer for each; then, with
# three, one replica killed (SIGKILL) mid-load: the errors clients saw,
# when (per second, the first and the last), the recovery time (as the
# output defines it) and the slowest send. Needs haproxy (Debian's
# package). Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${BENCH_SEND_AGENTS:-32}
SESSIONS=${BENCH_SESSIONS:-1000}
DURATION=${BENCH_DURATION:-10s}
LB_PORT=${BENCH_LB_PORT:-18090}
command -v haproxy >/dev/null || PATH=$PATH:/usr/sbin
command -v haproxy >/dev/null || { echo "needs haproxy (apt-get install haproxy)"; exit 1; }

. bench/env.sh
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

ready() { for _ in $(seq 1 150); do curl -fs "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "$1 not ready"; exit 1; }

# replicas N: N serve processes on ports 18081.., HAProxy in front of them.
replicas() {
  kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=()
  local n=$1 env=()
  for i in $(seq 1 "$n"); do
    HANDOFF_LISTEN=127.0.0.1:$((18080 + i)) ./bin/handoff serve 2>"$work/r$i.log" &
    pids+=($!)
    env+=("HANDOFF_REPLICA_$i=127.0.0.1:$((18080 + i))")
  done
  # The operator's config with as many server lines as replicas.
  awk -v n="$n" '/^ *server r[0-9]/ { if (substr($2, 2) + 0 > n) next } { print }' deploy/haproxy.cfg >"$work/haproxy.cfg"
  env HANDOFF_LB_LISTEN=127.0.0.1:$LB_PORT "${env[@]}" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  pids+=($!)
  for i in $(seq 1 "$n"); do ready "http://127.0.0.1:$((18080 + i))"; done
  ready "http://127.0.0.1:$LB_PORT"
}

send=(./bin/handoff bench send --url "http://127.0.0.1:$LB_PORT" --agents "$AGENTS" --sessions "$SESSIONS")
for n in 1 2 3; do
  replicas "$n"
  echo "== $n replica(s) behind HAProxy: REST send, $AGENTS agents over $SESSIONS sessions, $DURATION"
  "${send[@]}" --duration "$DURATION" "$@" | grep -E 'requests_per_s|errors|p50|p99|max'
done

# Fewer sessions, so they are all made before the kill (the load then
# runs for 15 s and the kill comes about 5 s into it).
echo "== 3 replicas, one killed (SIGKILL) 5 s into a 15 s load (200 sessions)"
./bin/handoff bench send --url "http://127.0.0.1:$LB_PORT" --agents "$AGENTS" --sessions 200 --duration 15s --timeline "$@" >"$work/kill.txt" &
load=$!
sleep 6
kill -9 "${pids[1]}" 2>/dev/null
killed=$(date +%s.%N)
wait "$load"
started=$(date -d "$(awk '$1 == "started_at" { print $2 }' "$work/kill.txt")" +%s.%N)
echo "killed replica 2 $(awk -v k="$killed" -v s="$started" 'BEGIN { printf "%.2f", k - s }') s into the load"
grep -E 'requests_per_s|error|p50|p99|max|ok_per_s|prefault|recovery' "$work/kill.txt"
