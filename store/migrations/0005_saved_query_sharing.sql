-- Version 5: saved queries can be shared with the whole team.
ALTER TABLE saved_queries ADD COLUMN IF NOT EXISTS shared BOOLEAN DEFAULT false;
