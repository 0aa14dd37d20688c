-- name: collect.sessions
SELECT id, experiment, variant, variant_version, task_card, task_card_version, key_alias,
    key_hash, status, opened_at, ended_at
FROM sessions ORDER BY id

-- name: collect.prices
-- Per variant version, the prices of its provider's model (providers are not versioned: their
-- one row is the current manifest).
SELECT v.name AS variant, v.version AS variant_version,
    (SELECT p.spec -> 'spec' -> 'models' -> (v.spec -> 'spec' ->> 'model') -> 'prices'
     FROM providers p WHERE p.name = v.spec -> 'spec' ->> 'provider'
     ORDER BY p.version DESC LIMIT 1) AS prices
FROM variants v

-- name: collect.capture
SELECT DISTINCT ON (name) name AS experiment,
    spec -> 'spec' -> 'session_policy' -> 'content_capture' AS capture
FROM experiments ORDER BY name, version DESC

-- name: collect.litellm_rows
-- Runs on LiteLLM's database. The columns of benchctl.collect.spend_row.SpendRow, in order;
-- metadata fields are extracted here so that its several KB per row never cross the wire.
-- LiteLLM's timestamps are `timestamp without time zone` in UTC.
SELECT request_id, litellm_call_id, api_key, metadata ->> 'user_api_key_alias' AS key_alias,
    call_type, model, model_group, custom_llm_provider,
    "startTime" AT TIME ZONE 'UTC' AS started_at,
    "completionStartTime" AT TIME ZONE 'UTC' AS first_token_at,
    "endTime" AT TIME ZONE 'UTC' AS ended_at,
    status, spend, prompt_tokens, completion_tokens,
    metadata -> 'usage_object' AS usage,
    metadata -> 'error_information' AS error,
    (metadata ->> 'litellm_overhead_time_ms')::double precision AS overhead_ms,
    request_tags,
    updated_at AT TIME ZONE 'UTC' AS updated_at,
    CASE WHEN api_key = ANY(%(capture_keys)s)
        OR metadata ->> 'user_api_key_alias' = ANY(%(capture_aliases)s) THEN messages END,
    CASE WHEN api_key = ANY(%(capture_keys)s)
        OR metadata ->> 'user_api_key_alias' = ANY(%(capture_aliases)s) THEN response END
FROM "LiteLLM_SpendLogs"
WHERE "startTime" >= (%(since)s::timestamptz AT TIME ZONE 'UTC')
    AND (%(ids)s::text[] IS NULL OR request_id = ANY(%(ids)s::text[]))

-- name: collect.litellm_versions
-- Runs on LiteLLM's database, inside COPY ... TO STDOUT: what the window holds, and which
-- version of each row, without reading the rows' metadata.
SELECT request_id, "startTime" AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC'
FROM "LiteLLM_SpendLogs"
WHERE "startTime" >= (%(since)s::timestamptz AT TIME ZONE 'UTC')

-- name: collect.create_temp
-- With the generated status_class computed here as in requests.
CREATE TEMP TABLE IF NOT EXISTS collect_requests_in (LIKE requests INCLUDING GENERATED)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS collect_unattributed_in (LIKE unattributed_requests)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS collect_skipped_in (LIKE skipped_requests) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS collect_content_in (LIKE request_content) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS collect_seen (
    request_id text NOT NULL,
    started_at timestamptz NOT NULL,
    source_updated_at timestamptz
);
TRUNCATE collect_seen

-- name: collect.seen_summary
-- After the window's (request_id, versions) were copied into collect_seen: how many rows, the
-- latest start, and how many are already stored at the same version, by where they are.
SELECT
    (SELECT count(*) FROM collect_seen) AS seen,
    (SELECT max(started_at) FROM collect_seen) AS high_water,
    (SELECT count(*) FROM collect_seen s JOIN requests r USING (request_id)
        WHERE r.source_updated_at = s.source_updated_at) AS unchanged,
    (SELECT count(*) FROM collect_seen s JOIN unattributed_requests u USING (request_id)
        WHERE u.source_updated_at = s.source_updated_at) AS unattributed,
    (SELECT coalesce(jsonb_object_agg(reason, n), '{}') FROM (
        SELECT k.reason, count(*) AS n FROM collect_seen s JOIN skipped_requests k
            USING (request_id)
        WHERE k.source_updated_at = s.source_updated_at GROUP BY k.reason) AS r) AS skipped

