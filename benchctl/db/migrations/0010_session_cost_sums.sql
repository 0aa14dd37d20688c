-- A session's cost sums in whole picodollars (bigint) instead of numeric: as exact and as
-- independent of row order (a report must not depend on the order PostgreSQL summed in), and
-- about half the cost of the view for a page of sessions, where casting every call's double to
-- numeric dominated (bench/serve_scale.py, docs/benchmarks.md). A call's cost is rounded to
-- 1e-12 dollars first, far below what any figure shows. The rest of the view is 0005's.

CREATE OR REPLACE VIEW session_rollups AS
SELECT
    s.id AS session_id,
    s.experiment,
    s.variant,
    s.variant_version,
    s.task_card,
    s.task_card_version,
    s.harness_profile,
    s.replicate,
    s.status,
    s.outcome,
    s.opened_at,
    s.ended_at,
    extract(epoch FROM s.ended_at - s.opened_at)::double precision AS duration_s,
    count(r.request_id) AS requests,
    count(r.request_id) FILTER (WHERE r.status_class = 'upstream_error') AS errors,
    coalesce(
        (count(r.request_id) FILTER (WHERE r.status_class = 'upstream_error'))::double precision
        / nullif(count(r.request_id) FILTER (WHERE r.status_class <> 'refused'), 0), 0)
        AS error_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms)
        FILTER (WHERE r.status = 'success') AS latency_p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms)
        FILTER (WHERE r.status = 'success') AS latency_p95_ms,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY r.ttft_ms)
        FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'measured') AS ttft_p50_ms,
    count(r.request_id) FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'measured')
        AS ttft_measured,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY r.output_tokens_per_s)
        FILTER (WHERE r.status = 'success') AS tokens_per_s_p50,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY r.proxy_overhead_ms) AS overhead_p50_ms,
    coalesce(sum(r.prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(r.completion_tokens), 0) AS completion_tokens,
    coalesce(sum(r.cached_read_tokens), 0) AS cached_read_tokens,
    coalesce(sum(r.cache_write_tokens), 0) AS cache_write_tokens,
    coalesce(sum(r.reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum(r.cached_read_tokens)::double precision / nullif(sum(r.prompt_tokens), 0), 0)
        AS cache_hit_ratio,
    coalesce(sum((r.cost_usd * 1e12)::bigint), 0)::double precision / 1e12 AS cost_usd,
    coalesce(sum((r.litellm_spend_usd * 1e12)::bigint), 0)::double precision / 1e12
        AS litellm_spend_usd,
    min(r.started_at) AS first_request_at,
    max(r.ended_at) AS last_request_at,
    s.outcome_source,
    s.reward,
    CASE WHEN s.outcome_source = 'verified' OR coalesce((
        SELECT e.spec -> 'spec' ->> 'self_reported_outcomes' FROM experiments e
        WHERE e.name = s.experiment ORDER BY e.version DESC LIMIT 1) = 'include', false)
    THEN s.outcome END AS counted_outcome,
    count(r.request_id) FILTER (WHERE r.status_class = 'refused') AS refused,
    count(r.request_id) FILTER (WHERE r.status_class = 'cancelled') AS cancelled
FROM sessions s
LEFT JOIN requests r ON r.session_id = s.id
GROUP BY s.id;
