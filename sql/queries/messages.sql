-- name: InsertMessage :one
INSERT INTO messages (user_id, agent_instance_id, sender_type, content, requires_user_input, message_metadata)
VALUES (@user_id, @agent_instance_id, @sender_type, @content, @requires_user_input, sqlc.narg(message_metadata))
RETURNING *;

-- name: ListUserMessagesAfter :many
-- The queue: the instance's USER messages after a seq (0 = from the start).
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND sender_type = 'USER' AND seq > @after_seq
ORDER BY seq;

-- name: GetAgentMessage :one
SELECT * FROM messages
WHERE id = @id AND user_id = @user_id AND sender_type = 'AGENT';

-- name: SetRequiresUserInput :exec
UPDATE messages SET requires_user_input = true WHERE id = @id AND user_id = @user_id;


-- name: CountSteps :one
-- Omnara's step_number: the instance's agent messages that are not questions.
SELECT count(*) FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND sender_type = 'AGENT' AND NOT requires_user_input;

-- name: FirstUserMessageAfter :one
-- The answer to a question: the first USER message after it.
SELECT * FROM messages
WHERE agent_instance_id = @agent_instance_id AND user_id = @user_id
    AND sender_type = 'USER' AND seq > @after_seq
ORDER BY seq
LIMIT 1;
