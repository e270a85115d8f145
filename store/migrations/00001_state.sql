-- +goose Up
CREATE TABLE instances (
    id                text        PRIMARY KEY,
    service_id        text        NOT NULL,
    plan_id           text        NOT NULL,
    organization_guid text        NOT NULL,
    space_guid        text        NOT NULL,
    parameters        jsonb       NOT NULL DEFAULT '{}',
    context           jsonb       NOT NULL DEFAULT '{}',
    backend           text        NOT NULL,
    node              text        NULL,
    state             text        NOT NULL
        CONSTRAINT instances_state_check
        CHECK (state IN ('provisioning', 'ready', 'updating', 'deprovisioning', 'failed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Placement counts the instances per node of one backend.
CREATE INDEX instances_backend_node_idx ON instances (backend, node) WHERE node IS NOT NULL;

CREATE TABLE bindings (
    id                 text        PRIMARY KEY,
    instance_id        text        NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    service_id         text        NOT NULL,
    plan_id            text        NOT NULL,
    app_guid           text        NOT NULL DEFAULT '',
    bind_resource      jsonb       NOT NULL DEFAULT '{}',
    parameters         jsonb       NOT NULL DEFAULT '{}',
    context            jsonb       NOT NULL DEFAULT '{}',
    -- The generated password, sealed (AES-256-GCM, nonce first) under the key secret_key_id.
    secret             bytea       NOT NULL,
    secret_key_id      text        NOT NULL,
    -- The credentials JSON returned to the application, sealed; NULL until the bind succeeded.
    credentials        bytea       NULL,
    credentials_key_id text        NULL,
    state              text        NOT NULL
        CONSTRAINT bindings_state_check
        CHECK (state IN ('creating', 'bound', 'deleting', 'failed')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bindings_credentials_key_check CHECK ((credentials IS NULL) = (credentials_key_id IS NULL))
);

CREATE INDEX bindings_instance_id_idx ON bindings (instance_id);

-- No foreign key on instance_id or binding_id: an operation outlives what it acts on, so a
-- finished deprovision or unbind can still be polled.
CREATE TABLE operations (
    id                   text        PRIMARY KEY,
    kind                 text        NOT NULL
        CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind')),
    instance_id          text        NOT NULL,
    binding_id           text        NULL,
    state                text        NOT NULL
        CONSTRAINT operations_state_check
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    description          text        NOT NULL DEFAULT '',
    attempt              int         NOT NULL DEFAULT 0,
    max_attempts         int         NOT NULL CONSTRAINT operations_max_attempts_check CHECK (max_attempts > 0),
    run_after            timestamptz NOT NULL DEFAULT now(),
    lease_owner          text        NULL,
    lease_expires_at     timestamptz NULL,
    -- When the current or last attempt was claimed, for the description of a rescued operation.
    claimed_at           timestamptz NULL,
    request              jsonb       NOT NULL DEFAULT '{}',
    originating_identity jsonb       NULL,
    context              jsonb       NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz NULL
);

-- At most one operation per instance (its own or one of its bindings') is queued or running;
-- a unique violation on this index is how the store reports ErrBusy.
CREATE UNIQUE INDEX operations_active_instance_key ON operations (instance_id)
    WHERE state IN ('queued', 'running');

CREATE INDEX operations_claim_idx ON operations (state, run_after);

CREATE INDEX operations_lease_idx ON operations (lease_expires_at) WHERE state = 'running';

CREATE INDEX operations_latest_idx ON operations (instance_id, binding_id, created_at DESC);

-- +goose Down
DROP TABLE operations;
DROP TABLE bindings;
DROP TABLE instances;
