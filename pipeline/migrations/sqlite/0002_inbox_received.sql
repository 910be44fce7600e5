-- ehrkit-pipeline SQLite store, schema version 2.
-- Store::messages_received (reprocessing a time range) reads the inbox by received time
-- through this index instead of scanning the whole inbox. Stores at version 1 get it when
-- they are opened by a build that knows version 2 (IF NOT EXISTS: an index made by hand
-- beforehand is kept).
CREATE INDEX IF NOT EXISTS inbox_received ON inbox (received_at, id);
