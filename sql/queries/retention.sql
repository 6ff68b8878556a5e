-- Retention: each statement deletes at most lim of a table's oldest rows
-- that are older than the cutoff, reading the table's oldest rows through
-- an index (never a scan of what is kept). Callers repeat until fewer than
-- lim go.

-- name: DeleteOldEvents :execrows
-- The oldest lim events (by seq, the primary key), those of them written
-- before the cutoff.
DELETE FROM events
WHERE seq IN (SELECT e.seq FROM events e ORDER BY e.seq LIMIT @lim)
    AND events.created_at < @before;

-- name: DeleteOldIdempotencyKeys :execrows
DELETE FROM idempotency_keys
WHERE (user_id, operation, key) IN (
    SELECT k.user_id, k.operation, k.key FROM idempotency_keys k
    WHERE k.created_at < @before ORDER BY k.created_at LIMIT @lim);

-- name: DeleteOldWebhookDeliveries :execrows
-- The oldest lim delivery attempts (by id), those made before the cutoff.
DELETE FROM webhook_deliveries
WHERE id IN (SELECT d.id FROM webhook_deliveries d ORDER BY d.id LIMIT @lim)
    AND webhook_deliveries.attempted_at < @before;
