-- name: CreateInstance :one
-- The id is the client's; if it is taken (by this user or another) nothing is
-- inserted and no row is returned.
INSERT INTO agent_instances (id, user_id, user_agent_id, name, instance_metadata)
VALUES (@id, @user_id, @user_agent_id, sqlc.narg(name), sqlc.narg(instance_metadata))
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: GetInstance :one
SELECT * FROM agent_instances WHERE id = @id AND user_id = @user_id;

-- name: LockInstance :one
-- Every write on an instance holds its row lock first: writers on one
-- instance are serialised, so seq order is commit order.
SELECT * FROM agent_instances WHERE id = @id AND user_id = @user_id FOR UPDATE;

-- name: LockInstanceOrRaise :one
-- LockInstance for a lock sent in one round trip with the statements
-- after it: no such instance is an error (no_data_found), which aborts the
-- transaction, so nothing sent behind the lock runs without it.
SELECT * FROM handoff_lock_instance(@id::uuid, @user_id::uuid);

-- name: GetInstanceOverview :one
SELECT * FROM instance_overview WHERE id = @id AND user_id = @user_id;

-- name: RecordUserMessage :exec
-- After a user message: it answers a waiting question (AWAITING_INPUT ->
-- ACTIVE unless still_waiting: another question still waits; COMPLETED
-- stays), counts as activity, with mark_as_read moves
-- the agent's read cursor to it, and is an event of the live view (whose
-- insert wakes the instance's waiters and the user's streams).
WITH upd AS (
    UPDATE agent_instances SET
        status = CASE WHEN status = 'AWAITING_INPUT' AND NOT @still_waiting::boolean THEN 'ACTIVE'::agent_status
                      ELSE status END,
        last_activity_at = now(),
        last_read_message_id = CASE WHEN @mark_as_read::boolean THEN @message_id::uuid ELSE last_read_message_id END,
        last_read_seq = CASE WHEN @mark_as_read::boolean THEN @message_seq::bigint ELSE last_read_seq END
    WHERE agent_instances.id = @id::uuid AND agent_instances.user_id = @user_id::uuid
    RETURNING agent_instances.id, agent_instances.user_id, agent_instances.status
)
INSERT INTO events (user_id, agent_instance_id, kind, message_id, status)
SELECT upd.user_id, upd.id, 'message', @message_id::uuid, upd.status FROM upd;

-- name: SetReadCursor :exec
-- Moves the agent's read cursor (a reader holding the old cursor is now
-- stale: the schema wakes the instance's waiters).
UPDATE agent_instances SET last_read_message_id = @message_id::uuid, last_read_seq = @message_seq::bigint
WHERE id = @id::uuid AND user_id = @user_id::uuid;

-- name: SetStatusUnlessCompleted :exec
UPDATE agent_instances SET status = @status, last_activity_at = now()
WHERE id = @id AND user_id = @user_id AND status <> 'COMPLETED';

-- name: EndInstance :one
UPDATE agent_instances SET status = 'COMPLETED', ended_at = coalesce(ended_at, now()),
    last_activity_at = CASE WHEN status = 'COMPLETED' THEN last_activity_at ELSE now() END
WHERE id = @id AND user_id = @user_id
RETURNING *;

-- name: TouchHeartbeat :one
UPDATE agent_instances SET last_heartbeat_at = now()
WHERE id = @id AND user_id = @user_id
RETURNING last_heartbeat_at;

-- name: ListInstances :many
-- A page of the user's sessions, latest activity first, before a
-- (last_activity_at, id) cursor. The first page's cursor is ('infinity',
-- the largest uuid): the cursor is always a bound, so every plan, custom
-- or generic, is a range scan of agent_instances_user_activity_idx.
SELECT * FROM instance_overview
WHERE user_id = @user_id
    AND (last_activity_at, id) < (@before_at::timestamptz, @before_id::uuid)
ORDER BY last_activity_at DESC, id DESC
LIMIT @lim;

-- name: ListInstancesByStatus :many
-- ListInstances of one status (agent_instances_user_status_activity_idx).
SELECT * FROM instance_overview
WHERE user_id = @user_id AND status = @status::agent_status
    AND (last_activity_at, id) < (@before_at::timestamptz, @before_id::uuid)
ORDER BY last_activity_at DESC, id DESC
LIMIT @lim;

-- name: AddPermissionRule :exec
-- Allows requests matching rule for the rest of the session.
UPDATE agent_instances SET permission_rules = array_append(permission_rules, @rule::text)
WHERE id = @id AND user_id = @user_id AND NOT (@rule::text = ANY (permission_rules));
