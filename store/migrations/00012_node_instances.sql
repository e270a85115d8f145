-- Placement reads the instances placed on each node of a backend from node_instances instead
-- of counting the backend's instance rows, so that placing an instance costs the same however
-- many instances the store holds. Triggers on instances keep the count exact in the same
-- transaction as every insert, delete or change of node, whoever writes the row (this release,
-- the previous one during a rolling deploy, an operator by hand). The count starts from the
-- instance rows as they are, under a lock that holds their writers off until the triggers are in
-- place. A row stays at 0 when its node's last instance goes.

-- +goose Up
LOCK TABLE instances IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE node_instances (
    backend   text   NOT NULL,
    node      text   NOT NULL,
    instances bigint NOT NULL,
    PRIMARY KEY (backend, node)
);

-- +goose StatementBegin
CREATE FUNCTION node_instances_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO node_instances (backend, node, instances)
    SELECT backend, node, count(*)
    FROM inserted
    WHERE node IS NOT NULL
    GROUP BY backend, node
    ON CONFLICT (backend, node) DO UPDATE
    SET instances = node_instances.instances + EXCLUDED.instances;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION node_instances_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE node_instances n
    SET instances = n.instances - d.instances
    FROM (
        SELECT backend, node, count(*) AS instances
        FROM deleted
        WHERE node IS NOT NULL
        GROUP BY backend, node
    ) d
    WHERE n.backend = d.backend
        AND n.node = d.node;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION node_instances_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.node IS NOT NULL THEN
        UPDATE node_instances
        SET instances = instances - 1
        WHERE backend = OLD.backend
            AND node = OLD.node;
    END IF;
    IF NEW.node IS NOT NULL THEN
        INSERT INTO node_instances (backend, node, instances)
        VALUES (NEW.backend, NEW.node, 1)
        ON CONFLICT (backend, node) DO UPDATE
        SET instances = node_instances.instances + 1;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Inserts and deletes are counted once per statement, so that a bulk insert touches each
-- node's row once; a change of node per row, and only when it changes, so that the updates of
-- an instance's state cost nothing.
CREATE TRIGGER node_instances_inserted
    AFTER INSERT ON instances
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION node_instances_inserted();

CREATE TRIGGER node_instances_deleted
    AFTER DELETE ON instances
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION node_instances_deleted();

CREATE TRIGGER node_instances_moved
    AFTER UPDATE OF backend, node ON instances
    FOR EACH ROW
    WHEN (OLD.node IS DISTINCT FROM NEW.node OR OLD.backend IS DISTINCT FROM NEW.backend)
    EXECUTE FUNCTION node_instances_moved();

INSERT INTO node_instances (backend, node, instances)
SELECT backend, node, count(*)
FROM instances
WHERE node IS NOT NULL
GROUP BY backend, node;

-- +goose Down
DROP TRIGGER node_instances_moved ON instances;

DROP TRIGGER node_instances_deleted ON instances;

DROP TRIGGER node_instances_inserted ON instances;

DROP FUNCTION node_instances_moved();

DROP FUNCTION node_instances_deleted();

DROP FUNCTION node_instances_inserted();

DROP TABLE node_instances;
