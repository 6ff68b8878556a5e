-- +goose Up
-- When an instance last had a message or changed status: the order of a
-- person's session list.
ALTER TABLE agent_instances ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now();
UPDATE agent_instances i SET last_activity_at = coalesce(
    (SELECT max(created_at) FROM messages m WHERE m.agent_instance_id = i.id), i.started_at);
CREATE INDEX agent_instances_user_activity_idx ON agent_instances (user_id, last_activity_at DESC, id DESC);

-- +goose Down
DROP INDEX agent_instances_user_activity_idx;
ALTER TABLE agent_instances DROP COLUMN last_activity_at;
