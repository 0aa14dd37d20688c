-- Reconciled state: the manifests benchctl applied, the sessions it opened, and its apply log.
-- Every object table has the same shape, so one code path reconciles them all. Versioned kinds
-- (variants, task cards) get a new row per comparability-breaking change once they have
-- sessions; the others keep version 1 and are updated in place.

CREATE TABLE state_meta (
    id integer PRIMARY KEY CHECK (id = 1),
    -- Bumped by every apply that changes something; a saved plan records the serial it saw.
    serial bigint NOT NULL DEFAULT 0,
    lineage uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO state_meta (id) VALUES (1);

CREATE TABLE providers (
    name text NOT NULL,
    version integer NOT NULL DEFAULT 1,
    spec jsonb NOT NULL,
    content_hash text NOT NULL,
    comparable jsonb NOT NULL,
    git_commit text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    PRIMARY KEY (name, version)
);
CREATE TABLE harness_profiles (LIKE providers INCLUDING ALL);
CREATE TABLE task_cards (LIKE providers INCLUDING ALL);
CREATE TABLE variants (LIKE providers INCLUDING ALL);
CREATE TABLE experiments (LIKE providers INCLUDING ALL);

CREATE TABLE sessions (
    -- uuid5 of (experiment, variant, task card, replicate): a retried apply finds the same row.
    id uuid PRIMARY KEY,
    experiment text NOT NULL,
    variant text NOT NULL,
    variant_version integer NOT NULL,
    task_card text NOT NULL,
    task_card_version integer NOT NULL,
    harness_profile text NOT NULL,
    replicate integer NOT NULL CHECK (replicate >= 1),
    -- opening/finalizing/aborting are the in-between states a killed apply leaves behind;
    -- the next plan resumes from them.
    status text NOT NULL CHECK (
        status IN ('opening', 'open', 'finalizing', 'finalized', 'aborting', 'aborted')
    ),
    outcome text CHECK (outcome IN ('success', 'partial', 'failure')),
    notes text NOT NULL DEFAULT '',
    key_alias text NOT NULL UNIQUE,
    -- LiteLLM's sha256 of the key, as its spend logs carry it; never the key itself.
    key_hash text UNIQUE,
    key_expires_at timestamptz,
    budget_usd double precision NOT NULL,
    ttl_seconds integer NOT NULL,
    manifest_commit text,
    manifest_dirty boolean,
    repo_path text NOT NULL,
    operator text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    opened_at timestamptz,
    ended_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (experiment, variant, task_card, replicate),
    FOREIGN KEY (variant, variant_version) REFERENCES variants (name, version),
    FOREIGN KEY (task_card, task_card_version) REFERENCES task_cards (name, version)
);
CREATE INDEX sessions_experiment ON sessions (experiment);

CREATE TABLE apply_log (
    id bigserial PRIMARY KEY,
    operation text NOT NULL,
    operator text NOT NULL,
    manifest_commit text,
    plan_fingerprint text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    summary jsonb NOT NULL,
    error text
);

-- Who holds the state lock; the lock itself is a session-level advisory lock, so a killed
-- holder releases it with its connection. This row only says who and since when.
CREATE TABLE state_lock (
    id integer PRIMARY KEY CHECK (id = 1),
    holder text NOT NULL,
    operation text NOT NULL,
    acquired_at timestamptz NOT NULL,
    backend_pid integer NOT NULL
);
