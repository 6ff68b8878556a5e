-- name: AddEvent :exec
-- Records a change for the user's live view (the insert wakes its streams).
INSERT INTO events (user_id, agent_instance_id, kind, message_id, status)
VALUES (@user_id, @agent_instance_id, @kind, sqlc.narg(message_id), @status);

-- name: EventsAfter :many
-- The user's events after a (xid, seq) cursor, in order, written by
-- transactions that are all finished (older than the snapshot's xmin).
SELECT seq, xid, agent_instance_id, kind, message_id, status, created_at
FROM events
WHERE user_id = @user_id
    AND (xid, seq) > (@after_xid::bigint, @after_seq::bigint)
    AND xid < handoff_xmin()
ORDER BY xid, seq
LIMIT @lim;

-- name: EventsBlocked :one
-- Whether events after the cursor exist that wait for older transactions.
SELECT EXISTS (
    SELECT 1 FROM events
    WHERE user_id = @user_id
        AND (xid, seq) > (@after_xid::bigint, @after_seq::bigint)
        AND xid >= handoff_xmin()
);

-- name: EventHorizon :one
-- Where a stream without a cursor starts: everything older is history.
SELECT handoff_xmin()::bigint AS xid;
