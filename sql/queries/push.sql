-- name: UpsertPushSubscription :one
-- A device subscribes (again: a browser may renew its keys).
INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, name)
VALUES (@user_id, @endpoint, @p256dh, @auth, @name)
ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth, name = excluded.name
RETURNING *;

-- name: ListPushSubscriptions :many
SELECT * FROM push_subscriptions WHERE user_id = @user_id ORDER BY created_at, id;

-- name: GetPushSubscription :one
SELECT * FROM push_subscriptions WHERE id = @id AND user_id = @user_id;

-- name: DeletePushSubscription :execrows
DELETE FROM push_subscriptions WHERE id = @id AND user_id = @user_id;

-- name: PushSubscriptionIDs :many
-- The devices a notification goes to.
SELECT id FROM push_subscriptions WHERE user_id = @user_id ORDER BY id;

-- name: EnsureVAPIDKeys :exec
-- The first start's key pair; later starts keep the stored one.
INSERT INTO vapid_keys (private_key, public_key) VALUES (@private_key, @public_key)
ON CONFLICT (singleton) DO NOTHING;

-- name: GetVAPIDKeys :one
SELECT private_key, public_key FROM vapid_keys WHERE singleton;
