-- name: export.utc
-- Timestamps in UTC and floats in their shortest exact form, whatever the server's defaults,
-- for this transaction only.
SELECT set_config('TimeZone', 'UTC', true), set_config('extra_float_digits', '1', true)

-- name: export.requests
-- Every collected call of the experiment. The key hash stays in the database: a bundle is
-- shared, and the hash is how LiteLLM's admin API names a key.
SELECT request_id, litellm_call_id, provider_request_id, session_id, experiment, variant,
    variant_version, task_card, task_card_version, key_alias, requested_model, routed_model,
    provider, call_type, started_at, first_token_at, ended_at, latency_ms, ttft_ms,
    ttft_quality, output_tokens_per_s, prompt_tokens, completion_tokens, cached_read_tokens,
    cache_write_tokens, reasoning_tokens, cost_usd, litellm_spend_usd, status, error_class,
    error_code, streamed, proxy_overhead_ms, tag_mismatch, source_updated_at, status_class,
    cache_write_1h_tokens, price_version
FROM requests
WHERE experiment = %(experiment)s
ORDER BY started_at, request_id

-- name: export.sessions
SELECT id AS session_id, experiment, variant, variant_version, task_card, task_card_version,
    harness_profile, replicate, status, outcome, notes, key_alias, key_expires_at, budget_usd,
    ttl_seconds, manifest_commit, manifest_dirty, repo_path, operator, created_at, opened_at,
    ended_at, outcome_source, reward, headless
FROM sessions
WHERE experiment = %(experiment)s
ORDER BY variant, variant_version, task_card, replicate

-- name: export.verifications
-- Every verifier run on the experiment's sessions: its reward, sub-scores and per-test results.
-- Not its log: that stays in the database, as the key hash does.
SELECT v.session_id, v.task_card, v.task_card_version, v.status, v.reward, v.outcome,
    v.subscores, v.reward_source, v.checks, v.passed, v.failed, v.tests_hash, v.exit_code,
    v.timed_out, v.duration_ms, v.sandbox, v.error, v.workspace, v.operator, v.verified_at
FROM verifications v
JOIN sessions s ON s.id = v.session_id
WHERE s.experiment = %(experiment)s
ORDER BY s.variant, s.variant_version, s.task_card, s.replicate, v.verified_at, v.id

-- name: export.session_accounts
-- The harnesses' own accounts of the experiment's sessions.
SELECT a.session_id, a.cost_usd, a.input_tokens, a.output_tokens, a.source, a.recorded_at
FROM session_accounts a
JOIN sessions s ON s.id = a.session_id
WHERE s.experiment = %(experiment)s
ORDER BY s.variant, s.variant_version, s.task_card, s.replicate

-- name: export.run_attempts
-- Every attempt `benchctl run` made at the experiment's sessions. Not its log or key hash:
-- those stay in the database.
SELECT a.session_id, a.attempt, a.runner, a.status, a.leased_until, a.started_at, a.ended_at,
    a.exit_code, a.timed_out, a.harness_seconds, a.error
FROM run_attempts a
JOIN sessions s ON s.id = a.session_id
WHERE s.experiment = %(experiment)s
ORDER BY s.variant, s.variant_version, s.task_card, s.replicate, a.attempt

-- name: export.cost_ledger
SELECT session_id, variant, variant_version, task_card, replicate, recomputed_usd, litellm_usd,
    harness_usd, requests, unpriced, litellm_disagrees, harness_disagrees
FROM cost_ledger
WHERE experiment = %(experiment)s
ORDER BY variant, variant_version, task_card, replicate

-- name: export.session_rollups
SELECT session_id, variant, variant_version, task_card, task_card_version, harness_profile,
    replicate, status, outcome, opened_at, ended_at, duration_s, requests, errors, error_rate,
    latency_p50_ms, latency_p95_ms, ttft_p50_ms, ttft_measured, tokens_per_s_p50,
    overhead_p50_ms, prompt_tokens, completion_tokens, cached_read_tokens, cache_write_tokens,
    reasoning_tokens, cache_hit_ratio, cost_usd, litellm_spend_usd, first_request_at,
    last_request_at, outcome_source, reward, counted_outcome, refused, cancelled
FROM session_rollups
WHERE experiment = %(experiment)s
ORDER BY variant, variant_version, task_card, replicate

