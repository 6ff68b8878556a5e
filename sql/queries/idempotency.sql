-- name: ClaimIdempotencyKey :execrows
-- Inserts the key as taken by this transaction. A concurrent holder makes
-- this wait until it commits (then 0 rows: replay) or rolls back (then 1).
INSERT INTO idempotency_keys (user_id, operation, key, request_hash)
VALUES (@user_id, @operation, @key, @request_hash)
ON CONFLICT DO NOTHING;

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys WHERE user_id = @user_id AND operation = @operation AND key = @key;

-- name: SaveIdempotentResponse :exec
UPDATE idempotency_keys SET response = @response
WHERE user_id = @user_id AND operation = @operation AND key = @key;
