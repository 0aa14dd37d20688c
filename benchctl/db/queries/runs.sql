-- name: runs.lapse
-- Attempts whose runner stopped renewing its lease: the session goes back to the pool.
UPDATE run_attempts SET status = 'lapsed', ended_at = now(),
    error = coalesce(error, 'the runner stopped (its lease lapsed)')
WHERE status = 'running' AND leased_until < now()

-- name: runs.lease
-- The next open headless session of the experiment that nobody runs and that has attempts
-- left; SKIP LOCKED lets any number of runners on any number of hosts share the grid.
WITH next AS (
    SELECT s.id FROM sessions s
    WHERE s.experiment = %(experiment)s AND s.status = 'open' AND s.headless
        AND (%(sessions)s::uuid[] IS NULL OR s.id = ANY(%(sessions)s::uuid[]))
        AND NOT EXISTS (
            SELECT 1 FROM run_attempts a WHERE a.session_id = s.id AND a.status = 'running')
        AND (SELECT count(*) FROM run_attempts a WHERE a.session_id = s.id)
            < %(max_attempts)s
    ORDER BY s.variant, s.task_card, s.replicate
    FOR UPDATE OF s SKIP LOCKED
    LIMIT 1
)
INSERT INTO run_attempts (session_id, attempt, runner, status, leased_until)
SELECT next.id,
    1 + (SELECT count(*) FROM run_attempts a WHERE a.session_id = next.id),
    %(runner)s, 'running', now() + %(lease_s)s * interval '1 second'
FROM next
RETURNING id, session_id::text AS session_id, attempt

-- name: runs.heartbeat
UPDATE run_attempts SET leased_until = now() + %(lease_s)s * interval '1 second'
WHERE id = %(id)s AND status = 'running'

-- name: runs.finish
UPDATE run_attempts SET status = %(status)s, ended_at = now(), exit_code = %(exit_code)s,
    timed_out = %(timed_out)s, harness_seconds = %(seconds)s, error = %(error)s, log = %(log)s
WHERE id = %(id)s
