-- Version 6: the audit log records the client address of every request it describes.
ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS client_ip VARCHAR;
