-- name: InsertMessage :one
INSERT INTO messages (user_id, agent_instance_id, sender_type, content, requires_user_input, message_metadata,
    kind, reply_to, option_index)
VALUES (@user_id, @agent_instance_id, @sender_type, @content, @requires_user_input, sqlc.narg(message_metadata),
    sqlc.narg(kind), sqlc.narg(reply_to), sqlc.narg(option_index))
RETURNING *;

-- name: InsertAgentMessage :many
-- An agent message and all it does, in one statement (one round trip): the
-- message; the instance's status (a question, or a permission request that
-- still waits, waits for input; COMPLETED stays unless reopen), heartbeat, activity, step count (a step, not a question, counts),
-- read cursor (moved to the new message) and git diff (replaced when
-- set_git_diff); the event for the person's live view, whose insert wakes
-- waiters; and the queue the message hands the agent: the USER messages
-- after the old cursor. The caller holds the instance's lock from an
-- earlier statement (perhaps of the same round trip: the server takes
-- this statement's snapshot when it reaches it, after the lock), so the
-- snapshot has every message written on the instance before it, and the
-- instance row as locked. With keep_queue the cursor stays and nothing is
-- handed over (a record the agent did not write itself). One row per
-- queued message,
-- oldest first (or one row with no queued message), each with the new
-- message's id and seq and the instance's step count. Without the user's
-- instance it changes nothing and returns no row (it may be sent in one
-- round trip with the lock that finds none, and with COMMIT).
WITH msg AS (
    INSERT INTO messages (user_id, agent_instance_id, sender_type, content, requires_user_input, message_metadata,
        options, kind, permission, decision, expires_at)
    SELECT @user_id::uuid, @agent_instance_id::uuid, 'AGENT', @content::text, @requires_user_input::boolean,
           sqlc.narg(message_metadata)::jsonb, sqlc.narg(options)::text[], sqlc.narg(kind)::text,
           sqlc.narg(permission)::jsonb, sqlc.narg(decision)::jsonb, sqlc.narg(expires_at)::timestamptz
    FROM agent_instances o WHERE o.id = @agent_instance_id::uuid AND o.user_id = @user_id::uuid
    RETURNING id, seq
), inst AS (
    UPDATE agent_instances SET
        status = CASE WHEN status = 'COMPLETED' AND NOT @reopen::boolean THEN status
                      WHEN @requires_user_input::boolean THEN 'AWAITING_INPUT'::agent_status
                      WHEN sqlc.narg(kind)::text = 'record' AND status <> 'COMPLETED' THEN status
                      WHEN EXISTS (SELECT FROM messages p
                                   WHERE p.agent_instance_id = @agent_instance_id::uuid AND p.user_id = @user_id::uuid
                                       AND p.kind = 'permission' AND p.decision IS NULL AND p.expires_at > now())
                          THEN 'AWAITING_INPUT'::agent_status
                      ELSE 'ACTIVE'::agent_status END,
        ended_at = CASE WHEN @reopen::boolean THEN NULL ELSE ended_at END,
        last_heartbeat_at = now(),
        last_activity_at = now(),
        step_count = step_count + CASE WHEN @requires_user_input::boolean OR sqlc.narg(kind)::text IS NOT NULL
                                       THEN 0 ELSE 1 END,
        last_read_message_id = CASE WHEN @keep_queue::boolean THEN last_read_message_id ELSE (SELECT id FROM msg) END,
        last_read_seq = CASE WHEN @keep_queue::boolean THEN last_read_seq ELSE (SELECT seq FROM msg) END,
        git_diff = CASE WHEN @set_git_diff::boolean THEN sqlc.narg(git_diff)::text ELSE agent_instances.git_diff END
    WHERE agent_instances.id = @agent_instance_id::uuid AND agent_instances.user_id = @user_id::uuid
    RETURNING agent_instances.id, agent_instances.user_id, agent_instances.status, agent_instances.step_count
), ev AS (
    INSERT INTO events (user_id, agent_instance_id, kind, message_id, status)
    SELECT inst.user_id, inst.id, 'message', msg.id, inst.status FROM msg, inst
), queued AS (
    SELECT q.id, q.seq, q.content, q.created_at FROM messages q
    WHERE q.agent_instance_id = @agent_instance_id::uuid AND q.user_id = @user_id::uuid
        AND q.sender_type = 'USER' AND q.kind IS NULL AND NOT @keep_queue::boolean
        AND q.seq > coalesce((SELECT c.last_read_seq FROM agent_instances c
                              WHERE c.id = @agent_instance_id::uuid AND c.user_id = @user_id::uuid), 0)
)
SELECT msg.id AS message_id, msg.seq AS message_seq, inst.step_count,
    queued.id AS queued_id, queued.seq AS queued_seq, queued.content AS queued_content,
    queued.created_at AS queued_created_at
FROM msg CROSS JOIN inst LEFT JOIN queued ON true
ORDER BY queued.seq;

-- name: ListUserMessagesAfter :many
-- The queue: the instance's USER messages after a seq (0 = from the start),
-- but for decisions on permission requests (they are not instructions).
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND sender_type = 'USER' AND kind IS NULL AND seq > @after_seq
ORDER BY seq;

-- name: GetAgentMessage :one
SELECT * FROM messages
WHERE id = @id AND user_id = @user_id AND sender_type = 'AGENT';

-- name: SetRequiresUserInput :exec
-- Turns a step into a question: it no longer counts as a step.
WITH m AS (
    UPDATE messages SET requires_user_input = true
    WHERE messages.id = @id AND messages.user_id = @user_id AND NOT messages.requires_user_input
    RETURNING messages.agent_instance_id
)
UPDATE agent_instances SET step_count = step_count - 1
WHERE agent_instances.id = (SELECT agent_instance_id FROM m) AND agent_instances.user_id = @user_id;

-- name: FirstUserMessageAfter :one
-- The answer to a question: the first USER message after it that is not a
-- decision on a permission request, nor the answer to another question.
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND sender_type = 'USER' AND kind IS NULL AND seq > @after_seq
    AND (reply_to IS NULL OR reply_to = @question_id::uuid)
ORDER BY seq
LIMIT 1;

-- name: ListInstanceMessages :many
-- A page of an instance's conversation, oldest first, after a seq.
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id AND seq > @after_seq
ORDER BY seq
LIMIT @lim;

-- name: ListRecentMessages :many
-- The end of an instance's conversation: its latest messages, newest first
-- (messages_instance_seq_idx read backwards, stopping after lim rows).
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
ORDER BY seq DESC
LIMIT @lim;

-- name: OpenPermissions :many
-- The instance's permission requests that wait for the person, oldest first.
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND kind = 'permission' AND decision IS NULL AND expires_at > now()
ORDER BY seq;

-- name: OpenPlainQuestion :one
-- Whether the instance's latest question that is not a permission request
-- waits for an answer: nothing but requests, decisions, hook records and
-- answers to other questions follows it (a person's message answers it; a
-- step of the agent moves on from it).
SELECT EXISTS (
    SELECT FROM (
        SELECT q.id, q.seq FROM messages q
        WHERE q.agent_instance_id = @agent_instance_id AND q.user_id = @user_id
            AND q.requires_user_input AND q.kind IS NULL AND q.sender_type = 'AGENT'
        ORDER BY q.seq DESC LIMIT 1
    ) latest
    WHERE NOT EXISTS (
        SELECT FROM messages u
        WHERE u.agent_instance_id = @agent_instance_id AND u.user_id = @user_id
            AND u.kind IS NULL AND u.seq > latest.seq
            AND (u.reply_to IS NULL OR u.reply_to = latest.id))
) AS open;

-- name: LatestPlainQuestion :one
-- The instance's latest question that is not a permission request (the
-- one a person's message without reply_to answers).
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND requires_user_input AND sender_type = 'AGENT' AND kind IS NULL
ORDER BY seq DESC
LIMIT 1;

-- name: SetDecision :one
-- Records what became of a permission request.
UPDATE messages SET decision = @decision::jsonb
WHERE id = @id AND user_id = @user_id AND kind = 'permission'
RETURNING *;

-- name: InstancePreviews :many
-- For the session list: each instance's first message (its title when it
-- has no name) and its latest one (a preview), two index probes each.
SELECT i.id::uuid AS id,
    coalesce(f.content, '')::text AS first_content,
    coalesce(l.content, '')::text AS last_content,
    coalesce(l.sender_type::text, '')::text AS last_sender
FROM unnest(@ids::uuid[]) AS i(id)
LEFT JOIN LATERAL (
    SELECT m.content FROM messages m
    WHERE m.agent_instance_id = i.id AND m.user_id = @user_id AND m.kind IS DISTINCT FROM 'record'
    ORDER BY m.seq LIMIT 1
) f ON true
LEFT JOIN LATERAL (
    SELECT m.content, m.sender_type FROM messages m
    WHERE m.agent_instance_id = i.id AND m.user_id = @user_id
    ORDER BY m.seq DESC LIMIT 1
) l ON true;
