-- name: CreateWebhook :one
INSERT INTO webhooks (user_id, url, event_types, format, secret)
VALUES (@user_id, @url, @event_types::text[], @format, @secret)
RETURNING *;

-- name: ListWebhooks :many
SELECT * FROM webhooks WHERE user_id = @user_id ORDER BY created_at, id;

-- name: GetWebhook :one
SELECT * FROM webhooks WHERE id = @id AND user_id = @user_id;

-- name: DeleteWebhook :execrows
DELETE FROM webhooks WHERE id = @id AND user_id = @user_id;

-- name: WebhooksFor :many
-- The user's webhooks that take any of the event types.
SELECT id, event_types FROM webhooks WHERE user_id = @user_id AND event_types && @event_types::text[];

-- name: RecordDelivery :exec
INSERT INTO webhook_deliveries (webhook_id, user_id, event_id, event_type, attempt, status_code, error)
VALUES (@webhook_id, @user_id, @event_id, @event_type, @attempt, sqlc.narg(status_code), sqlc.narg(error));

-- name: ListDeliveries :many
SELECT * FROM webhook_deliveries WHERE webhook_id = @webhook_id AND user_id = @user_id
ORDER BY id DESC LIMIT @lim;
