-- Each attempt's key, by hash: traffic made with an abandoned attempt's key (its runner was
-- killed, or infrastructure failed under it) is never counted in the session the next attempt
-- scores. And the harness's version as its profile's `version` command printed it: version
-- drift between runs is a confounder a report should be able to show.

ALTER TABLE run_attempts ADD COLUMN key_hash text;
ALTER TABLE run_attempts ADD COLUMN harness_version text;
ALTER TABLE sessions ADD COLUMN harness_version text;
CREATE INDEX run_attempts_key_hash ON run_attempts (key_hash) WHERE key_hash IS NOT NULL;