-- name: collect.changed_ids
-- Rows of the window not stored at the version LiteLLM now has: new, updated, or never stored.
SELECT s.request_id FROM collect_seen s
WHERE NOT EXISTS (SELECT 1 FROM requests r
        WHERE r.request_id = s.request_id AND r.source_updated_at = s.source_updated_at)
    AND NOT EXISTS (SELECT 1 FROM unattributed_requests u
        WHERE u.request_id = s.request_id AND u.source_updated_at = s.source_updated_at)
    AND NOT EXISTS (SELECT 1 FROM skipped_requests k
        WHERE k.request_id = s.request_id AND k.source_updated_at = s.source_updated_at)
ORDER BY s.request_id

-- name: collect.keep_costs
-- Rows collected before that were costed with other prices (the provider's changed since) keep
-- their cost and price version: a price change re-costs nothing silently. `collect --recost`
-- skips this step.
-- Only rows whose usage and status are unchanged: new usage is costed anew. Rows never priced
-- (no price_version) get their first price.
UPDATE collect_requests_in i SET cost_usd = r.cost_usd, price_version = r.price_version
FROM requests r
WHERE r.request_id = i.request_id AND r.price_version IS DISTINCT FROM i.price_version
    AND r.price_version IS NOT NULL AND r.cost_usd IS NOT NULL
    AND (r.prompt_tokens, r.completion_tokens, r.cached_read_tokens, r.cache_write_tokens,
        r.cache_write_1h_tokens, r.status)
    = (i.prompt_tokens, i.completion_tokens, i.cached_read_tokens, i.cache_write_tokens,
        i.cache_write_1h_tokens, i.status)

-- name: collect.merge_requests
-- Inserts new rows, rewrites rows whose normalized form changed, leaves the rest untouched (no
-- write, no new tuple); a row that joins a session now leaves unattributed_requests.
WITH merged AS (
    -- Every column but the generated status_class, which requests derives itself.
    INSERT INTO requests AS r (
        request_id, litellm_call_id, provider_request_id, session_id, experiment, variant,
        variant_version, task_card, task_card_version, key_hash, key_alias, requested_model,
        routed_model, provider, call_type, started_at, first_token_at, ended_at, latency_ms,
        ttft_ms, ttft_quality, output_tokens_per_s, prompt_tokens, completion_tokens,
        cached_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd,
        litellm_spend_usd, status, error_class, error_code, streamed, proxy_overhead_ms,
        tag_mismatch, joined_by, source_updated_at, cache_write_1h_tokens, price_version
    ) SELECT
        request_id, litellm_call_id, provider_request_id, session_id, experiment, variant,
        variant_version, task_card, task_card_version, key_hash, key_alias, requested_model,
        routed_model, provider, call_type, started_at, first_token_at, ended_at, latency_ms,
        ttft_ms, ttft_quality, output_tokens_per_s, prompt_tokens, completion_tokens,
        cached_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd,
        litellm_spend_usd, status, error_class, error_code, streamed, proxy_overhead_ms,
        tag_mismatch, joined_by, source_updated_at, cache_write_1h_tokens, price_version
    FROM collect_requests_in
    ON CONFLICT (request_id) DO UPDATE SET
        litellm_call_id = excluded.litellm_call_id,
        provider_request_id = excluded.provider_request_id,
        session_id = excluded.session_id,
        experiment = excluded.experiment,
        variant = excluded.variant,
        variant_version = excluded.variant_version,
        task_card = excluded.task_card,
        task_card_version = excluded.task_card_version,
        key_hash = excluded.key_hash,
        key_alias = excluded.key_alias,
        requested_model = excluded.requested_model,
        routed_model = excluded.routed_model,
        provider = excluded.provider,
        call_type = excluded.call_type,
        started_at = excluded.started_at,
        first_token_at = excluded.first_token_at,
        ended_at = excluded.ended_at,
        latency_ms = excluded.latency_ms,
        ttft_ms = excluded.ttft_ms,
        ttft_quality = excluded.ttft_quality,
        output_tokens_per_s = excluded.output_tokens_per_s,
        prompt_tokens = excluded.prompt_tokens,
        completion_tokens = excluded.completion_tokens,
        cached_read_tokens = excluded.cached_read_tokens,
        cache_write_tokens = excluded.cache_write_tokens,
        reasoning_tokens = excluded.reasoning_tokens,
        cost_usd = excluded.cost_usd,
        price_version = excluded.price_version,
        cache_write_1h_tokens = excluded.cache_write_1h_tokens,
        litellm_spend_usd = excluded.litellm_spend_usd,
        status = excluded.status,
        error_class = excluded.error_class,
        error_code = excluded.error_code,
        streamed = excluded.streamed,
        proxy_overhead_ms = excluded.proxy_overhead_ms,
        tag_mismatch = excluded.tag_mismatch,
        joined_by = excluded.joined_by,
        source_updated_at = excluded.source_updated_at
    WHERE r IS DISTINCT FROM excluded
    RETURNING (xmax = 0) AS inserted
), moved AS (
    DELETE FROM unattributed_requests u USING collect_requests_in i
    WHERE u.request_id = i.request_id
)
SELECT count(*) FILTER (WHERE inserted) AS new, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged

-- name: collect.merge_unattributed
-- A row that no longer belongs to its session (made after it ended) leaves requests.
WITH left_session AS (
    DELETE FROM requests r USING collect_unattributed_in i WHERE r.request_id = i.request_id
), merged AS (
    INSERT INTO unattributed_requests AS u SELECT * FROM collect_unattributed_in
    ON CONFLICT (request_id) DO UPDATE SET
        key_hash = excluded.key_hash,
        key_alias = excluded.key_alias,
        requested_model = excluded.requested_model,
        started_at = excluded.started_at,
        reason = excluded.reason,
        source_updated_at = excluded.source_updated_at
    WHERE u IS DISTINCT FROM excluded
    RETURNING 1
)
SELECT count(*) AS changed FROM merged

-- name: collect.merge_skipped
INSERT INTO skipped_requests AS k SELECT * FROM collect_skipped_in
ON CONFLICT (request_id) DO UPDATE SET
    reason = excluded.reason, source_updated_at = excluded.source_updated_at
WHERE k IS DISTINCT FROM excluded

-- name: collect.merge_content
-- Content past its retention is not stored again when an old window is collected anew.
WITH kept AS (
    INSERT INTO request_content AS c SELECT * FROM collect_content_in WHERE expires_at > now()
    ON CONFLICT (request_id) DO UPDATE SET
        session_id = excluded.session_id,
        experiment = excluded.experiment,
        messages = excluded.messages,
        response = excluded.response,
        captured_at = excluded.captured_at,
        expires_at = excluded.expires_at
    WHERE c IS DISTINCT FROM excluded
    RETURNING 1
)
SELECT count(*) AS changed FROM kept

-- name: collect.watermark
SELECT high_water FROM collect_watermarks WHERE source = %(source)s

-- name: collect.set_watermark
-- Never moves back: a run that saw only older rows keeps the later mark.
INSERT INTO collect_watermarks AS w (source, high_water) VALUES (%(source)s, %(high_water)s)
ON CONFLICT (source) DO UPDATE
SET high_water = greatest(w.high_water, excluded.high_water), updated_at = now()

-- name: collect.delete_prometheus
-- The latest cumulative histograms of the key aliases just queried replace their earlier ones.
DELETE FROM prometheus_samples WHERE key_alias = ANY(%(key_alias)s)

-- name: collect.insert_prometheus
INSERT INTO prometheus_samples (key_alias, session_id, metric, le, value, observed_at)
SELECT a.key_alias, s.id, a.metric, a.le, a.value, a.observed_at
FROM unnest(%(key_alias)s::text[], %(metric)s::text[], %(le)s::float8[], %(value)s::float8[],
        %(observed_at)s::timestamptz[]) AS a (key_alias, metric, le, value, observed_at)
LEFT JOIN sessions s ON s.key_alias = a.key_alias

-- name: collect.purge_content
-- Expired content, or all of one experiment's content.
WITH purged AS (
    DELETE FROM request_content
    WHERE (%(experiment)s::text IS NULL AND expires_at <= now())
        OR experiment = %(experiment)s
    RETURNING 1
)
SELECT count(*) AS purged FROM purged

-- name: collect.copy_out_binary
-- Wraps a named SELECT: its rows as one binary COPY stream.
COPY ({select}) TO STDOUT (FORMAT BINARY)

-- name: collect.copy_seen
COPY collect_seen (request_id, started_at, source_updated_at) FROM STDIN (FORMAT BINARY)

-- name: collect.copy_in_binary
COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)

-- name: collect.spend_log_gaps
-- Of the sessions this run collected (all when none were selected).
SELECT count(*) AS sessions, coalesce(sum(missing), 0) AS missing FROM spend_log_gaps
WHERE %(sessions)s::uuid[] IS NULL OR session_id = ANY(%(sessions)s::uuid[])
