-- Certificates: what each login was issued, so a certificate can be revoked with its login.
ALTER TABLE logins ADD COLUMN kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'ssh'));
ALTER TABLE logins ADD COLUMN cert_serial text;
ALTER TABLE logins ADD COLUMN cert_fingerprint text;
-- Link each session to the login it ran under, so revoking the login ends the session.
ALTER TABLE sessions ADD COLUMN login_id uuid REFERENCES logins (id);
