-- A failed deprovision gets its own state, delete_failed, so that it no longer looks like a
-- failed provision. The new set of states contains the old one, so every row passes the check.

-- +goose Up
ALTER TABLE instances
    DROP CONSTRAINT instances_state_check,
    ADD CONSTRAINT instances_state_check
        CHECK (state IN ('provisioning', 'ready', 'updating', 'deprovisioning', 'failed', 'delete_failed'));

-- +goose Down
UPDATE instances
SET state = 'failed', updated_at = now()
WHERE state = 'delete_failed';

ALTER TABLE instances
    DROP CONSTRAINT instances_state_check,
    ADD CONSTRAINT instances_state_check
        CHECK (state IN ('provisioning', 'ready', 'updating', 'deprovisioning', 'failed'));
