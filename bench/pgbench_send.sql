-- The statements of one POST /api/v1/messages/agent (db.Store.SendAgentMessage
-- for a step on an existing instance: LockInstance, ListUserMessagesAfter,
-- InsertAgentMessage in one transaction), for pgbench -M prepared: the bare
-- SQL ceiling that `handoff bench send --pgbench` compares the server with.
-- Client n uses the instance the bench made for agent n,
-- md5('bench-' || run || '-' || n)::uuid. Variables (pgbench -D): run, user.
BEGIN;
SELECT id AS inst, coalesce(last_read_seq, 0) AS cur FROM agent_instances
    WHERE id = md5('bench-' || :run || '-' || :client_id)::uuid AND user_id = :user
    FOR UPDATE \gset
SELECT id, seq, content, created_at FROM messages
    WHERE agent_instance_id = :inst AND user_id = :user AND sender_type = 'USER' AND seq > :cur
    ORDER BY seq;
WITH msg AS (
    INSERT INTO messages (user_id, agent_instance_id, sender_type, content, requires_user_input, message_metadata)
    VALUES (:user, :inst, 'AGENT', 'step', false, NULL)
    RETURNING *
), inst AS (
    UPDATE agent_instances SET
        status = CASE WHEN status = 'COMPLETED' THEN status ELSE 'ACTIVE'::agent_status END,
        last_heartbeat_at = now(), last_activity_at = now(),
        last_read_message_id = (SELECT id FROM msg),
        last_read_seq = (SELECT seq FROM msg)
    WHERE agent_instances.id = :inst AND agent_instances.user_id = :user
    RETURNING agent_instances.id, agent_instances.user_id, agent_instances.status
), ev AS (
    INSERT INTO events (user_id, agent_instance_id, kind, message_id, status)
    SELECT inst.user_id, inst.id, 'message', msg.id, inst.status FROM msg, inst
    RETURNING user_id, agent_instance_id
)
SELECT msg.* FROM msg,
    (SELECT pg_notify('handoff_instance', agent_instance_id::text), pg_notify('handoff_user', user_id::text) FROM ev) AS notified;
COMMIT;
