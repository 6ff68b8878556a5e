-- name: CreateAPIKey :one
INSERT INTO api_keys (user_id, name, scope, expires_at)
VALUES (@user_id, @name, @scope, sqlc.narg(expires_at))
RETURNING *;

-- name: GetAPIKey :one
-- The auth check of a token: its jti and its sub must name one row.
SELECT * FROM api_keys WHERE id = @id AND user_id = @user_id;

-- name: ListAPIKeys :many
SELECT * FROM api_keys WHERE user_id = @user_id ORDER BY created_at, id;

-- name: RevokeAPIKey :one
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = @id AND user_id = @user_id
RETURNING *;

-- name: GetAPIKeyOwner :one
-- Operator use only (handoff token revoke KEY_ID): find whose key an id is,
-- so the revocation itself can go through the tenant-scoped RevokeAPIKey.
SELECT user_id FROM api_keys WHERE id = @id;
