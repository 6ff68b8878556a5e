-- +goose NO TRANSACTION
-- +goose Up
-- Built without blocking writes to messages (CONCURRENTLY cannot run in a
-- transaction, hence a migration of its own).
--
-- Waiting permission requests of an instance (few, short-lived).
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_open_permissions_idx ON messages (agent_instance_id, seq)
    WHERE kind = 'permission' AND decision IS NULL;
-- An instance's ordinary questions: the latest is found without walking
-- its permission requests.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_plain_questions_idx ON messages (agent_instance_id, seq)
    WHERE requires_user_input AND kind IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS messages_plain_questions_idx;
DROP INDEX CONCURRENTLY IF EXISTS messages_open_permissions_idx;
