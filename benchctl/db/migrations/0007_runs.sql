-- Headless runs: which sessions `benchctl run` executes, who holds each, and every attempt.

ALTER TABLE sessions ADD COLUMN headless boolean NOT NULL DEFAULT false;

-- One row per attempt at a headless session. A runner leases the session by inserting a
-- `running` attempt under the session row's lock; the lease lapses at `leased_until` unless the
-- runner's heartbeat extends it, so a killed runner's session returns to the pool.
CREATE TABLE run_attempts (
    id bigserial PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id),
    attempt integer NOT NULL CHECK (attempt >= 1),
    runner text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'done', 'infra_error', 'lapsed')),
    leased_until timestamptz NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    exit_code integer,
    timed_out boolean NOT NULL DEFAULT false,
    harness_seconds double precision,
    error text,
    -- Size-capped and redacted before it gets here.
    log text NOT NULL DEFAULT '',
    UNIQUE (session_id, attempt)
);
CREATE INDEX run_attempts_running ON run_attempts (session_id) WHERE status = 'running';
