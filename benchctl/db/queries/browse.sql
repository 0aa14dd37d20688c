-- name: browse.fingerprint
-- Changes whenever anything a report reads may have changed: an apply, a session's record, a
-- collection, a verification, an attempt. Cheap (primary keys and small tables), so the
-- viewer asks it on every page and rebuilds a cached report only when it moves.
SELECT (SELECT serial FROM state_meta LIMIT 1) AS serial,
    (SELECT count(*) FROM sessions) AS sessions,
    (SELECT max(updated_at) FROM sessions) AS sessions_updated,
    (SELECT max(started_at) FROM requests) AS last_request,
    (SELECT max(updated_at) FROM collect_watermarks) AS collected,
    (SELECT max(id) FROM verifications) AS verification,
    (SELECT max(id) FROM run_attempts) AS attempt,
    (SELECT max(ended_at) FROM run_attempts) AS attempt_ended,
    (SELECT max(observed_at) FROM prometheus_samples) AS scraped,
    (SELECT max(recorded_at) FROM session_accounts) AS accounted

-- name: browse.experiments
-- Every experiment as last applied (or the one `name` names), its sessions counted by status.
SELECT e.name, e.version, e.spec AS document, e.retired_at IS NOT NULL AS retired,
    coalesce(c.sessions, 0) AS sessions, coalesce(c.finalized, 0) AS finalized,
    coalesce(c.open, 0) AS open, coalesce(c.aborted, 0) AS aborted,
    coalesce(c.headless, 0) AS headless
FROM (
    SELECT DISTINCT ON (name) * FROM experiments
    WHERE %(name)s::text IS NULL OR name = %(name)s
    ORDER BY name, version DESC
) e
LEFT JOIN (
    SELECT experiment, count(*) AS sessions,
        count(*) FILTER (WHERE status = 'finalized') AS finalized,
        count(*) FILTER (WHERE status IN ('opening', 'open', 'finalizing', 'aborting')) AS open,
        count(*) FILTER (WHERE status = 'aborted') AS aborted,
        count(*) FILTER (WHERE headless) AS headless
    FROM sessions GROUP BY experiment
) c ON c.experiment = e.name
ORDER BY e.name

-- name: browse.variants
-- The listed variants as last applied.
SELECT DISTINCT ON (name) name, version, spec AS document, retired_at IS NOT NULL AS retired
FROM variants WHERE name = ANY(%(names)s)
ORDER BY name, version DESC

-- name: browse.task_cards
-- The listed task cards as last applied.
SELECT DISTINCT ON (name) name, version, spec AS document, retired_at IS NOT NULL AS retired
FROM task_cards WHERE name = ANY(%(names)s)
ORDER BY name, version DESC

-- name: browse.session_page
-- One page of the sessions that match the filters, in report order, and how many match. Each
-- filter is ignored when its parameter is null. Only ids: their figures come from
-- session_rollups restricted to these ids (browse.session_rows), so a page aggregates its own
-- sessions' calls and nothing else.
SELECT s.id::text AS session_id, count(*) OVER () AS total
FROM sessions s
WHERE (%(experiment)s::text IS NULL OR s.experiment = %(experiment)s)
    AND (%(variant)s::text IS NULL OR s.variant = %(variant)s)
    AND (%(task_card)s::text IS NULL OR s.task_card = %(task_card)s)
    AND (%(status)s::text IS NULL OR s.status = %(status)s)
    AND (%(outcome)s::text IS NULL OR s.outcome = %(outcome)s
        OR (%(outcome)s = 'none' AND s.outcome IS NULL))
    AND (%(outcome_source)s::text IS NULL OR s.outcome_source = %(outcome_source)s
        OR (%(outcome_source)s = 'none' AND s.outcome_source IS NULL))
    AND (%(headless)s::boolean IS NULL OR s.headless = %(headless)s)
    AND (%(since)s::timestamptz IS NULL OR s.opened_at >= %(since)s)
    AND (%(until)s::timestamptz IS NULL OR s.opened_at < %(until)s)
ORDER BY s.experiment, s.variant, s.variant_version, s.task_card, s.replicate
LIMIT %(limit)s OFFSET %(offset)s

