-- name: state.meta
SELECT serial, lineage::text AS lineage FROM state_meta WHERE id = 1

-- name: state.bump_serial
UPDATE state_meta SET serial = serial + 1 WHERE id = 1 RETURNING serial

-- name: state.objects
-- The latest version of every object of every kind, with how many sessions use that version
-- (live: not yet finalized or aborted). One round trip, whatever the number of objects.
WITH latest AS (
    (SELECT DISTINCT ON (name) 'Provider' AS kind, name, version, content_hash, comparable, spec,
        retired_at FROM providers ORDER BY name, version DESC)
    UNION ALL
    (SELECT DISTINCT ON (name) 'HarnessProfile', name, version, content_hash, comparable, spec,
        retired_at FROM harness_profiles ORDER BY name, version DESC)
    UNION ALL
    (SELECT DISTINCT ON (name) 'TaskCard', name, version, content_hash, comparable, spec,
        retired_at FROM task_cards ORDER BY name, version DESC)
    UNION ALL
    (SELECT DISTINCT ON (name) 'Variant', name, version, content_hash, comparable, spec,
        retired_at FROM variants ORDER BY name, version DESC)
    UNION ALL
    (SELECT DISTINCT ON (name) 'Experiment', name, version, content_hash, comparable, spec,
        retired_at FROM experiments ORDER BY name, version DESC)
), usage AS (
    SELECT 'Variant' AS kind, variant AS name, variant_version AS version, status FROM sessions
    UNION ALL
    SELECT 'TaskCard', task_card, task_card_version, status FROM sessions
    UNION ALL
    SELECT 'Experiment', experiment, NULL, status FROM sessions
), counts AS (
    SELECT kind, name, version, count(*) AS sessions,
        count(*) FILTER (WHERE status NOT IN ('finalized', 'aborted')) AS live_sessions
    FROM usage GROUP BY kind, name, version
)
SELECT l.kind, l.name, l.version, l.content_hash, l.comparable, l.spec AS document,
    l.retired_at IS NOT NULL AS retired,
    coalesce(c.sessions, 0) AS sessions, coalesce(c.live_sessions, 0) AS live_sessions
FROM latest l
LEFT JOIN counts c ON c.kind = l.kind AND c.name = l.name
    AND (c.version = l.version OR c.version IS NULL)
ORDER BY l.kind, l.name

-- name: state.sessions
-- verified_outcome: what the session's latest scored verification measured, so the plan can
-- check an entry that claims a verified outcome (one scan of the index, whatever the count).
SELECT s.id::text AS id, experiment, variant, variant_version, task_card, task_card_version,
    harness_profile, replicate, s.status, s.outcome, s.outcome_source, notes, key_alias,
    key_hash, key_expires_at, opened_at, ended_at, v.outcome AS verified_outcome,
    v.reward AS verified_reward, v.id AS verified_id
FROM sessions s
LEFT JOIN LATERAL (
    SELECT id, outcome, reward FROM verifications
    WHERE session_id = s.id AND status = 'scored' ORDER BY id DESC LIMIT 1
) v ON true
ORDER BY experiment, variant, task_card, replicate

-- name: state.insert_object
INSERT INTO {table} (name, version, spec, content_hash, comparable, git_commit)
VALUES (%(name)s, %(version)s, %(spec)s, %(content_hash)s, %(comparable)s, %(git_commit)s)

-- name: state.update_object
UPDATE {table}
SET spec = %(spec)s, content_hash = %(content_hash)s, comparable = %(comparable)s,
    git_commit = %(git_commit)s, updated_at = now()
WHERE name = %(name)s AND version = %(version)s

-- name: state.retire_object
UPDATE {table} SET retired_at = now(), updated_at = now()
WHERE name = %(name)s AND version = %(version)s AND retired_at IS NULL

-- name: state.log_interrupted
-- Under the state lock, a row still 'running' belongs to an apply that was killed.
UPDATE apply_log SET status = 'failed', finished_at = now(),
    error = 'interrupted: the process ended before it finished; this apply resumed its work'
WHERE status = 'running'

-- name: state.log_start
INSERT INTO apply_log (operation, operator, manifest_commit, plan_fingerprint, status, summary)
VALUES (%(operation)s, %(operator)s, %(manifest_commit)s, %(fingerprint)s, 'running', %(summary)s)
RETURNING id

-- name: state.log_finish
UPDATE apply_log SET finished_at = now(), status = %(status)s, error = %(error)s
WHERE id = %(id)s

-- name: state.session_history
-- What finished sessions cost and took, per variant x task card, for a plan's forecast of the
-- sessions it opens (one query, whatever their number).
SELECT variant, task_card, count(*) AS sessions, avg(cost_usd) AS mean_cost,
    min(cost_usd) AS min_cost, max(cost_usd) AS max_cost, avg(duration_s) AS mean_duration_s,
    avg(prompt_tokens) AS prompt_tokens, avg(completion_tokens) AS completion_tokens,
    avg(cached_read_tokens) AS cached_read_tokens, avg(cache_write_tokens) AS cache_write_tokens
FROM session_rollups
WHERE status = 'finalized'
GROUP BY variant, task_card
ORDER BY variant, task_card
