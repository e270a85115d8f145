-- Login names on mysql, redis and rabbitmq carry 130 bits of a hash of the instance's and the
-- binding's ids; until now they carried 48 bits of the instance's id and 48 of both, and
-- deprovision found them by the instance part, which an instance id chosen to collide could
-- share. A binding keeps the login it was made with: legacy_name is true for the bindings
-- recorded until now, and false for those recorded from now on.

-- +goose Up
ALTER TABLE bindings
    ADD COLUMN legacy_name boolean NOT NULL DEFAULT true;

ALTER TABLE bindings
    ALTER COLUMN legacy_name SET DEFAULT false;

-- +goose Down
-- A broker without this column names every login the old way, and would not find the logins
-- of the bindings recorded since: going down is refused while there are any.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM bindings WHERE NOT legacy_name) THEN
        RAISE EXCEPTION 'bindings recorded since migration 5 have logins an older broker cannot name; unbind them first';
    END IF;
END
$$;
-- +goose StatementEnd

ALTER TABLE bindings
    DROP COLUMN legacy_name;
