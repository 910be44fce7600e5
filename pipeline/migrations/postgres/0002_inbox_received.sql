-- ehrkit-pipeline PostgreSQL store, schema version 2 (mirrors migrations/sqlite/0002_inbox_received.sql).
-- Store::messages_received (reprocessing a time range) reads the inbox by received time
-- through this index instead of scanning the whole inbox. Databases at version 1 get it when
-- a build that knows version 2 connects. Building it blocks writes to inbox while it runs;
-- on a large inbox, create it beforehand with
--   CREATE INDEX CONCURRENTLY inbox_received ON inbox (received_at, id);
-- and this step keeps it (IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS inbox_received ON inbox (received_at, id);
