-- What each running attempt is doing (setting up, the harness, the verifier), kept in the
-- database so that anyone watching a run (`benchctl serve`'s live progress) reads it from
-- there, not from the memory of a runner that may be on another host. Indexes for the viewer's
-- sessions list (filtered by experiment, paged in report order) and each session's timeline.

ALTER TABLE run_attempts ADD COLUMN step text NOT NULL DEFAULT 'leased';
CREATE INDEX sessions_report_order
    ON sessions (experiment, variant, variant_version, task_card, replicate);
CREATE INDEX requests_session_started ON requests (session_id, started_at);
DROP INDEX requests_session;
