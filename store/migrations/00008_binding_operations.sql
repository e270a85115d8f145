-- Operations on different bindings of one instance are to run at once; until now one unique
-- index, operations_active_instance_key, let a single operation per instance be queued or
-- running, its own or one of its bindings'. This release adds an index that holds one per
-- instance for the operations on the instance itself (binding_id IS NULL), and another one per
-- binding; that an operation on the instance itself excludes every operation on its bindings,
-- and the other way round, the store checks under the instance row's lock. It no longer relies
-- on the old index, which the previous release still does: migration 9 drops it.

-- +goose Up
CREATE UNIQUE INDEX operations_active_own_key ON operations (instance_id)
    WHERE binding_id IS NULL AND state IN ('queued', 'running');

CREATE UNIQUE INDEX operations_active_binding_key ON operations (instance_id, binding_id)
    WHERE binding_id IS NOT NULL AND state IN ('queued', 'running');

-- +goose Down
DROP INDEX operations_active_binding_key;

DROP INDEX operations_active_own_key;
