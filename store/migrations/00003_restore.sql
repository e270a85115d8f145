-- A restore operation re-runs the bind of a bound binding whose login its node has lost (a Redis
-- node restarted without an aclfile). The new set of kinds contains the old one, so every row
-- passes the check.

-- +goose Up
ALTER TABLE operations
    DROP CONSTRAINT operations_kind_check,
    ADD CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind', 'restore'));

-- +goose Down
-- A restore leaves the binding as it was, so its rows can go without changing what the
-- platform sees.
DELETE FROM operations
WHERE kind = 'restore';

ALTER TABLE operations
    DROP CONSTRAINT operations_kind_check,
    ADD CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind'));
