-- What each running attempt is doing (setting up, the harness, the verifier), kept in the
-- database so that anyone watching a run (`benchctl serve`'s live progress) reads it from
-- there, not from the memory of a runner that may be on another host. Indexes for the viewer's
-- sessions list (filtered by experiment, paged in report order) and each session's timeline.

ALTER TABLE run_attempts ADD COLUMN step text NOT NULL DEFAULT 'leased';
CREATE INDEX sessions_report_order
    ON sessions (experiment, variant, variant_version, task_card, replicate);
-- A session's calls in the order they started (its timeline), carrying every column the
-- session_rollups view reads, so a page's per-session figures come from an index-only scan:
-- a session's calls sit together in a few index pages instead of one heap page each, and the
-- planner no longer prefers a sequential scan of all requests for a page of 50 sessions
-- (bench/serve_scale.py, docs/benchmarks.md). It replaces the plain index on session_id.
CREATE INDEX requests_session_started ON requests (session_id, started_at)
    INCLUDE (request_id, status, status_class, latency_ms, ttft_ms, ttft_quality,
        output_tokens_per_s, proxy_overhead_ms, prompt_tokens, completion_tokens,
        cached_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, litellm_spend_usd,
        ended_at);
DROP INDEX requests_session;
