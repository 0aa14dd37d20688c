-- Rollups: the figures reports and dashboards read, computed in SQL from requests and sessions.
-- Deterministic: percentile_cont over a defined ORDER BY, sums of exact integers, sums of
-- floats taken as numeric (exact, so the order rows arrive in cannot change the last digit, as
-- it can for a float sum under another plan), and ratios of those; no now(). Latency and tokens/s are over successful calls (an error's latency measures
-- the failure, not the model); TTFT only over calls whose TTFT was measured.

CREATE VIEW session_rollups AS
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
    count(r.request_id) FILTER (WHERE r.status = 'failure') AS errors,
    coalesce(
        (count(r.request_id) FILTER (WHERE r.status = 'failure'))::double precision
        / nullif(count(r.request_id), 0), 0) AS error_rate,
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
    max(r.ended_at) AS last_request_at
FROM sessions s
LEFT JOIN requests r ON r.session_id = s.id
GROUP BY s.id;

-- The three levels rollups are computed at, as one row's grouping keys; coarser levels have NULL
-- in the columns they do not group by. Views aggregate each row once per level. Unlike GROUPING
-- SETS, this lets a filter on the experiment reach the tables' indexes, so a report of one
-- experiment does not aggregate every experiment in the database.
CREATE FUNCTION rollup_levels(text, integer, text)
RETURNS TABLE (level text, variant text, variant_version integer, task_card text)
LANGUAGE sql IMMUTABLE
AS $$
    VALUES ('variant_task', $1, $2, $3),
        ('variant', $1, $2, NULL),
        ('experiment', NULL, NULL, NULL)
$$;

-- Request-level figures at the three levels, each aggregate defined once. Aborted
-- sessions are left out here as in outcome_rollups, so that both sides of `rollups` count the
-- same sessions (session_rollups still shows them, one by one).
CREATE VIEW request_rollups AS
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
    cache_hit_ratio, cost_usd, litellm_spend_usd
FROM (
    SELECT
        k.level,
        r.experiment,
        k.variant,
        k.variant_version,
        k.task_card,
        count(*) AS requests,
        count(*) FILTER (WHERE r.status = 'failure') AS errors,
        (count(*) FILTER (WHERE r.status = 'failure'))::double precision / count(*) AS error_rate,
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
            AS litellm_spend_usd
    FROM requests r
    JOIN sessions s ON s.id = r.session_id AND s.status <> 'aborted'
    CROSS JOIN LATERAL rollup_levels(r.variant, r.variant_version, r.task_card) k
    GROUP BY r.experiment, k.level, k.variant, k.variant_version, k.task_card
) measured;

-- Session outcomes at the same three levels: success rate and cost per successful task.
CREATE VIEW outcome_rollups AS
SELECT
    k.level,
    s.experiment,
    k.variant,
    k.variant_version,
    k.task_card,
    count(*) AS sessions,
    count(*) FILTER (WHERE s.outcome IS NOT NULL) AS sessions_with_outcome,
    count(*) FILTER (WHERE s.outcome = 'success') AS sessions_succeeded,
    (count(*) FILTER (WHERE s.outcome = 'success'))::double precision
        / nullif(count(*) FILTER (WHERE s.outcome IS NOT NULL), 0) AS success_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY s.duration_s) AS session_duration_p50_s,
    -- What the finished sessions spent per success: open sessions may still succeed.
    (sum(s.cost_usd::numeric) FILTER (WHERE s.outcome IS NOT NULL))::double precision
        / nullif(count(*) FILTER (WHERE s.outcome = 'success'), 0) AS cost_per_success_usd
FROM session_rollups s
CROSS JOIN LATERAL rollup_levels(s.variant, s.variant_version, s.task_card) k
WHERE s.status <> 'aborted'
GROUP BY s.experiment, k.level, k.variant, k.variant_version, k.task_card;

-- Every request_rollups group has its outcome_rollups group (a request's experiment, variant
-- and task card are its session's, and both leave aborted sessions out), so a LEFT JOIN loses
-- nothing; and with the grouping columns taken from one side, a filter on them reaches both
-- sides' scans instead of waiting above a join of every experiment.
CREATE VIEW rollups AS
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
    q.reasoning_tokens, q.cache_hit_ratio, q.cost_usd, q.litellm_spend_usd
FROM outcome_rollups o
LEFT JOIN request_rollups q
    ON q.level = o.level
    AND q.experiment = o.experiment
    AND q.variant IS NOT DISTINCT FROM o.variant
    AND q.variant_version IS NOT DISTINCT FROM o.variant_version
    AND q.task_card IS NOT DISTINCT FROM o.task_card;
