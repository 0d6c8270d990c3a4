-- A session row keeps its first ssh.maxStoredFileOps file operations; the ones
-- after them are counted here (they are in the recording's SFTP markers and the
-- log), so that a reader knows the list is not all of them.
ALTER TABLE sessions ADD COLUMN file_ops_omitted integer NOT NULL DEFAULT 0;
