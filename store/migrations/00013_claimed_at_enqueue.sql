-- An operation may be inserted already claimed: a request that finds a worker of its replica idle
-- queues its operation running, leased to that worker, in the transaction that writes it, so the
-- worker starts at once, without a claim of its own. Its attempt is recorded as a claim's is.

-- +goose Up
CREATE TRIGGER operations_record_claimed_insert
    AFTER INSERT ON operations
    FOR EACH ROW
    WHEN (NEW.state = 'running')
    EXECUTE FUNCTION record_operation_attempt();

-- +goose Down
DROP TRIGGER operations_record_claimed_insert ON operations;