-- name: browse.session_rows
-- The report's per-session figures (session_rollups) with the session's own record, for the
-- given ids. The key's hash stays in the database, as in bundles.
SELECT r.session_id::text AS session_id, r.experiment, r.variant, r.variant_version,
    r.task_card, r.task_card_version, r.harness_profile, r.replicate, r.status, r.outcome,
    r.outcome_source, r.reward, r.counted_outcome, s.headless, s.harness_version,
    r.opened_at, r.ended_at, r.duration_s, r.requests, r.errors, r.refused, r.cancelled,
    r.latency_p50_ms, r.latency_p95_ms, r.ttft_p50_ms, r.tokens_per_s_p50, r.prompt_tokens,
    r.completion_tokens, r.cached_read_tokens, r.reasoning_tokens, r.cost_usd,
    r.litellm_spend_usd, r.first_request_at, r.last_request_at, s.notes, s.key_alias,
    s.budget_usd, s.manifest_commit, s.manifest_dirty, s.operator
FROM session_rollups r
JOIN sessions s ON s.id = r.session_id
WHERE r.session_id = ANY(%(ids)s::uuid[])
ORDER BY r.experiment, r.variant, r.variant_version, r.task_card, r.replicate

-- name: browse.requests
-- One session's calls in the order they started: its timeline.
SELECT request_id, started_at, first_token_at, ended_at, latency_ms, ttft_ms, ttft_quality,
    output_tokens_per_s, prompt_tokens, completion_tokens, cached_read_tokens,
    cache_write_tokens, reasoning_tokens, cost_usd, litellm_spend_usd, status, status_class,
    error_class, error_code, requested_model, routed_model, provider, call_type, streamed,
    proxy_overhead_ms
FROM requests
WHERE session_id = %(id)s::uuid
ORDER BY started_at, request_id

-- name: browse.attempts
-- Every attempt `benchctl run` made at the session, with its (redacted, size-capped) log.
SELECT attempt, runner, status, step, started_at, ended_at, leased_until, exit_code,
    timed_out, harness_seconds, harness_version, error, log
FROM run_attempts
WHERE session_id = %(id)s::uuid
ORDER BY attempt

-- name: browse.verifications
-- Every verifier run on the session; `counts` marks the one its outcome came from.
SELECT v.id, v.status, v.reward, v.outcome, v.subscores, v.reward_source, v.checks, v.passed,
    v.failed, v.tests_hash, v.exit_code, v.timed_out, v.duration_ms, v.sandbox, v.error, v.log,
    v.verified_at, coalesce(v.id = s.verification_id, false) AS counts
FROM verifications v
JOIN sessions s ON s.id = v.session_id
WHERE v.session_id = %(id)s::uuid
ORDER BY v.id

-- name: browse.content
-- Captured prompts and responses of the session's calls (only experiments that capture have
-- any, after their redaction rules).
SELECT request_id, messages, response
FROM request_content
WHERE session_id = %(id)s::uuid
ORDER BY captured_at, request_id

-- name: browse.progress
-- A headless run as the database sees it: the experiment's headless sessions by status, and
-- every running attempt with what it is doing.
SELECT
    (SELECT count(*) FROM sessions WHERE experiment = %(experiment)s AND headless) AS sessions,
    (SELECT count(*) FROM sessions WHERE experiment = %(experiment)s AND headless
        AND status = 'finalized') AS finalized,
    (SELECT count(*) FROM sessions WHERE experiment = %(experiment)s AND headless
        AND status = 'aborted') AS aborted,
    (SELECT count(*) FROM sessions WHERE experiment = %(experiment)s AND headless
        AND status NOT IN ('finalized', 'aborted')) AS pending,
    (SELECT count(*) FROM sessions WHERE experiment = %(experiment)s AND headless
        AND outcome = 'success') AS succeeded,
    (SELECT count(*) FROM sessions WHERE experiment = %(experiment)s AND headless
        AND outcome IS NOT NULL AND outcome <> 'success') AS not_succeeded

-- name: browse.running
-- Attempts in flight at the experiment's sessions (a lapsed lease still shows until tidied).
SELECT s.id::text AS session_id, s.variant, s.task_card, s.replicate, a.attempt, a.runner,
    a.step, a.started_at, a.leased_until, a.leased_until < now() AS lease_expired
FROM run_attempts a
JOIN sessions s ON s.id = a.session_id
WHERE s.experiment = %(experiment)s AND a.status = 'running'
ORDER BY a.started_at, a.id

-- name: browse.finished
-- The experiment's most recently ended attempts.
SELECT s.id::text AS session_id, s.variant, s.task_card, s.replicate, a.attempt, a.status,
    a.ended_at, a.timed_out, s.outcome, a.error
FROM run_attempts a
JOIN sessions s ON s.id = a.session_id
WHERE s.experiment = %(experiment)s AND a.status <> 'running'
ORDER BY a.ended_at DESC NULLS LAST, a.id DESC
LIMIT %(limit)s

-- name: browse.session_exists
SELECT experiment FROM sessions WHERE id = %(id)s::uuid
