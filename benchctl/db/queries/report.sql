-- name: report.experiment
-- The experiment as last applied (its manifest document), retired or not: history stays
-- reportable.
SELECT name, version, spec AS document, retired_at IS NOT NULL AS retired
FROM experiments WHERE name = %(experiment)s
ORDER BY version DESC LIMIT 1

-- name: report.experiment_names
-- What `report --all` covers: live experiments, and retired ones that have sessions.
SELECT DISTINCT e.name
FROM experiments e
WHERE e.retired_at IS NULL OR EXISTS (SELECT 1 FROM sessions s WHERE s.experiment = e.name)
ORDER BY e.name

-- name: report.variant_versions
-- Current version of each listed variant, so a variant without sessions still has a row.
SELECT DISTINCT ON (name) name, version
FROM variants WHERE name = ANY(%(names)s)
ORDER BY name, version DESC

-- name: report.rollups
-- Variant x task card, variant and experiment levels, computed by the rollups view.
SELECT level, variant, variant_version, task_card, sessions, sessions_with_outcome,
    sessions_succeeded, success_rate, session_duration_p50_s, cost_per_success_usd, requests,
    errors, error_rate, successes, latency_p50_ms, latency_p90_ms, latency_p95_ms,
    latency_p99_ms, ttft_p50_ms, ttft_p90_ms, ttft_p95_ms, ttft_p99_ms, ttft_measured,
    tokens_per_s_p50, overhead_p50_ms, overhead_p95_ms, prompt_tokens, completion_tokens,
    cached_read_tokens, cache_write_tokens, reasoning_tokens, cache_hit_ratio, cost_usd,
    litellm_spend_usd, sessions_verified, sessions_self_reported, refused, cancelled
FROM rollups
WHERE experiment = %(experiment)s
ORDER BY level, variant, variant_version, task_card

-- name: report.sessions
-- One row per session that counts (aborted ones do not): the units the bootstrap resamples.
-- `outcome` is the outcome that counts: verified, or self-reported where the experiment says so.
SELECT session_id::text AS session_id, variant, variant_version, task_card, replicate, status,
    counted_outcome AS outcome, CASE WHEN counted_outcome IS NOT NULL THEN reward END AS reward,
    duration_s, requests, errors, latency_p50_ms, ttft_p50_ms, ttft_measured, tokens_per_s_p50,
    cost_usd
FROM session_rollups
WHERE experiment = %(experiment)s AND status <> 'aborted'
ORDER BY variant, variant_version, task_card, replicate

-- name: report.quality
-- What the rollups leave out: how TTFT was measured, calls without a cost, the data window.
-- Calls of aborted sessions are left out, as the rollups leave them out.
SELECT r.variant, r.variant_version,
    count(*) AS requests,
    count(*) FILTER (WHERE r.status = 'success') AS successes,
    count(*) FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'measured')
        AS ttft_measured,
    count(*) FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'missing') AS ttft_missing,
    count(*) FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'equal_to_total')
        AS ttft_equal_to_total,
    count(*) FILTER (WHERE r.cost_usd IS NULL) AS cost_missing,
    count(*) FILTER (WHERE r.tag_mismatch) AS tag_mismatches,
    min(r.started_at) AS first_request_at,
    max(coalesce(r.ended_at, r.started_at)) AS last_request_at
FROM requests r
JOIN sessions s ON s.id = r.session_id AND s.status <> 'aborted'
WHERE r.experiment = %(experiment)s
GROUP BY r.variant, r.variant_version
ORDER BY r.variant, r.variant_version

-- name: report.histograms
-- Latency (successful calls) and measured TTFT as histograms on a log10 scale, `per_decade`
-- bins to a factor of ten. Bins are counted first (one hash aggregate, no sort of the calls);
-- then every variant's bins are numbered from the metric's lowest bin, so all variants share
-- one range and the same values give the same bins whatever the row order.
WITH bins AS (
    SELECT m.metric, r.variant, r.variant_version,
        floor(log(m.value) * %(per_decade)s)::integer AS edge, count(*) AS count
    FROM requests r
    JOIN sessions s ON s.id = r.session_id AND s.status <> 'aborted'
    -- One pass over the calls for both metrics.
    CROSS JOIN LATERAL (VALUES
        ('latency_ms', r.latency_ms),
        ('ttft_ms', CASE WHEN r.ttft_quality = 'measured' THEN r.ttft_ms END)
    ) AS m (metric, value)
    WHERE r.experiment = %(experiment)s AND r.status = 'success' AND m.value > 0
    GROUP BY m.metric, r.variant, r.variant_version, edge
), ranged AS (
    SELECT *, min(edge) OVER (PARTITION BY metric) AS lo_bin,
        max(edge) OVER (PARTITION BY metric) + 1 AS hi_bin
    FROM bins
)
SELECT metric, variant, variant_version, lo_bin, hi_bin, edge - lo_bin AS bin, count
FROM ranged
ORDER BY metric, variant, variant_version, bin

-- name: report.spend_log_gaps
-- Per variant: successful calls Prometheus counted that the spend logs lack.
SELECT variant, variant_version, count(*) AS sessions, sum(missing) AS missing
FROM spend_log_gaps
WHERE experiment = %(experiment)s
GROUP BY variant, variant_version
ORDER BY variant, variant_version

-- name: report.ledger
-- Each counted session's cost three ways (the cost_ledger view).
SELECT variant, variant_version, recomputed_usd, litellm_usd, harness_usd, requests, unpriced,
    litellm_disagrees, harness_disagrees
FROM cost_ledger
WHERE experiment = %(experiment)s
ORDER BY variant, variant_version, session_id

-- name: report.attrition
-- Headless sessions per variant version, attrition apart from results: attempts lost to
-- infrastructure (failed or abandoned), sessions aborted out of attempts, harness timeouts
-- (scored all the same), sessions the verifier could not score, sessions not yet run.
SELECT s.variant, s.variant_version,
    count(DISTINCT s.id) AS sessions,
    count(a.id) AS attempts,
    count(a.id) FILTER (WHERE a.status IN ('infra_error', 'lapsed')) AS infrastructure_failures,
    count(DISTINCT s.id) FILTER (WHERE s.status = 'aborted') AS aborted,
    count(a.id) FILTER (WHERE a.status = 'done' AND a.timed_out) AS timed_out,
    count(DISTINCT s.id) FILTER (WHERE s.status = 'finalized' AND s.outcome IS NULL) AS unscored,
    count(DISTINCT s.id) FILTER (WHERE s.status = 'open') AS pending
FROM sessions s
LEFT JOIN run_attempts a ON a.session_id = s.id
WHERE s.experiment = %(experiment)s AND s.headless
GROUP BY s.variant, s.variant_version
ORDER BY s.variant, s.variant_version
