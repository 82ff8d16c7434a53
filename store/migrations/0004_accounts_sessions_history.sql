-- Version 4: the first version that only this da writes.
--
-- No explicit indexes beyond sessions_expiry_idx: in DuckDB a table with a
-- CREATE INDEX can no longer be ALTERed, and these tables stay small enough
-- for zone maps. The UNIQUE/PRIMARY KEY constraints are enough.

-- Deactivated users cannot sign in. Existing users stay active.
ALTER TABLE users ADD COLUMN IF NOT EXISTS active BOOLEAN DEFAULT true;

-- Browser sessions, used unchanged by github.com/alexedwards/scs/postgresstore.
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    data BYTEA NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry);

-- Personal access tokens for the CLI and API. Only a hash of the secret is
-- stored; prefix is the public part shown in lists.
CREATE TABLE IF NOT EXISTS personal_access_tokens (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    prefix VARCHAR NOT NULL,
    token_hash VARCHAR NOT NULL UNIQUE,
    scope VARCHAR NOT NULL DEFAULT 'full',
    created_at TIMESTAMP DEFAULT current_timestamp,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

-- One row per query run from the console or the API.
CREATE TABLE IF NOT EXISTS query_history (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    sql TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    elapsed_ms BIGINT,
    row_count BIGINT,
    status VARCHAR NOT NULL,
    error TEXT
);

-- Queries a user saved under a name.
CREATE TABLE IF NOT EXISTS saved_queries (
    id VARCHAR PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    sql TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp,
    updated_at TIMESTAMP
);