-- name: export.rollups
SELECT level, experiment, variant, variant_version, task_card, sessions, sessions_with_outcome,
    sessions_succeeded, success_rate, session_duration_p50_s, cost_per_success_usd, requests,
    errors, error_rate, successes, latency_p50_ms, latency_p90_ms, latency_p95_ms,
    latency_p99_ms, ttft_p50_ms, ttft_p90_ms, ttft_p95_ms, ttft_p99_ms, ttft_measured,
    tokens_per_s_p50, overhead_p50_ms, overhead_p95_ms, prompt_tokens, completion_tokens,
    cached_read_tokens, cache_write_tokens, reasoning_tokens, cache_hit_ratio, cost_usd,
    litellm_spend_usd, sessions_verified, sessions_self_reported, refused, cancelled
FROM rollups
WHERE experiment = %(experiment)s
ORDER BY level, variant, variant_version, task_card

-- name: export.manifests
-- The manifests as applied: every version of the experiment, the variant and task card
-- versions its sessions ran (and the current ones it lists), and the providers and harness
-- profiles those variants name.
WITH exp AS (
    SELECT spec FROM experiments WHERE name = %(experiment)s ORDER BY version DESC LIMIT 1
), used_variants AS (
    SELECT v.name, v.version, v.spec, v.retired_at FROM variants v
    WHERE (v.name, v.version) IN (
        SELECT variant, variant_version FROM sessions WHERE experiment = %(experiment)s)
    UNION
    (SELECT DISTINCT ON (v.name) v.name, v.version, v.spec, v.retired_at FROM variants v
    WHERE v.name IN (SELECT jsonb_array_elements_text(spec -> 'spec' -> 'variants') FROM exp)
    ORDER BY v.name, v.version DESC)
), used_cards AS (
    SELECT t.name, t.version, t.spec, t.retired_at FROM task_cards t
    WHERE (t.name, t.version) IN (
        SELECT task_card, task_card_version FROM sessions WHERE experiment = %(experiment)s)
    UNION
    (SELECT DISTINCT ON (t.name) t.name, t.version, t.spec, t.retired_at FROM task_cards t
    WHERE t.name IN (SELECT jsonb_array_elements_text(spec -> 'spec' -> 'task_cards') FROM exp)
    ORDER BY t.name, t.version DESC)
)
SELECT 'Experiment' AS kind, name, version, spec AS document, retired_at IS NOT NULL AS retired
FROM experiments WHERE name = %(experiment)s
UNION ALL
SELECT 'Variant', name, version, spec, retired_at IS NOT NULL FROM used_variants
UNION ALL
SELECT 'TaskCard', name, version, spec, retired_at IS NOT NULL FROM used_cards
UNION ALL
SELECT 'Provider', name, version, spec, retired_at IS NOT NULL FROM providers
WHERE name IN (SELECT spec -> 'spec' ->> 'provider' FROM used_variants)
UNION ALL
SELECT 'HarnessProfile', name, version, spec, retired_at IS NOT NULL FROM harness_profiles
WHERE name IN (SELECT spec -> 'spec' ->> 'harness_profile' FROM used_variants)
ORDER BY kind, name, version

-- name: export.restore_object
-- A manifest as a bundle recorded it. Its comparability fields only matter to `plan`, which a
-- restored database is not for.
INSERT INTO {table} (name, version, spec, content_hash, comparable, retired_at)
VALUES (%(name)s, %(version)s, %(spec)s, %(content_hash)s, '{{}}'::jsonb,
    CASE WHEN %(retired)s THEN now() END)

-- name: export.experiment_exists
SELECT EXISTS (SELECT 1 FROM experiments WHERE name = %(experiment)s) AS present

-- name: export.restore_stage
-- No constraints: CREATE TABLE AS copies columns only, so a bundle may leave some out.
CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT * FROM {table} WITH NO DATA

-- name: export.restore_requests_fill
-- Bundles carry no key hashes; restored requests get an empty one.
UPDATE {stage} SET key_hash = '' WHERE key_hash IS NULL

-- name: export.restore_insert
-- Only the bundle's columns: the others take the table's defaults.
INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}

-- name: export.restore_copy
COPY {stage} ({columns}) FROM STDIN WITH (FORMAT csv)

-- name: export.copy_csv
-- Wraps a named SELECT: its rows as CSV with a header line.
COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)

-- name: export.jsonl
-- Wraps a named SELECT: each row as one JSON object, in the query's order.
SELECT row_to_json(t)::text FROM ({select}) t
