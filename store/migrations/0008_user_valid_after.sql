-- Version 8: a per-user "valid after" time. Tokens, personal access tokens and browser
-- sessions issued before it no longer authenticate; a password change, reset or set-up and a
-- deactivation or reactivation move it forward. A separate table (not a column with a
-- default on users) so that DuckDB can replay the step from its WAL after a crash.
CREATE TABLE IF NOT EXISTS user_valid_after (
    user_id VARCHAR PRIMARY KEY,
    valid_after TIMESTAMP NOT NULL
);
