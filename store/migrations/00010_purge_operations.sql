-- The operator's purge of an orphan (an object on a node that no instance or binding owns) is
-- an operation of a kind of its own, addressed by node and object rather than by an instance:
-- its instance_id is the object's address (store.PurgeAddress), which no instance row has, and
-- its request names the backend, the node and the object. The one-active-operation index on
-- instance_id then keeps two purges of one object from running at once. The new set of kinds
-- contains the old one, so every row passes the check.

-- +goose Up
ALTER TABLE operations
    DROP CONSTRAINT operations_kind_check,
    ADD CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind', 'restore', 'expire', 'purge'));

-- +goose Down
-- A purge leaves nothing a platform polls for, so its rows can go.
DELETE FROM operations
WHERE kind = 'purge';

ALTER TABLE operations
    DROP CONSTRAINT operations_kind_check,
    ADD CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind', 'restore', 'expire'));
