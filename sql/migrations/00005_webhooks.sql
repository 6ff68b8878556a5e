-- +goose Up
-- A person's webhooks: where handoff reaches them (Slack, ntfy, a bot).
-- The signing secret is shown once at creation and used to sign every
-- delivery (Standard Webhooks).
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url         text NOT NULL,
    event_types text[] NOT NULL,
    format      text NOT NULL CHECK (format IN ('standard', 'slack')),
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id);

-- Every delivery attempt, for the person to see.
CREATE TABLE webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    attempt     integer NOT NULL,
    status_code integer,
    error       text,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id DESC);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
