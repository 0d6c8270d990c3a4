-- Foundation: settings, users and MFA, login throttling, logins, signing keys, audit log.

CREATE TABLE meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE users (
  id              uuid PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  role            text NOT NULL CHECK (role IN ('engineer', 'approver', 'auditor', 'admin')),
  status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  org             text,
  email           text,
  password_hash   text NOT NULL,
  -- TOTP seed, encrypted under the master key (core/vault.ts); NULL = not enrolled.
  totp_secret_enc text,
  -- RFC 6238 time step of the last accepted code: a code at or before it is a replay.
  totp_last_step  bigint,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);

-- Failed-login accounting, keyed 'user:<id>' or 'addr:<address>'.
CREATE TABLE auth_throttle (
  key             text PRIMARY KEY,
  failures        integer NOT NULL,
  last_failure_at timestamptz NOT NULL,
  blocked_until   timestamptz,
  locked          boolean NOT NULL DEFAULT false
);

-- One row per successful login; its id is the API token's jti (and later the
-- SSH certificate's key id), so revoking the row revokes both at once.
CREATE TABLE logins (
  id             uuid PRIMARY KEY,
  user_id        uuid NOT NULL REFERENCES users (id),
  source         text,
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  revoked_reason text
);
CREATE INDEX logins_live ON logins (user_id) WHERE revoked_at IS NULL;

CREATE TABLE signing_keys (
  kid         text PRIMARY KEY,
  purpose     text NOT NULL,
  alg         text NOT NULL,
  public_jwk  jsonb NOT NULL,
  private_enc text NOT NULL,
  created_at  timestamptz NOT NULL,
  -- Set when a newer key takes over signing; it keeps verifying until tokens it
  -- signed can no longer be valid.
  retired_at  timestamptz
);

-- Append-only, hash-chained audit log (core/audit.ts).
CREATE TABLE audit_events (
  seq     bigint PRIMARY KEY,
  at      timestamptz NOT NULL,
  actor   text,
  action  text NOT NULL,
  target  text,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'info')),
  source  text,
  details jsonb NOT NULL,
  hash    text NOT NULL
);
CREATE INDEX audit_events_action ON audit_events (action, at);

-- The chain head: one row, locked by every append so appends take turns.
CREATE TABLE audit_head (
  id   boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq  bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (true, 0, repeat('0', 64));

-- The application never changes or removes an audit row. This does not stop the
-- database owner (the chain is what detects that); it stops bugs and casual edits.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
