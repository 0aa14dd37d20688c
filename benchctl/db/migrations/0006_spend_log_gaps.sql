-- Spend rows LiteLLM may have dropped: per session, the successful calls the proxy's own
-- Prometheus latency histogram counted for the session's key alias, against the successful
-- requests collected from its spend logs. A counter restarts with the proxy, so a gap is only
-- ever under-reported, never invented.
CREATE VIEW spend_log_gaps AS
SELECT s.id AS session_id, s.experiment, s.variant, s.variant_version, s.task_card,
    s.replicate, p.value::bigint AS observed, count(r.request_id) AS logged,
    p.value::bigint - count(r.request_id) AS missing
FROM sessions s
JOIN prometheus_samples p ON p.key_alias = s.key_alias
    AND p.metric = 'litellm_request_total_latency_metric_count' AND p.le = 'Infinity'
LEFT JOIN requests r ON r.session_id = s.id AND r.status = 'success'
GROUP BY s.id, p.value
HAVING p.value > count(r.request_id);
