import { randomUUID } from 'node:crypto';
import type { Clock, Db, Queryable } from '../core/index.js';

/**
 * A login is one successful MFA authentication with an expiry. Its id is the
 * API token's `jti` (and, with the certificate authority, the SSH certificate's
 * key id), so revoking the login revokes everything issued from it.
 */
export interface Login {
  id: string;
  userId: string;
  source: string | null;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  /** api: password + TOTP through the API (may carry a certificate); ssh: one SSH connection. */
  kind: 'api' | 'ssh';
  certSerial: string | null;
  certFingerprint: string | null;
}

interface LoginRow {
  id: string;
  user_id: string;
  source: string | null;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
  kind: 'api' | 'ssh';
  cert_serial: string | null;
  cert_fingerprint: string | null;
}

const toLogin = (r: LoginRow): Login => ({
  id: r.id,
  userId: r.user_id,
  source: r.source,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  revokedReason: r.revoked_reason,
  kind: r.kind,
  certSerial: r.cert_serial,
  certFingerprint: r.cert_fingerprint,
});

export class Logins {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(tx: Queryable, userId: string, ttlMs: number, source: string | undefined, kind: Login['kind'] = 'api'): Promise<Login> {
    const now = this.clock.now();
    // Whole seconds: JWT times are seconds, and the token must expire with the login.
    const expiresAt = new Date(Math.floor((now.getTime() + ttlMs) / 1000) * 1000);
    const row = (
      await tx.query<LoginRow>(
        'INSERT INTO logins (id, user_id, source, created_at, expires_at, kind) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
        [randomUUID(), userId, source ?? null, now, expiresAt, kind],
      )
    ).rows[0] as LoginRow;
    return toLogin(row);
  }

  async get(id: string, q: Queryable = this.db): Promise<Login | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const row = (await q.query<LoginRow>('SELECT * FROM logins WHERE id = $1', [id])).rows[0];
    return row && toLogin(row);
  }

  /** Live logins of a user (or of everyone), newest first. */
  async listLive(userId?: string): Promise<Login[]> {
    const rows = (
      await this.db.query<LoginRow>(
        'SELECT * FROM logins WHERE revoked_at IS NULL AND expires_at > $1 AND ($2::uuid IS NULL OR user_id = $2) ORDER BY created_at DESC LIMIT 1000',
        [this.clock.now(), userId ?? null],
      )
    ).rows;
    return rows.map(toLogin);
  }

  /** Records the certificate issued for a login. */
  async setCertificate(tx: Queryable, id: string, serial: bigint, fingerprint: string): Promise<void> {
    await tx.query('UPDATE logins SET cert_serial = $2, cert_fingerprint = $3 WHERE id = $1', [id, serial.toString(), fingerprint]);
  }

  /** Of these login ids, the ones no longer live: revoked (with why) or expired (revoked null). For ending sessions. */
  async ended(ids: string[]): Promise<Array<{ id: string; revoked: string | null }>> {
    if (ids.length === 0) return [];
    const rows = (
      await this.db.query<{ id: string; revoked_at: Date | null; revoked_reason: string | null }>(
        'SELECT id, revoked_at, revoked_reason FROM logins WHERE id = ANY($1::uuid[]) AND (revoked_at IS NOT NULL OR expires_at <= $2)',
        [ids, this.clock.now()],
      )
    ).rows;
    return rows.map((r) => ({ id: r.id, revoked: r.revoked_at ? (r.revoked_reason ?? 'revoked') : null }));
  }

  /** Returns the login as revoked now, or undefined if there was no live one. */
  async revoke(tx: Queryable, id: string, reason: string): Promise<Login | undefined> {
    const row = (
      await tx.query<LoginRow>(
        'UPDATE logins SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL RETURNING *',
        [id, this.clock.now(), reason],
      )
    ).rows[0];
    return row && toLogin(row);
  }

  isLive(login: Login): boolean {
    return login.revokedAt === null && login.expiresAt.getTime() > this.clock.now().getTime();
  }
}
