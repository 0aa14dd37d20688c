-- The cost ledger: spend rows LiteLLM dropped, the harness's own account, and each session's cost
-- three ways.

-- Cache writes to the 1-hour cache (a part of cache_write_tokens, priced apart), and which
-- prices costed each request.
ALTER TABLE requests
    ADD COLUMN cache_write_1h_tokens integer NOT NULL DEFAULT 0,
    ADD COLUMN price_version text;

-- Spend rows LiteLLM may have dropped: per session, the calls the proxy's own Prometheus
-- latency histogram counted for the session's key alias (calls that got an answer, a stream
-- the client cut included), against those collected from its spend logs. A counter restarts
-- with the proxy, so a gap is only ever under-reported, never invented; a session still running
-- may show calls LiteLLM has not written yet.
CREATE VIEW spend_log_gaps AS
SELECT s.id AS session_id, s.experiment, s.variant, s.variant_version, s.task_card,
    s.replicate, p.value::bigint AS observed, count(r.request_id) AS logged,
    p.value::bigint - count(r.request_id) AS missing
FROM sessions s
JOIN prometheus_samples p ON p.key_alias = s.key_alias
    AND p.metric = 'litellm_request_total_latency_metric_count' AND p.le = 'Infinity'
LEFT JOIN requests r ON r.session_id = s.id AND r.status_class IN ('success', 'cancelled')
GROUP BY s.id, p.value
HAVING p.value > count(r.request_id);

-- The harness's own account of a session (Claude Code's `total_cost_usd`...), read from its
-- output as its harness profile's `account` says.
CREATE TABLE session_accounts (
    session_id uuid PRIMARY KEY REFERENCES sessions (id),
    cost_usd double precision CHECK (cost_usd >= 0),
    input_tokens bigint CHECK (input_tokens >= 0),
    output_tokens bigint CHECK (output_tokens >= 0),
    source text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Each session's cost three ways: recomputed from usage and the provider manifest's prices (what
-- reports use), LiteLLM's own `spend`, and the harness's account where one was recorded; and
-- whether the other two disagree with the recomputed cost, by more than 5% and a tenth of a cent.
CREATE VIEW cost_ledger AS
SELECT session_id, experiment, variant, variant_version, task_card, replicate, recomputed_usd,
    litellm_usd, harness_usd, requests, unpriced,
    abs(litellm_usd - recomputed_usd) > greatest(0.05 * recomputed_usd, 0.001)
        AS litellm_disagrees,
    abs(harness_usd - recomputed_usd) > greatest(0.05 * recomputed_usd, 0.001)
        AS harness_disagrees
FROM (
    SELECT s.id AS session_id, s.experiment, s.variant, s.variant_version, s.task_card,
        s.replicate,
        coalesce(sum(r.cost_usd::numeric), 0)::double precision AS recomputed_usd,
        coalesce(sum(r.litellm_spend_usd::numeric), 0)::double precision AS litellm_usd,
        a.cost_usd AS harness_usd,
        count(r.request_id) AS requests,
        count(r.request_id) FILTER (WHERE r.cost_usd IS NULL) AS unpriced
    FROM sessions s
    LEFT JOIN requests r ON r.session_id = s.id
    LEFT JOIN session_accounts a ON a.session_id = s.id
    WHERE s.status <> 'aborted'
    GROUP BY s.id, a.cost_usd
) ledger;
