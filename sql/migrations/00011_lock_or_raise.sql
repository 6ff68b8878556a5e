-- +goose Up
-- The lock that rides in front of an instance operation (db/tx.go) raises
-- when the user has no such instance, instead of returning no row.
--
-- withInstance sends the lock, the operation's first statement and, when
-- that statement is the last, COMMIT in one round trip. A lock that found
-- no row used to leave the rest to run: each statement takes its own
-- snapshot, so an instance that another transaction created between the
-- lock and the statement was visible to the statement, which wrote (and
-- committed), while withInstance took the empty lock for "missing" and
-- wrote again on its create path (two concurrent first messages stored
-- three). An error aborts the transaction instead: nothing sent behind the
-- lock runs, and the COMMIT does not happen.
-- +goose StatementBegin
CREATE FUNCTION handoff_lock_instance(p_id uuid, p_user_id uuid)
RETURNS SETOF agent_instances
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM agent_instances
        WHERE id = p_id AND user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'agent instance % not found', p_id USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION handoff_lock_instance(uuid, uuid);
