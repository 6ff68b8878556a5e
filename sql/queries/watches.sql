-- Watches: the ids a hub's waiters wait on (migration 00007). Changes to
-- other ids are not announced.

-- name: Watch :exec
-- Starts watching id for the hub listening on backend listener, after
-- every writer of id that may have missed the watch has committed.
SELECT handoff_watch(@id::uuid, @listener::integer);

-- name: Unwatch :exec
DELETE FROM handoff_watches WHERE id = @id AND listener = @listener;

-- name: UnwatchListener :exec
-- Ends every watch of one listener (its hub closes).
DELETE FROM handoff_watches WHERE listener = @listener;

-- name: DeleteStaleWatches :execrows
-- The watches of listeners that are gone (their connection ended).
DELETE FROM handoff_watches WHERE listener NOT IN (SELECT a.pid FROM pg_catalog.pg_stat_activity a WHERE a.pid IS NOT NULL);

-- name: ListenerPID :one
SELECT pg_backend_pid()::integer AS pid;
