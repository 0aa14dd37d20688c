-- name: demo.requests
-- How many of the demo's requests the collector has in so far.
SELECT count(*) AS requests FROM requests WHERE experiment = %(experiment)s

-- name: demo.harness_logs
-- The logs of the attempts that scored the demo's sessions; the SDK harness ends each with
-- `requests sent: N`.
SELECT a.log FROM run_attempts a
JOIN sessions s ON s.id = a.session_id
WHERE s.experiment = %(experiment)s AND a.status = 'done'
