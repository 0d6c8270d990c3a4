-- Where each command was typed (a shell's prompt, or into a program such as
-- python3 or sqlite3), and whether it was typed without echo at a shell prompt
-- (its text is not on the screen; its keys are sealed in the recording).
ALTER TABLE recording_commands
  ADD COLUMN context text NOT NULL DEFAULT 'shell' CHECK (context IN ('shell', 'program')),
  ADD COLUMN sealed  boolean NOT NULL DEFAULT false;
