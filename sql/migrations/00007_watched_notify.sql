-- +goose Up
-- Announce a change only where someone waits for it. NOTIFY is not free:
-- a committing transaction that notifies takes a lock every other
-- notifying commit in the database waits for, and each notification wakes
-- every listening connection. Most sends have nobody waiting (the person
-- is away, the agent is not blocked), so a change is announced only when
-- a hub watches its instance or its user.
--
-- A hub watches an id while any of its waiters waits on it: a row here,
-- keyed by the backend pid of the hub's LISTEN connection (so rows of a
-- hub that is gone can be told and removed). Unlogged: after a crash of
-- PostgreSQL every hub reconnects and watches again.
CREATE UNLOGGED TABLE handoff_watches (
    id uuid NOT NULL,
    listener integer NOT NULL,
    PRIMARY KEY (id, listener)
);

-- No wake-up may be lost between a writer deciding not to notify and a
-- waiter starting to watch. A writer holds a shared advisory lock on its
-- ids (until it commits) before it looks for watchers; a hub takes the
-- same lock exclusively to add its row. So a new watch waits for every
-- writer that may have looked already to commit (the waiter's first look,
-- after watching, sees their writes), and a writer that comes later waits
-- for the watch to commit and sees it (each statement of a function has
-- its own snapshot under READ COMMITTED). 1751215716 ('hand') is the
-- lock class; the key is the id's first 32 bits.
-- +goose StatementBegin
CREATE FUNCTION handoff_watch_key(id uuid) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || left(id::text, 8))::bit(32)::integer;
$$;
CREATE FUNCTION handoff_watch(id uuid, listener integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1751215716, handoff_watch_key(id));
    INSERT INTO handoff_watches VALUES (id, listener) ON CONFLICT DO NOTHING;
END $$;
CREATE OR REPLACE FUNCTION handoff_notify(instance_id uuid, user_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1751215716, handoff_watch_key(instance_id)),
        pg_advisory_xact_lock_shared(1751215716, handoff_watch_key(user_id));
    IF EXISTS (SELECT FROM handoff_watches w WHERE w.id = instance_id OR w.id = user_id) THEN
        PERFORM pg_notify('handoff_change', instance_id::text || ' ' || user_id::text);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION handoff_notify(instance_id uuid, user_id uuid) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('handoff_change', instance_id::text || ' ' || user_id::text);
$$;
-- +goose StatementEnd
DROP FUNCTION handoff_watch(uuid, integer);
DROP FUNCTION handoff_watch_key(uuid);
DROP TABLE handoff_watches;
