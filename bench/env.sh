# Sourced by the bench scripts: a PostgreSQL for the bench (unless
# DATABASE_URL is set) on loopback, the signing keys (unless JWT_* are
# set), and handoff built into bin/.
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
