-- Version 10: per-table extraction settings of external sources: the columns to export,
-- row filters, and the date column and grain of a partitioned table. A table of its own
-- (keyed by the registry id) so that the registry's columns stay the original's.
CREATE TABLE IF NOT EXISTS table_sync_options (
    table_id VARCHAR PRIMARY KEY,
    columns VARCHAR,
    where_filters VARCHAR,
    partition_by VARCHAR,
    partition_grain VARCHAR,
    updated_at TIMESTAMP
);
