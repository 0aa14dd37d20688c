-- name: runs.lapse
-- Attempts whose runner stopped renewing its lease: the session goes back to the pool. A runner
-- killed while it ended the session (the row is no longer open) had finished the attempt.
UPDATE run_attempts a SET
    status = CASE WHEN s.status = 'open' THEN 'lapsed' ELSE 'done' END,
    ended_at = now(),
    error = CASE WHEN s.status = 'open'
        THEN coalesce(a.error, 'the runner stopped (its lease lapsed)') END
FROM sessions s
WHERE s.id = a.session_id AND a.status = 'running' AND a.leased_until < now()

-- name: runs.abandon_requests
-- Requests already collected under the key of an abandoned attempt leave the session: only the
-- attempt that ends it is scored (the collector files later ones the same way).
WITH moved AS (
    DELETE FROM requests r USING run_attempts a
    WHERE a.key_hash = r.key_hash AND a.status IN ('lapsed', 'infra_error')
    RETURNING r.request_id, r.key_hash, r.key_alias, r.requested_model, r.started_at,
        r.source_updated_at, r.session_id, a.attempt
)
INSERT INTO unattributed_requests (request_id, key_hash, key_alias, requested_model, started_at,
    reason, source_updated_at)
SELECT request_id, key_hash, key_alias, requested_model, started_at,
    format('made by an abandoned attempt (session %%s, attempt %%s)', session_id, attempt),
    source_updated_at
FROM moved
ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason

-- name: runs.abandoned_keys
-- For the collector: key hashes of attempts that will never be scored.
SELECT key_hash, session_id, attempt FROM run_attempts
WHERE key_hash IS NOT NULL AND status IN ('lapsed', 'infra_error')

-- name: runs.exhausted
-- Open headless sessions of the experiment that used every attempt on infrastructure failures:
-- they end aborted (their key deleted), attrition rather than the agent's failure.
SELECT s.id::text AS id, s.key_alias,
    (SELECT a.error FROM run_attempts a WHERE a.session_id = s.id
        ORDER BY a.attempt DESC LIMIT 1) AS last_error,
    (SELECT count(*) FROM run_attempts a WHERE a.session_id = s.id) AS attempts
FROM sessions s
WHERE s.experiment = %(experiment)s AND s.status = 'open' AND s.headless
    AND NOT EXISTS (
        SELECT 1 FROM run_attempts a WHERE a.session_id = s.id AND a.status = 'running')
    AND (SELECT count(*) FROM run_attempts a WHERE a.session_id = s.id) >= %(max_attempts)s
ORDER BY s.id
FOR UPDATE OF s SKIP LOCKED

-- name: runs.interrupted_endings
-- Headless sessions of the experiment whose ending a killed runner left half-done.
SELECT id::text AS id, key_alias, status, outcome, outcome_source, verification_id, notes
FROM sessions
WHERE experiment = %(experiment)s AND headless AND status IN ('finalizing', 'aborting')
ORDER BY id
FOR UPDATE SKIP LOCKED

-- name: runs.keyed
-- The attempt's key, once recorded on the session.
UPDATE run_attempts a SET key_hash = s.key_hash
FROM sessions s
WHERE a.id = %(id)s AND s.id = a.session_id

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

-- name: runs.running
SELECT id FROM run_attempts WHERE status = 'running'

-- name: runs.versioned
-- What the profile's `version` command printed, on the attempt and on its session.
WITH attempt AS (
    UPDATE run_attempts SET harness_version = %(version)s WHERE id = %(id)s
    RETURNING session_id
)
UPDATE sessions s SET harness_version = %(version)s FROM attempt WHERE s.id = attempt.session_id

-- name: runs.step
-- What the attempt is doing now, for anyone watching the run from the database.
UPDATE run_attempts SET step = %(step)s WHERE id = %(id)s AND status = 'running'
