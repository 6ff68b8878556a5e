-- +goose Up
-- Web Push (design §12.2): a person's devices, and the server's VAPID key.
--
-- A subscription is what a browser's PushManager gave: the push service's
-- endpoint and the keys its messages are encrypted to (RFC 8291).
CREATE TABLE push_subscriptions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   text NOT NULL CHECK (endpoint <> ''),
    p256dh     text NOT NULL,
    auth       text NOT NULL,
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, endpoint)
);

-- The VAPID key pair (RFC 8292), made on first start. One row, in the
-- database every replica shares: a subscription made through one replica
-- is bound to this public key, and any replica sends to it.
CREATE TABLE vapid_keys (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    private_key text NOT NULL,
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE vapid_keys;
DROP TABLE push_subscriptions;
