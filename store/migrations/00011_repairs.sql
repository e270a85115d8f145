-- The operator's repairs (issue 15): who asked for each and how it went, the nodes drained of
-- new instances, and each attempt of every operation.
--
-- repairs: one row per repair an operator asked for, through the CLI (requested_by is the OS
-- user) or the /admin/v1 API (the API user). It is written before the repair starts
-- (outcome 'requested') and again when the command or the request knows how it went; a row
-- left at 'requested' is a repair whose process stopped in between. One that went to the queue
-- names its operation, whose state says how it ended.
--
-- node_drains: a node listed here takes no new instances, on any replica, across restarts;
-- the instances already on it keep working there.
--
-- operation_attempts: filled by a trigger on operations, so that every path that claims or
-- ends an attempt (claim, completion, retry, release, rescue) records it without a statement
-- of its own, and so does an older replica that knows nothing of this table.

-- +goose Up
CREATE TABLE repairs (
    id           text        PRIMARY KEY,
    requested_by text        NOT NULL,
    via          text        NOT NULL CONSTRAINT repairs_via_check CHECK (via IN ('cli', 'api')),
    action       text        NOT NULL,
    target       text        NOT NULL,
    operation_id text        NULL,
    outcome      text        NOT NULL DEFAULT 'requested'
        CONSTRAINT repairs_outcome_check
        CHECK (outcome IN ('requested', 'queued', 'done', 'refused', 'failed')),
    detail       text        NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz NULL
);

CREATE INDEX repairs_requested_at_idx ON repairs (requested_at);

CREATE TABLE node_drains (
    backend    text        NOT NULL,
    node       text        NOT NULL,
    drained_by text        NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    drained_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (backend, node)
);

CREATE TABLE operation_attempts (
    id           bigserial   PRIMARY KEY,
    operation_id text        NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    attempt      int         NOT NULL,
    worker       text        NULL,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NULL,
    -- retried: back in the queue to run again (a transient failure, or a lease lost and
    -- rescued); released: back in the queue uncounted, at a worker's shutdown.
    outcome      text        NULL
        CONSTRAINT operation_attempts_outcome_check
        CHECK (outcome IN ('succeeded', 'failed', 'retried', 'released')),
    description  text        NOT NULL DEFAULT ''
);

CREATE INDEX operation_attempts_operation_idx ON operation_attempts (operation_id, id);

-- +goose StatementBegin
CREATE FUNCTION record_operation_attempt() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = 'running' THEN
        UPDATE operation_attempts
        SET ended_at = now(),
            description = NEW.description,
            outcome = CASE
                WHEN NEW.state IN ('succeeded', 'failed') THEN NEW.state
                WHEN NEW.attempt < OLD.attempt THEN 'released'
                ELSE 'retried'
            END
        WHERE id = (
            SELECT max(id)
            FROM operation_attempts
            WHERE operation_id = NEW.id
                AND ended_at IS NULL
        );
    END IF;
    IF NEW.state = 'running' THEN
        INSERT INTO operation_attempts (operation_id, attempt, worker, started_at)
        VALUES (NEW.id, NEW.attempt, NEW.lease_owner, COALESCE(NEW.claimed_at, now()));
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER operations_record_attempt
    AFTER UPDATE OF state ON operations
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION record_operation_attempt();

-- +goose Down
DROP TRIGGER operations_record_attempt ON operations;
DROP FUNCTION record_operation_attempt();
DROP TABLE operation_attempts;
DROP TABLE node_drains;
DROP TABLE repairs;
