-- Version 9: the replicas serving this database (each writes its row every few seconds, so
-- a row whose heartbeat is old belongs to a replica that is gone), and which replica runs each
-- sync job, so that a job left unfinished by a dead replica can be told from one that is
-- still running elsewhere. Plain SQL that DuckDB and PostgreSQL both accept.
CREATE TABLE IF NOT EXISTS replicas (
    id VARCHAR PRIMARY KEY,
    version VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    generation BIGINT,
    is_leader BOOLEAN NOT NULL DEFAULT false,
    addr VARCHAR
);
CREATE TABLE IF NOT EXISTS sync_job_owners (
    job_id VARCHAR PRIMARY KEY,
    replica_id VARCHAR NOT NULL
);
