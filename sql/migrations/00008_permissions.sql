-- +goose Up
-- Questions with choices, and permission requests (design §12.1).
--
-- options: a question's choices, in order (labels).
-- kind: 'permission' on an agent's permission request (a question whose
--   options are allow once / allow for the session / deny, or a request a
--   session rule allowed at once); 'decision' on the person's answer to
--   one (about the request, not an instruction: never in the agent's
--   queue, never the answer to another question); 'record' on what an
--   agent's hook reported (it neither moves on from a question nor
--   changes the status).
-- permission: the request's tool_name, tool_input, tool_use_id and the
--   rule "allow for the session" would add.
-- decision: what became of a request: {"outcome": allow | allow_session |
--   deny | auto_allow | expired, "message", "rule", "answer_id",
--   "late": {...}}. NULL while it waits.
-- expires_at: when the agent stops waiting for the request; after it, a
--   request that nobody decided is expired even if its waiter vanished.
-- reply_to, option_index: on a person's message, the question it answers
--   and the option chosen.
ALTER TABLE messages
    ADD COLUMN options text[],
    ADD COLUMN kind text,
    ADD COLUMN permission jsonb,
    ADD COLUMN decision jsonb,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN reply_to uuid,
    ADD COLUMN option_index integer;

-- "Allow for the rest of the session": rules like Bash(ls:*) or Edit that
-- allow later matching requests at once. On the session, so the person
-- sees them and every replica applies them.
ALTER TABLE agent_instances ADD COLUMN permission_rules text[] NOT NULL DEFAULT '{}';

-- The view expands i.* when it is made: made again, it carries the rules.
-- Its question is the latest one that may still wait: a decided or
-- expired permission request is not.
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
        AND (m.kind IS NULL OR (m.decision IS NULL AND m.expires_at > now()))
    ORDER BY m.seq DESC LIMIT 1
) q ON i.status = 'AWAITING_INPUT';

-- +goose Down
DROP VIEW instance_overview;
ALTER TABLE agent_instances DROP COLUMN permission_rules;
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
ALTER TABLE messages
    DROP COLUMN options, DROP COLUMN kind, DROP COLUMN permission, DROP COLUMN decision,
    DROP COLUMN expires_at, DROP COLUMN reply_to, DROP COLUMN option_index;
