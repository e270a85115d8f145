-- Each instance records the maintenance version (its plan's maintenance_info.version) it was
-- created or last updated at. Instances made before this migration have none, NULL, which
-- counts as older than any version: the first update brings them to their plan's.

-- +goose Up
ALTER TABLE instances
    ADD COLUMN maintenance_version text NULL;

-- +goose Down
ALTER TABLE instances
    DROP COLUMN maintenance_version;
