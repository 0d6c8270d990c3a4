-- Break-glass: access requests for sensitive and critical targets, and their approvals.
CREATE TABLE access_requests (
  id                 uuid PRIMARY KEY,
  user_id            uuid NOT NULL REFERENCES users (id),
  user_name          text NOT NULL,
  target_id          uuid NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  target_name        text NOT NULL,
  login              text NOT NULL,
  sensitivity        text NOT NULL,
  approvals_needed   integer NOT NULL,
  duration_ms        bigint NOT NULL,
  reason             text,
  ticket             text,
  want_sftp          boolean NOT NULL DEFAULT false,
  want_forwarding    boolean NOT NULL DEFAULT false,
  source             text,
  -- pending → approved | denied | expired | cancelled; approved → revoked
  status             text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled', 'revoked')),
  created_at         timestamptz NOT NULL,
  pending_until      timestamptz NOT NULL,
  decided_at         timestamptz,
  decided_by         text,
  decision_comment   text,
  -- What was granted (never wider than asked).
  granted_from       timestamptz,
  granted_until      timestamptz,
  granted_sftp       boolean,
  granted_forwarding boolean,
  revoked_at         timestamptz,
  revoked_by         text,
  revoke_comment     text
);
CREATE INDEX access_requests_live ON access_requests (user_id, target_id, status);

CREATE TABLE request_approvals (
  request_id    uuid NOT NULL REFERENCES access_requests (id) ON DELETE CASCADE,
  approver_id   uuid NOT NULL REFERENCES users (id),
  approver_name text NOT NULL,
  at            timestamptz NOT NULL,
  comment       text,
  duration_ms   bigint,
  allow_sftp    boolean NOT NULL,
  allow_forwarding boolean NOT NULL,
  -- One person approving twice counts once.
  PRIMARY KEY (request_id, approver_id)
);

ALTER TABLE sessions ADD COLUMN request_id uuid REFERENCES access_requests (id);
