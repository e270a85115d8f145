-- Drops operations_active_instance_key, the index of one active operation per instance, which
-- the release of migration 8 no longer relies on (see 00008): with it gone, operations on
-- different bindings of one instance are queued and run at once.

-- +goose Up
DROP INDEX operations_active_instance_key;

-- +goose Down
-- The old index allows one active operation per instance: going down is refused while an
-- instance has more.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (
        SELECT 1
        FROM operations
        WHERE state IN ('queued', 'running')
        GROUP BY instance_id
        HAVING count(*) > 1
    ) THEN
        RAISE EXCEPTION 'an instance has more than one queued or running operation, which an older broker cannot hold; let them finish first';
    END IF;
END
$$;
-- +goose StatementEnd

CREATE UNIQUE INDEX operations_active_instance_key ON operations (instance_id)
    WHERE state IN ('queued', 'running');
