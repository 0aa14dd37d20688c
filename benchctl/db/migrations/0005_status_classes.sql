-- Status classes: what a failed call says, and about whom. An upstream error is the provider's
-- (its error rate); a call the proxy refused (a revoked key, an exhausted budget, a model the
-- key may not use) is about the harness's configuration or the policy, shown apart; a call the
-- client cancelled (a stream cut short) keeps the tokens billed. Error rates count upstream
-- errors over the calls that reached the upstream. Columns are appended to the views.

-- Derived in one place, from the status and HTTP code the collector normalized: 401 (a revoked
-- or unknown key), 403 (a model the key may not use) and 422 (an exhausted budget) are the
-- proxy's refusals; 499 a client that closed the connection.
ALTER TABLE requests ADD COLUMN status_class text NOT NULL GENERATED ALWAYS AS (CASE
    WHEN status = 'success' THEN 'success'
    WHEN error_code = '499' THEN 'cancelled'
    WHEN error_code IN ('401', '403', '422') THEN 'refused'
    ELSE 'upstream_error' END) STORED;

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
    coalesce(sum(r.cost_usd::numeric), 0)::double precision AS cost_usd,
    coalesce(sum(r.litellm_spend_usd::numeric), 0)::double precision
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

CREATE OR REPLACE VIEW request_rollups AS
-- One sort per measure for all its percentiles (the array form of percentile_cont), instead of
-- one sort per percentile.
SELECT
    level, experiment, variant, variant_version, task_card, requests, errors, error_rate,
    latency[1] AS latency_p50_ms,
    latency[2] AS latency_p90_ms,
    latency[3] AS latency_p95_ms,
    latency[4] AS latency_p99_ms,
    ttft[1] AS ttft_p50_ms,
    ttft[2] AS ttft_p90_ms,
    ttft[3] AS ttft_p95_ms,
    ttft[4] AS ttft_p99_ms,
    ttft_measured, successes, tokens_per_s_p50,
    overhead[1] AS overhead_p50_ms,
    overhead[2] AS overhead_p95_ms,
    prompt_tokens, completion_tokens, cached_read_tokens, cache_write_tokens, reasoning_tokens,
    cache_hit_ratio, cost_usd, litellm_spend_usd, refused, cancelled
FROM (
    SELECT
        k.level,
        r.experiment,
        k.variant,
        k.variant_version,
        k.task_card,
        count(*) AS requests,
        count(*) FILTER (WHERE r.status_class = 'upstream_error') AS errors,
        coalesce((count(*) FILTER (WHERE r.status_class = 'upstream_error'))::double precision
            / nullif(count(*) FILTER (WHERE r.status_class <> 'refused'), 0), 0) AS error_rate,
        percentile_cont('{0.5, 0.9, 0.95, 0.99}'::double precision[])
            WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.status = 'success') AS latency,
        percentile_cont('{0.5, 0.9, 0.95, 0.99}'::double precision[])
            WITHIN GROUP (ORDER BY r.ttft_ms)
            FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'measured') AS ttft,
        count(*) FILTER (WHERE r.status = 'success' AND r.ttft_quality = 'measured') AS ttft_measured,
        count(*) FILTER (WHERE r.status = 'success') AS successes,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY r.output_tokens_per_s)
            FILTER (WHERE r.status = 'success') AS tokens_per_s_p50,
        percentile_cont('{0.5, 0.95}'::double precision[])
            WITHIN GROUP (ORDER BY r.proxy_overhead_ms) AS overhead,
        sum(r.prompt_tokens) AS prompt_tokens,
        sum(r.completion_tokens) AS completion_tokens,
        sum(r.cached_read_tokens) AS cached_read_tokens,
        sum(r.cache_write_tokens) AS cache_write_tokens,
        sum(r.reasoning_tokens) AS reasoning_tokens,
        coalesce(sum(r.cached_read_tokens)::double precision / nullif(sum(r.prompt_tokens), 0), 0)
            AS cache_hit_ratio,
        coalesce(sum(r.cost_usd::numeric), 0)::double precision AS cost_usd,
        coalesce(sum(r.litellm_spend_usd::numeric), 0)::double precision
            AS litellm_spend_usd,
        count(*) FILTER (WHERE r.status_class = 'refused') AS refused,
        count(*) FILTER (WHERE r.status_class = 'cancelled') AS cancelled
    FROM requests r
    JOIN sessions s ON s.id = r.session_id AND s.status <> 'aborted'
    CROSS JOIN LATERAL rollup_levels(r.variant, r.variant_version, r.task_card) k
    GROUP BY r.experiment, k.level, k.variant, k.variant_version, k.task_card
) measured;

CREATE OR REPLACE VIEW rollups AS
SELECT
    o.level,
    o.experiment,
    o.variant,
    o.variant_version,
    o.task_card,
    o.sessions,
    o.sessions_with_outcome,
    o.sessions_succeeded,
    o.success_rate,
    o.session_duration_p50_s,
    o.cost_per_success_usd,
    coalesce(q.requests, 0) AS requests,
    coalesce(q.errors, 0) AS errors,
    q.error_rate,
    q.successes,
    q.latency_p50_ms, q.latency_p90_ms, q.latency_p95_ms, q.latency_p99_ms,
    q.ttft_p50_ms, q.ttft_p90_ms, q.ttft_p95_ms, q.ttft_p99_ms, q.ttft_measured,
    q.tokens_per_s_p50,
    q.overhead_p50_ms, q.overhead_p95_ms,
    q.prompt_tokens, q.completion_tokens, q.cached_read_tokens, q.cache_write_tokens,
    q.reasoning_tokens, q.cache_hit_ratio, q.cost_usd, q.litellm_spend_usd,
    o.sessions_verified,
    o.sessions_self_reported,
    coalesce(q.refused, 0) AS refused,
    coalesce(q.cancelled, 0) AS cancelled
FROM outcome_rollups o
LEFT JOIN request_rollups q
    ON q.level = o.level
    AND q.experiment = o.experiment
    AND q.variant IS NOT DISTINCT FROM o.variant
    AND q.variant_version IS NOT DISTINCT FROM o.variant_version
    AND q.task_card IS NOT DISTINCT FROM o.task_card;
