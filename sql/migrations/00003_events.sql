-- +goose Up
-- The outbox of what a person's live view needs to know: one row per
-- change (a message, a status), ids and small values only. Each row keeps
-- the id of the transaction that wrote it: a reader hands out only rows of
-- transactions older than every transaction still running (the snapshot's
-- xmin), in (xid, seq) order, so a client resuming after its last (xid, seq)
-- gets exactly what it missed: no gap, no repeat.
CREATE TABLE events (
    seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid               bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_instance_id uuid NOT NULL,
    kind              text NOT NULL,
    message_id        uuid,
    status            agent_status NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_user_xid_idx ON events (user_id, xid, seq);

-- The oldest transaction still running, as events.xid counts: events of
-- older transactions are final.
CREATE FUNCTION handoff_xmin() RETURNS bigint LANGUAGE sql STABLE
    RETURN pg_snapshot_xmin(pg_current_snapshot())::text::bigint;

-- +goose Down
DROP FUNCTION handoff_xmin();
DROP TABLE events;
