-- The state lock is one session-level advisory lock (key 1650814563, "benc"): a holder that
-- dies releases it with its connection, so a killed apply never leaves the state locked.

-- name: lock.try
SELECT pg_try_advisory_lock(1650814563) AS acquired

-- name: lock.release
SELECT pg_advisory_unlock(1650814563) AS released

-- name: lock.record
INSERT INTO state_lock (id, holder, operation, acquired_at, backend_pid)
VALUES (1, %(holder)s, %(operation)s, now(), pg_backend_pid())
ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, operation = EXCLUDED.operation,
    acquired_at = EXCLUDED.acquired_at, backend_pid = EXCLUDED.backend_pid

-- name: lock.clear
DELETE FROM state_lock WHERE backend_pid = pg_backend_pid()

-- name: lock.holder
-- Who holds the lock now; the row alone may be stale (its holder was killed), pg_locks is not.
SELECT l.pid AS backend_pid, s.holder, s.operation, s.acquired_at
FROM pg_locks l
LEFT JOIN state_lock s ON s.backend_pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 1650814563 AND l.objsubid = 1
    AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())

-- name: lock.terminate
SELECT pg_terminate_backend(%(pid)s) AS terminated
