-- Collected traffic: one row per LLM call the proxy observed, joined to its session through the
-- session key's hash (invariant 1), plus the rollups reports and dashboards read. Every column is
-- derived from the proxy's record and the manifests, never from the wall clock of collection, so
-- collecting the same window twice (or after a crash) leaves byte-identical rows (invariant 7).

CREATE TABLE requests (
    -- LiteLLM's spend-log primary key (the completion id, or the call id for refused calls).
    request_id text PRIMARY KEY,
    litellm_call_id text,
    -- The upstream's own id, when LiteLLM exposes it (errors carry error_provider_request_id).
    provider_request_id text,
    session_id uuid NOT NULL REFERENCES sessions (id),
    experiment text NOT NULL,
    variant text NOT NULL,
    variant_version integer NOT NULL,
    task_card text NOT NULL,
    task_card_version integer NOT NULL,
    key_hash text NOT NULL,
    key_alias text,
    -- What the harness asked for (the variant alias), what LiteLLM routed to, and through whom.
    requested_model text,
    routed_model text,
    provider text,
    call_type text,
    started_at timestamptz NOT NULL,
    first_token_at timestamptz,
    ended_at timestamptz,
    latency_ms double precision,
    ttft_ms double precision,
    -- LiteLLM reports TTFT equal to total latency on some routes and for non-streamed calls:
    -- figures built on anything but 'measured' are marked in reports.
    ttft_quality text NOT NULL CHECK (ttft_quality IN ('measured', 'missing', 'equal_to_total')),
    output_tokens_per_s double precision,
    prompt_tokens integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cached_read_tokens integer NOT NULL DEFAULT 0,
    cache_write_tokens integer NOT NULL DEFAULT 0,
    reasoning_tokens integer NOT NULL DEFAULT 0,
    -- Recomputed from the usage object and the provider manifest's prices, beside LiteLLM's own.
    cost_usd double precision,
    litellm_spend_usd double precision,
    status text NOT NULL CHECK (status IN ('success', 'failure')),
    error_class text,
    error_code text,
    streamed boolean,
    proxy_overhead_ms double precision,
    -- The key's metadata tags disagreed with the session the hash joined to (reported, not used).
    tag_mismatch boolean NOT NULL DEFAULT false,
    -- 'key_alias' when the hash is no longer the session's (its key was replaced since) and the
    -- row joined through the session's deterministic key alias, which LiteLLM logs from the key.
    joined_by text NOT NULL DEFAULT 'key_hash' CHECK (joined_by IN ('key_hash', 'key_alias')),
    -- LiteLLM's updated_at of the source row: a later version of a row replaces an earlier one.
    source_updated_at timestamptz
);
CREATE INDEX requests_session ON requests (session_id);
CREATE INDEX requests_experiment_variant ON requests (experiment, variant, task_card);
CREATE INDEX requests_started_at ON requests (started_at);

-- Rows whose key looks like one of ours (benchctl- alias prefix) but joins to no session: kept
-- and explained, never guessed onto a session nor silently dropped.
CREATE TABLE unattributed_requests (
    request_id text PRIMARY KEY,
    key_hash text,
    key_alias text,
    requested_model text,
    started_at timestamptz NOT NULL,
    reason text NOT NULL,
    source_updated_at timestamptz
);

-- Rows of keys that are not this database's (other keys of a shared proxy): only their id and
-- why, so that collecting the same window again need not fetch and classify them again.
CREATE TABLE skipped_requests (
    request_id text PRIMARY KEY,
    reason text NOT NULL,
    source_updated_at timestamptz
);

-- Prompt/response content, only for experiments that enable capture, after their redaction
-- rules; apart from requests so that dropping it never touches the measurements.
CREATE TABLE request_content (
    request_id text PRIMARY KEY REFERENCES requests (request_id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES sessions (id),
    experiment text NOT NULL,
    messages jsonb,
    response jsonb,
    -- When the call ended and its retention ends: from the proxy's record, never the collector's
    -- clock, so collecting again writes the same row.
    captured_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX request_content_expires ON request_content (expires_at);

-- How far each source has been read. The next run starts an overlap window before it, so rows
-- LiteLLM writes late are caught; the natural key keeps the overlap from counting twice.
CREATE TABLE collect_watermarks (
    source text PRIMARY KEY,
    high_water timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Latency, TTFT and overhead histograms per key alias from Prometheus, for what spend logs lack:
-- the cumulative bucket counts (metric `<name>`, upper bound `le`, 'Infinity' for +Inf) and the
-- sum of observations (metric `<name>_sum`, le 'Infinity'), as of `observed_at`. A later collect
-- replaces them: the counters only grow while the proxy runs.
CREATE TABLE prometheus_samples (
    key_alias text NOT NULL,
    session_id uuid REFERENCES sessions (id),
    metric text NOT NULL,
    le double precision NOT NULL,
    value double precision NOT NULL,
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (key_alias, metric, le)
);
