-- +goose Up
-- Costs that stay flat as data grows, and wake-ups no write can forget.

-- Omnara's step_number (the instance's agent messages that are not
-- questions) kept as a counter: counting on every log_step grew with the
-- session.
ALTER TABLE agent_instances ADD COLUMN step_count bigint NOT NULL DEFAULT 0;
UPDATE agent_instances i SET step_count = (
    SELECT count(*) FROM messages m
    WHERE m.agent_instance_id = i.id AND m.sender_type = 'AGENT' AND NOT m.requires_user_input);

-- The session list by status, in the list's order, so a status filter and
-- a deep cursor both stay index range scans.
DROP INDEX agent_instances_user_status_idx;
CREATE INDEX agent_instances_user_status_activity_idx
    ON agent_instances (user_id, status, last_activity_at DESC, id DESC);

-- Waking waiters is part of the schema. Every change a waiter or a live
-- view can care about writes an events row, and the row's insert
-- announces it; a moved read cursor (another reader consumed the queue)
-- has no event but makes a waiting reader stale, so it announces too. One
-- notification names the instance and its user ("<instance> <user>"): the
-- hub wakes the instance's waiters and the user's streams. Payloads are
-- ids, never content; NOTIFY is delivered only if the transaction
-- commits, and identical ones within it are folded into one, so an agent
-- message (an event and a moved cursor) sends one. This function and
-- db/hub.go are the only places that name the channel.
-- +goose StatementBegin
CREATE FUNCTION handoff_notify(instance_id uuid, user_id uuid) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('handoff_change', instance_id::text || ' ' || user_id::text);
$$;
CREATE FUNCTION handoff_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM handoff_notify(NEW.agent_instance_id, NEW.user_id);
    RETURN NULL;
END $$;
CREATE FUNCTION handoff_notify_cursor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM handoff_notify(NEW.id, NEW.user_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION handoff_notify_event();
CREATE TRIGGER agent_instances_cursor_notify AFTER UPDATE OF last_read_seq ON agent_instances
    FOR EACH ROW WHEN (OLD.last_read_seq IS DISTINCT FROM NEW.last_read_seq)
    EXECUTE FUNCTION handoff_notify_cursor();

-- The open question of a waiting session is its latest question: while
-- an instance is AWAITING_INPUT no person's message follows that question
-- (every person's message makes it ACTIVE), so no anti-join over the
-- conversation is needed, and the latest question is read backwards from
-- a small partial index. (The view also expands i.* when it is made: made
-- again, it carries step_count.)
CREATE INDEX messages_questions_idx ON messages (agent_instance_id, seq) WHERE requires_user_input;
DROP VIEW instance_overview;
CREATE VIEW instance_overview AS
SELECT i.*, ua.name AS agent_type_name,
    coalesce(q.id, '00000000-0000-0000-0000-000000000000'::uuid) AS question_id,
    coalesce(q.content, '') AS question_content,
    coalesce(q.created_at, 'epoch'::timestamptz) AS question_created_at
FROM agent_instances i
JOIN user_agents ua ON ua.id = i.user_agent_id AND ua.user_id = i.user_id
LEFT JOIN LATERAL (
    SELECT m.id, m.content, m.created_at FROM messages m
    WHERE m.agent_instance_id = i.id AND m.user_id = i.user_id
        AND m.sender_type = 'AGENT' AND m.requires_user_input
    ORDER BY m.seq DESC LIMIT 1
) q ON i.status = 'AWAITING_INPUT';

-- +goose Down
DROP INDEX messages_questions_idx;
DROP TRIGGER agent_instances_cursor_notify ON agent_instances;
DROP FUNCTION handoff_notify_cursor();
DROP TRIGGER events_notify ON events;
DROP FUNCTION handoff_notify_event();
DROP FUNCTION handoff_notify(uuid, uuid);
DROP INDEX agent_instances_user_status_activity_idx;
CREATE INDEX agent_instances_user_status_idx ON agent_instances (user_id, status);
DROP VIEW instance_overview;
ALTER TABLE agent_instances DROP COLUMN step_count;
CREATE VIEW instance_overview AS
SELECT i.*, ua.name AS agent_type_name,
    coalesce(q.id, '00000000-0000-0000-0000-000000000000'::uuid) AS question_id,
    coalesce(q.content, '') AS question_content,
    coalesce(q.created_at, 'epoch'::timestamptz) AS question_created_at
FROM agent_instances i
JOIN user_agents ua ON ua.id = i.user_agent_id AND ua.user_id = i.user_id
LEFT JOIN LATERAL (
    SELECT m.id, m.content, m.created_at FROM messages m
    WHERE m.agent_instance_id = i.id AND m.user_id = i.user_id
        AND m.sender_type = 'AGENT' AND m.requires_user_input
        AND NOT EXISTS (SELECT 1 FROM messages u
                        WHERE u.agent_instance_id = i.id AND u.sender_type = 'USER' AND u.seq > m.seq)
    ORDER BY m.seq DESC LIMIT 1
) q ON i.status = 'AWAITING_INPUT';
