-- Version 7: sync jobs are kept in the database, so that a job outlives the process that ran
-- it (a restart marks the unfinished ones failed instead of forgetting them), and a one-row
-- table that the health check writes to prove the database can still commit.
CREATE TABLE IF NOT EXISTS sync_jobs (
    id VARCHAR PRIMARY KEY,
    trigger_kind VARCHAR NOT NULL,
    requested_by VARCHAR,
    status VARCHAR NOT NULL,
    error VARCHAR,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    -- JSON array of the per-table progress records.
    tables VARCHAR NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_sync_jobs_created ON sync_jobs (created_at);
CREATE TABLE IF NOT EXISTS write_probe (
    id INTEGER PRIMARY KEY,
    probed_at TIMESTAMP NOT NULL
);
