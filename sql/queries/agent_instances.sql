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

-- name: GetInstanceWithAgent :one
SELECT sqlc.embed(agent_instances), user_agents.name AS agent_type_name
FROM agent_instances
JOIN user_agents ON user_agents.id = agent_instances.user_agent_id
    AND user_agents.user_id = agent_instances.user_id
WHERE agent_instances.id = @id AND agent_instances.user_id = @user_id;

-- name: SetReadCursor :exec
UPDATE agent_instances SET last_read_message_id = @message_id::uuid, last_read_seq = @message_seq::bigint
WHERE id = @id AND user_id = @user_id;

-- name: SetStatusUnlessCompleted :exec
UPDATE agent_instances SET status = @status
WHERE id = @id AND user_id = @user_id AND status <> 'COMPLETED';

-- name: EndInstance :one
UPDATE agent_instances SET status = 'COMPLETED', ended_at = coalesce(ended_at, now())
WHERE id = @id AND user_id = @user_id
RETURNING *;

-- name: TouchHeartbeat :one
UPDATE agent_instances SET last_heartbeat_at = now()
WHERE id = @id AND user_id = @user_id
RETURNING last_heartbeat_at;

-- name: NotifyInstance :exec
-- Tells every handoff process that the instance changed. Sent inside the
-- writing transaction, so it is delivered only if that commits; the
-- payload is the instance id, never content.
SELECT pg_notify('handoff_instance', sqlc.arg(instance_id)::text);
