-- SSH gateway: targets with injected credentials, grants, sessions.

CREATE TABLE targets (
  id            uuid PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  host          text NOT NULL,
  port          integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  default_login text NOT NULL,
  sensitivity   text NOT NULL CHECK (sensitivity IN ('standard', 'sensitive', 'critical')),
  -- Pinned host key: "ssh-ed25519 AAAA…" as the target presented it; NULL = not pinned
  -- (connections are refused until an admin pins one).
  host_key      text,
  tags          jsonb NOT NULL DEFAULT '[]',
  description   text,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);

-- What airlock logs in to a target with, per login. The secret (a private key or a
-- password) is sealed under the master key; it never leaves airlock.
CREATE TABLE target_credentials (
  target_id  uuid NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  login      text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('key', 'password')),
  secret_enc text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (target_id, login)
);

-- Standing permission of a user on a target. Sensitive and critical targets also
-- need an approved access request (approvals issue).
CREATE TABLE grants (
  id               uuid PRIMARY KEY,
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  target_id        uuid NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  -- Target logins allowed; empty = the target's default login only.
  logins           jsonb NOT NULL DEFAULT '[]',
  allow_sftp       boolean NOT NULL DEFAULT false,
  allow_forwarding boolean NOT NULL DEFAULT false,
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz,
  revoked_at       timestamptz,
  UNIQUE (user_id, target_id)
);

CREATE TABLE sessions (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id),
  user_name    text NOT NULL,
  target_id    uuid REFERENCES targets (id) ON DELETE SET NULL,
  target_name  text NOT NULL,
  target_login text NOT NULL,
  source       text,
  node         text,
  started_at   timestamptz NOT NULL,
  ended_at     timestamptz,
  -- active → closed | terminated | failed | interrupted (node died mid-session)
  status       text NOT NULL CHECK (status IN ('active', 'closed', 'terminated', 'failed', 'interrupted')),
  end_reason   text,
  exit_code    integer,
  exit_signal  text,
  bytes_in     bigint NOT NULL DEFAULT 0,
  bytes_out    bigint NOT NULL DEFAULT 0,
  channels     jsonb NOT NULL DEFAULT '[]',
  -- File operations over SFTP: [{op, path, bytes, at}], capped.
  file_ops     jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX sessions_active ON sessions (status) WHERE status = 'active';
CREATE INDEX sessions_user ON sessions (user_name, started_at);
