-- Verified outcomes: every run of a task card's verifier on a session's workspace, and which
-- one a finalized session's outcome came from. An outcome typed by the operator is kept, and
-- labelled self-reported; reports count the two apart.

CREATE TABLE verifications (
    id bigserial PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id),
    task_card text NOT NULL,
    task_card_version integer NOT NULL,
    -- scored: the verifier measured a reward; error: it timed out, could not run or wrote a
    -- malformed reward file, so the attempt is unscored (never counted as the agent's failure).
    status text NOT NULL CHECK (status IN ('scored', 'error')),
    reward double precision CHECK (reward >= 0 AND reward <= 1),
    outcome text CHECK (outcome IN ('success', 'partial', 'failure')),
    subscores jsonb NOT NULL DEFAULT '{}',
    reward_source text,
    -- [{"name": ..., "status": "passed" | "failed" | "skipped"}]
    checks jsonb NOT NULL DEFAULT '[]',
    passed integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    -- SHA-256 of the hidden tests folder: the verifier's version.
    tests_hash text,
    exit_code integer,
    timed_out boolean NOT NULL DEFAULT false,
    duration_ms integer NOT NULL,
    sandbox text NOT NULL,
    error text,
    -- Size-capped and redacted before it gets here.
    log text NOT NULL DEFAULT '',
    workspace text NOT NULL,
    operator text NOT NULL,
    verified_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'scored') = (reward IS NOT NULL AND outcome IS NOT NULL)),
    FOREIGN KEY (task_card, task_card_version) REFERENCES task_cards (name, version)
);
CREATE INDEX verifications_session ON verifications (session_id, id);

ALTER TABLE sessions
    ADD COLUMN outcome_source text CHECK (outcome_source IN ('verified', 'self-reported')),
    ADD COLUMN reward double precision CHECK (reward >= 0 AND reward <= 1),
    ADD COLUMN verification_id bigint REFERENCES verifications (id);
-- Every outcome recorded before verifiers existed was typed by the operator.
UPDATE sessions SET outcome_source = 'self-reported' WHERE outcome IS NOT NULL;

-- The rollups gain the outcome's source. An outcome counts towards success rates and cost per
-- success when it was verified, or when its experiment accepts self-reported ones
-- (spec.self_reported_outcomes: include). Columns are appended, so views built on them stand.
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
    max(r.ended_at) AS last_request_at,
    s.outcome_source,
    s.reward,
    CASE WHEN s.outcome_source = 'verified' OR coalesce((
        SELECT e.spec -> 'spec' ->> 'self_reported_outcomes' FROM experiments e
        WHERE e.name = s.experiment ORDER BY e.version DESC LIMIT 1) = 'include', false)
    THEN s.outcome END AS counted_outcome
FROM sessions s
LEFT JOIN requests r ON r.session_id = s.id
GROUP BY s.id;

-- Outcomes that count, as above; and how many of each source there are, appended.
CREATE OR REPLACE VIEW outcome_rollups AS
SELECT
    k.level,
    s.experiment,
    k.variant,
    k.variant_version,
    k.task_card,
    count(*) AS sessions,
    count(*) FILTER (WHERE s.counted_outcome IS NOT NULL) AS sessions_with_outcome,
    count(*) FILTER (WHERE s.counted_outcome = 'success') AS sessions_succeeded,
    (count(*) FILTER (WHERE s.counted_outcome = 'success'))::double precision
        / nullif(count(*) FILTER (WHERE s.counted_outcome IS NOT NULL), 0) AS success_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY s.duration_s) AS session_duration_p50_s,
    (sum(s.cost_usd::numeric) FILTER (WHERE s.counted_outcome IS NOT NULL))::double precision
        / nullif(count(*) FILTER (WHERE s.counted_outcome = 'success'), 0)
        AS cost_per_success_usd,
    count(*) FILTER (WHERE s.outcome_source = 'verified') AS sessions_verified,
    count(*) FILTER (WHERE s.outcome_source = 'self-reported') AS sessions_self_reported
FROM session_rollups s
CROSS JOIN LATERAL rollup_levels(s.variant, s.variant_version, s.task_card) k
WHERE s.status <> 'aborted'
GROUP BY s.experiment, k.level, k.variant, k.variant_version, k.task_card;

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
    o.sessions_self_reported
FROM outcome_rollups o
LEFT JOIN request_rollups q
    ON q.level = o.level
    AND q.experiment = o.experiment
    AND q.variant IS NOT DISTINCT FROM o.variant
    AND q.variant_version IS NOT DISTINCT FROM o.variant_version
    AND q.task_card IS NOT DISTINCT FROM o.task_card;
