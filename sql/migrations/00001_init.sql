-- +goose Up
-- The core model (design §3). Every tenant row carries user_id, and every
-- query filters on it, so no query can reach another user's rows.

CREATE TYPE agent_status AS ENUM (
    'ACTIVE', 'AWAITING_INPUT', 'PAUSED', 'STALE', 'COMPLETED',
    'FAILED', 'KILLED', 'DISCONNECTED', 'DELETED'
);
CREATE TYPE sender_type AS ENUM ('AGENT', 'USER');
CREATE TYPE key_scope AS ENUM ('agent', 'user', 'admin');

CREATE TABLE users (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email        text NOT NULL UNIQUE CHECK (email <> ''),
    display_name text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per issued token; the token itself (a signed JWT) is never stored.
-- id is the token's jti.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    scope        key_scope NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at);

-- An agent type per user ("claude code"); names are stored lowercased.
CREATE TABLE user_agents (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (name = lower(name) AND name <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

-- A session of one agent. The id is chosen by the client, as in Omnara.
-- last_read_message_id is the agent's read cursor; last_read_seq is the seq
-- of that message, kept beside it so the queue is one index range scan.
CREATE TABLE agent_instances (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent_id        uuid NOT NULL REFERENCES user_agents (id) ON DELETE CASCADE,
    status               agent_status NOT NULL DEFAULT 'ACTIVE',
    name                 text,
    instance_metadata    jsonb,
    git_diff             text,
    started_at           timestamptz NOT NULL DEFAULT now(),
    ended_at             timestamptz,
    last_heartbeat_at    timestamptz,
    last_read_message_id uuid,
    last_read_seq        bigint,
    CHECK ((last_read_message_id IS NULL) = (last_read_seq IS NULL))
);
CREATE INDEX agent_instances_user_status_idx ON agent_instances (user_id, status);

-- seq is the order of everything (never timestamps): identity values are
-- handed out at insert, and every insert on an instance holds that instance's
-- row lock, so within an instance seq order is commit order.
CREATE TABLE messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq                 bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_instance_id   uuid NOT NULL REFERENCES agent_instances (id) ON DELETE CASCADE,
    sender_type         sender_type NOT NULL,
    content             text NOT NULL,
    requires_user_input boolean NOT NULL DEFAULT false,
    message_metadata    jsonb,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX messages_instance_seq_idx ON messages (agent_instance_id, seq);

ALTER TABLE agent_instances
    ADD CONSTRAINT agent_instances_last_read_fk
    FOREIGN KEY (last_read_message_id) REFERENCES messages (id);

-- A client's retry of a write with the same Idempotency-Key gets the stored
-- response again instead of a second row. request_hash tells a true retry
-- from a different request reusing the key.
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    operation    text NOT NULL,
    key          text NOT NULL CHECK (key <> '' AND length(key) <= 255),
    request_hash bytea NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, operation, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
ALTER TABLE agent_instances DROP CONSTRAINT agent_instances_last_read_fk;
DROP TABLE messages;
DROP TABLE agent_instances;
DROP TABLE user_agents;
DROP TABLE api_keys;
DROP TABLE users;
DROP TYPE key_scope;
DROP TYPE sender_type;
DROP TYPE agent_status;
