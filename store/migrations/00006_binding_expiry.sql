-- A plan may give its bindings a lifetime (binding_lifetime in the catalog). A bind of such a
-- plan records, when it succeeds, when its credentials expire and when the platform should
-- renew them; a binding without a lifetime has neither (NULL). Once expires_at has passed, an
-- expire operation removes the binding's login from its node and the binding becomes expired:
-- the row stays, so that GET binding can say so, until the platform unbinds. The new sets of
-- states and kinds contain the old ones, so every row passes the checks.

-- +goose Up
ALTER TABLE bindings
    ADD COLUMN expires_at timestamptz NULL,
    ADD COLUMN renew_before timestamptz NULL,
    DROP CONSTRAINT bindings_state_check,
    ADD CONSTRAINT bindings_state_check
        CHECK (state IN ('creating', 'bound', 'deleting', 'failed', 'expired'));

-- The expiry sweep looks for bound bindings whose time has come.
CREATE INDEX bindings_expires_at_idx ON bindings (expires_at) WHERE state = 'bound';

ALTER TABLE operations
    DROP CONSTRAINT operations_kind_check,
    ADD CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind', 'restore', 'expire'));

-- +goose Down
-- An expired binding's login is gone, as after a failed unbind: failed is the older state that
-- says its credentials may not work and lets only an unbind follow. An expire operation leaves
-- nothing a platform polls for, so its rows can go.
UPDATE bindings
SET state = 'failed', updated_at = now()
WHERE state = 'expired';

DELETE FROM operations
WHERE kind = 'expire';

ALTER TABLE operations
    DROP CONSTRAINT operations_kind_check,
    ADD CONSTRAINT operations_kind_check
        CHECK (kind IN ('provision', 'update', 'deprovision', 'bind', 'unbind', 'restore'));

DROP INDEX bindings_expires_at_idx;

ALTER TABLE bindings
    DROP CONSTRAINT bindings_state_check,
    ADD CONSTRAINT bindings_state_check
        CHECK (state IN ('creating', 'bound', 'deleting', 'failed')),
    DROP COLUMN renew_before,
    DROP COLUMN expires_at;
