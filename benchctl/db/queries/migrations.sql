-- name: migrations.ensure_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: migrations.table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL AS present

-- name: migrations.applied
SELECT version, name, checksum FROM schema_migrations ORDER BY version

-- name: migrations.record
INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s)

-- name: migrations.lock
-- Two processes upgrading at once take turns; the second finds nothing left to do.
SELECT pg_advisory_xact_lock(hashtext('benchctl.migrations'))

-- name: migrations.database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s

-- name: migrations.create_database
CREATE DATABASE {name}
