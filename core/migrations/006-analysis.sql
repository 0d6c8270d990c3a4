-- Session analysis: what ran in each recording (commands, with risk flags) and
-- keyframes (terminal snapshots) for seeking in replay. Both are recording
-- content: they are deleted with the recording at retention.
ALTER TABLE recordings
  ADD COLUMN analysis_status text NOT NULL DEFAULT 'pending'
    CHECK (analysis_status IN ('pending', 'running', 'done', 'failed')),
  ADD COLUMN analysed_at    timestamptz,
  ADD COLUMN analysis_error text,
  ADD COLUMN duration       double precision,
  ADD COLUMN output_bytes   bigint,
  ADD COLUMN command_count  integer,
  ADD COLUMN risk_count     integer;
CREATE INDEX recordings_analysis_pending ON recordings (started_at) WHERE analysis_status = 'pending';

CREATE TABLE recording_commands (
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  seq          integer NOT NULL,
  session_id   uuid NOT NULL,
  user_name    text NOT NULL,
  target_name  text NOT NULL,
  -- Seconds into the recording, and the wall-clock time it was entered.
  t            double precision NOT NULL,
  at           timestamptz NOT NULL,
  text         text NOT NULL,
  -- Byte offset of the event line in the cast: replay can start there.
  cast_offset  bigint NOT NULL,
  risks        jsonb NOT NULL DEFAULT '[]',
  risky        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (recording_id, seq)
);
CREATE INDEX recording_commands_at ON recording_commands (at);
CREATE INDEX recording_commands_risky ON recording_commands (at) WHERE risky;

CREATE TABLE recording_keyframes (
  recording_id uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
  seq          integer NOT NULL,
  t            double precision NOT NULL,
  cast_offset  bigint NOT NULL,
  cols         integer NOT NULL,
  rows         integer NOT NULL,
  -- Escape sequences that redraw the screen in a reset terminal of cols x rows.
  screen       text NOT NULL,
  PRIMARY KEY (recording_id, seq)
);
CREATE INDEX recording_keyframes_t ON recording_keyframes (recording_id, t);
