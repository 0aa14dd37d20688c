-- name: demo.requests
-- How many of the demo's requests the collector has in so far.
SELECT count(*) AS requests FROM requests WHERE experiment = %(experiment)s
