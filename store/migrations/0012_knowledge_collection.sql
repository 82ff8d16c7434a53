-- Version 12: collecting knowledge from analysts' notes and agents' transcripts.
-- Consent per user (notes on, transcripts off until the user allows them), one row per
-- collection run with its counts, tokens and cost, the fingerprint of every file already
-- collected, where each proposed item came from, and per-item collection state ("source
-- gone", an edit proposed for an item already reviewed). New tables only, no defaults added
-- to existing ones, so both DuckDB (WAL replay) and PostgreSQL accept every statement.
CREATE TABLE IF NOT EXISTS knowledge_consent (
    user_id VARCHAR PRIMARY KEY,
    notes BOOLEAN NOT NULL,
    transcripts BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS knowledge_runs (
    id VARCHAR PRIMARY KEY,
    trigger_kind VARCHAR NOT NULL,
    created_by VARCHAR,
    status VARCHAR NOT NULL,
    provider VARCHAR,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    files_read BIGINT NOT NULL,
    items_proposed BIGINT NOT NULL,
    items_merged BIGINT NOT NULL,
    items_dropped BIGINT NOT NULL,
    llm_calls BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS knowledge_collected (
    user_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    collected_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, kind, name)
);
CREATE TABLE IF NOT EXISTS knowledge_provenance (
    item_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    excerpt TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS knowledge_provenance_item ON knowledge_provenance (item_id);
CREATE TABLE IF NOT EXISTS knowledge_item_state (
    item_id VARCHAR PRIMARY KEY,
    source_gone BOOLEAN NOT NULL,
    proposed_edit TEXT,
    updated_at TIMESTAMP NOT NULL
);
