-- Live analysis: a recording followed while it runs is 'live'; its commands
-- appear in recording_commands as they are typed, and the analysis becomes
-- 'running' then 'done' once the recording is sealed.
ALTER TABLE recordings DROP CONSTRAINT recordings_analysis_status_check;
ALTER TABLE recordings ADD CONSTRAINT recordings_analysis_status_check
  CHECK (analysis_status IN ('pending', 'live', 'running', 'done', 'failed'));
