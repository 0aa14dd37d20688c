-- name: stack.ping
-- The embedded PostgreSQL's health probe: it accepts connections and runs a query.
SELECT 1
