-- Each attempt's key, by hash: traffic made with an abandoned attempt's key (its runner was
-- killed, or infrastructure failed under it) is never counted in the session the next attempt
-- scores.

ALTER TABLE run_attempts ADD COLUMN key_hash text;
CREATE INDEX run_attempts_key_hash ON run_attempts (key_hash) WHERE key_hash IS NOT NULL;
