-- name: UpsertUserAgent :one
-- DO UPDATE (not DO NOTHING) so that a row inserted by a concurrent
-- transaction is returned too.
INSERT INTO user_agents (user_id, name)
VALUES (@user_id, @name)
ON CONFLICT (user_id, name) DO UPDATE SET name = EXCLUDED.name
RETURNING *;
