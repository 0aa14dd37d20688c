-- name: sessions.insert
-- ON CONFLICT: a retried open finds the row its killed predecessor wrote (same uuid5 id).
INSERT INTO sessions (id, experiment, variant, variant_version, task_card, task_card_version,
    harness_profile, replicate, status, notes, key_alias, budget_usd, ttl_seconds,
    manifest_commit, manifest_dirty, repo_path, operator, headless)
VALUES (%(id)s, %(experiment)s, %(variant)s, %(variant_version)s, %(task_card)s,
    %(task_card_version)s, %(harness_profile)s, %(replicate)s, 'opening', %(notes)s,
    %(key_alias)s, %(budget_usd)s, %(ttl_seconds)s, %(manifest_commit)s, %(manifest_dirty)s,
    %(repo_path)s, %(operator)s, coalesce(%(headless)s::boolean, false))
ON CONFLICT (id) DO NOTHING

-- name: sessions.mark_open
UPDATE sessions SET status = 'open', key_hash = %(key_hash)s, key_expires_at = %(expires)s,
    opened_at = coalesce(opened_at, now()), updated_at = now()
WHERE id = %(id)s

-- name: sessions.mark_ending
-- A verified outcome records the verification the plan checked it against (and no other: one
-- made between plan and apply is not what was reviewed).
UPDATE sessions SET status = %(status)s, outcome = coalesce(%(outcome)s, outcome),
    outcome_source = coalesce(%(source)s, outcome_source),
    (reward, verification_id) = (
        SELECT v.reward, v.id FROM verifications v
        WHERE v.id = %(verification_id)s AND v.session_id = sessions.id
            AND v.outcome = %(outcome)s),
    notes = coalesce(%(notes)s, notes), ended_at = coalesce(ended_at, now()), updated_at = now()
WHERE id = %(id)s

-- name: sessions.mark_ended
UPDATE sessions SET status = %(status)s, updated_at = now() WHERE id = %(id)s

-- name: sessions.update_record
-- An edit of a finished session's entry: a verified outcome keeps the verification it has
-- unless the plan checked another (its outcome changed); a typed one has none.
UPDATE sessions SET outcome = %(outcome)s, outcome_source = %(source)s, notes = %(notes)s,
    reward = CASE
        WHEN %(source)s::text IS DISTINCT FROM 'verified' THEN NULL
        WHEN %(verification_id)s::bigint IS NULL THEN reward
        ELSE (SELECT v.reward FROM verifications v
              WHERE v.id = %(verification_id)s AND v.session_id = sessions.id
                  AND v.outcome = %(outcome)s) END,
    verification_id = CASE
        WHEN %(source)s::text IS DISTINCT FROM 'verified' THEN NULL
        WHEN %(verification_id)s::bigint IS NULL THEN verification_id
        ELSE (SELECT v.id FROM verifications v
              WHERE v.id = %(verification_id)s AND v.session_id = sessions.id
                  AND v.outcome = %(outcome)s) END,
    updated_at = now()
WHERE id = %(id)s

-- name: sessions.list
-- Filters are optional; `prefix` matches an id or its first characters, as git resolves short
-- commit ids.
SELECT id::text AS id, experiment, variant, variant_version, task_card, task_card_version,
    harness_profile, replicate, status, outcome, outcome_source, reward, notes, key_alias,
    key_hash, key_expires_at, budget_usd, ttl_seconds, manifest_commit, manifest_dirty,
    repo_path, operator, created_at, opened_at, ended_at
FROM sessions
WHERE (%(experiment)s::text IS NULL OR experiment = %(experiment)s)
    AND (%(status)s::text IS NULL OR status = %(status)s)
    AND (%(prefix)s::text IS NULL OR id::text LIKE %(prefix)s || '%%')
ORDER BY experiment, variant, task_card, replicate

-- name: sessions.documents
-- The manifests a session was opened with, to render its env snippet again.
SELECT
    (SELECT spec FROM variants WHERE name = s.variant AND version = s.variant_version) AS variant,
    (SELECT spec FROM task_cards WHERE name = s.task_card AND version = s.task_card_version)
        AS task_card,
    (SELECT spec FROM harness_profiles WHERE name = s.harness_profile
        ORDER BY version DESC LIMIT 1) AS harness_profile,
    (SELECT p.spec FROM providers p WHERE p.name = (
        SELECT v.spec -> 'spec' ->> 'provider' FROM variants v
        WHERE v.name = s.variant AND v.version = s.variant_version)
        ORDER BY p.version DESC LIMIT 1) AS provider
FROM sessions s WHERE s.id = %(id)s

-- name: sessions.forget_key
-- First step of a re-key or rotation: from here until the new hash is recorded, the plan sees
-- an open session without a key and re-keys it, whatever happened to the old or new key.
UPDATE sessions SET key_hash = NULL, key_expires_at = NULL, updated_at = now() WHERE id = %(id)s

-- name: sessions.record_verification
INSERT INTO verifications (session_id, task_card, task_card_version, status, reward, outcome,
    subscores, reward_source, checks, passed, failed, tests_hash, exit_code, timed_out,
    duration_ms, sandbox, error, log, workspace, operator)
VALUES (%(session_id)s, %(task_card)s, %(task_card_version)s, %(status)s, %(reward)s,
    %(outcome)s, %(subscores)s, %(reward_source)s, %(checks)s, %(passed)s, %(failed)s,
    %(tests_hash)s, %(exit_code)s, %(timed_out)s, %(duration_ms)s, %(sandbox)s, %(error)s,
    %(log)s, %(workspace)s, %(operator)s)
RETURNING id

-- name: sessions.latest_verification
SELECT id, status, reward, outcome, subscores, reward_source, passed, failed, tests_hash,
    duration_ms, sandbox, error, verified_at
FROM verifications WHERE session_id = %(id)s ORDER BY id DESC LIMIT 1

-- name: sessions.task_card_version
SELECT spec, comparable FROM task_cards WHERE name = %(name)s AND version = %(version)s

-- name: sessions.harness_profile
SELECT spec FROM harness_profiles WHERE name = %(name)s ORDER BY version DESC LIMIT 1

-- name: sessions.record_account
INSERT INTO session_accounts (session_id, cost_usd, input_tokens, output_tokens, source)
VALUES (%(session_id)s, %(cost_usd)s, %(input_tokens)s, %(output_tokens)s, %(source)s)
ON CONFLICT (session_id) DO UPDATE SET cost_usd = excluded.cost_usd,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    source = excluded.source, recorded_at = now()

-- name: sessions.ledger
SELECT recomputed_usd, litellm_usd, harness_usd, requests, unpriced, litellm_disagrees,
    harness_disagrees
FROM cost_ledger WHERE session_id = %(id)s
