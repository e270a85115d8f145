-- A running operation is tied to the database session of the worker pool that claimed it:
-- tie is the key of the session-level advisory lock that session holds while it lives. Once
-- the session ends (its process died, its connection broke) the lock is free, and the rescuer,
-- probing it, returns the operation to the queue without waiting for its lease. NULL for an
-- attempt claimed without a session (by a broker older than this migration): only its lease
-- frees it.

-- +goose Up
ALTER TABLE operations
    ADD COLUMN tie bigint NULL;

-- The rescuer lists the ties of running operations.
CREATE INDEX operations_tie_idx ON operations (tie) WHERE state = 'running' AND tie IS NOT NULL;

-- +goose Down
DROP INDEX operations_tie_idx;

ALTER TABLE operations
    DROP COLUMN tie;
