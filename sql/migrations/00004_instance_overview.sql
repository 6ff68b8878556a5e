-- +goose Up
-- A session as the person's views show it: with its agent type's name and,
-- while it waits for input, its open question (its latest question with no
-- user message after it). No open question: the nil uuid, '' and epoch.
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

-- +goose Down
DROP VIEW instance_overview;
