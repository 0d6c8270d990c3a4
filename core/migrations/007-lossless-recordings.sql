-- Recordings in airlock's lossless framed format (recordings/FORMAT.md). Older
-- rows are asciicast v2 files and keep verifying and replaying as such.
ALTER TABLE recordings ADD COLUMN format text NOT NULL DEFAULT 'asciicast-v2'
  CHECK (format IN ('asciicast-v2', 'airlock-v1'));
-- The last signed checkpoint known to be on disk, kept while a recording is open:
-- a file cut back to an earlier checkpoint after a crash is reported, not passed.
ALTER TABLE recordings ADD COLUMN checkpoint_length bigint;
ALTER TABLE recordings ADD COLUMN checkpoint_head text;
