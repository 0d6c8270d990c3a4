-- Recordings: one per recorded channel of a session (a shell, an exec, an SFTP log).
CREATE TABLE recordings (
  id              uuid PRIMARY KEY,
  session_id      uuid NOT NULL REFERENCES sessions (id),
  channel_index   integer NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('terminal', 'exec', 'sftp')),
  -- Relative to the recording store: YYYY/MM/DD/<session>[-n].cast (+ .chain)
  path            text NOT NULL UNIQUE,
  node            text,
  user_name       text NOT NULL,
  target_name     text NOT NULL,
  sensitivity     text NOT NULL,
  started_at      timestamptz NOT NULL,
  ended_at        timestamptz,
  -- recording → complete | interrupted (node died) | failed (storage error)
  status          text NOT NULL CHECK (status IN ('recording', 'complete', 'interrupted', 'failed')),
  length          bigint,
  chain_head      text,
  chain_entries   integer,
  key_fingerprint text NOT NULL,
  retain_until    timestamptz NOT NULL,
  deleted_at      timestamptz,
  UNIQUE (session_id, channel_index)
);
CREATE INDEX recordings_started ON recordings (started_at);
CREATE INDEX recordings_retention ON recordings (retain_until) WHERE deleted_at IS NULL;
