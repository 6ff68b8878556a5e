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

-- name: QuestionWaits :one
-- Whether a question still waits for the person, so a push may show it:
-- its session has not ended, and it is a permission request that nobody
-- decided and that has not expired, or an ordinary question nothing moved
-- on from (as OpenPlainQuestion: no later message but requests,
-- decisions, hook records and answers to other questions).
SELECT EXISTS (
    SELECT FROM messages q
    JOIN agent_instances i ON i.id = q.agent_instance_id AND i.user_id = q.user_id
    WHERE q.id = @id AND q.user_id = @user_id
        AND q.sender_type = 'AGENT' AND q.requires_user_input
        AND i.status <> 'COMPLETED'
        AND CASE WHEN q.kind = 'permission' THEN q.decision IS NULL AND q.expires_at > now()
                 WHEN q.kind IS NULL THEN NOT EXISTS (
                     SELECT FROM messages u
                     WHERE u.agent_instance_id = q.agent_instance_id AND u.user_id = q.user_id
                         AND u.kind IS NULL AND u.seq > q.seq
                         AND (u.reply_to IS NULL OR u.reply_to = q.id))
                 ELSE false END
) AS waits;
