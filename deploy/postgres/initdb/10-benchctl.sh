#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume.
# - LiteLLM's own database, beside the benchmark database (the proxy migrates it at start).
# - grafana: a read-only role for the dashboards, on tables benchctl creates later too.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set grafana_password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE DATABASE litellm OWNER benchctl;
CREATE ROLE grafana LOGIN PASSWORD :'grafana_password';
GRANT CONNECT ON DATABASE benchctl TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE benchctl IN SCHEMA public GRANT SELECT ON TABLES TO grafana;
SQL
