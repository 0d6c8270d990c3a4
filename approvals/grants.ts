import { randomUUID } from 'node:crypto';
import type { AuditLog, Clock, Db } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import type { Actor, User } from '../identity/index.js';
import type { Target } from './targets.js';
import { LOGIN_NAME } from './targets.js';

/**
 * A grant is a user's standing permission on a target: which target logins, and
 * whether file transfer and port forwarding are allowed. One grant per (user,
 * target); granting again replaces it.
 */
export interface Grant {
  id: string;
  userId: string;
  userName: string;
  targetId: string;
  targetName: string;
  logins: string[];
  allowSftp: boolean;
  allowForwarding: boolean;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

interface GrantRow {
  id: string;
  user_id: string;
  user_name: string;
  target_id: string;
  target_name: string;
  logins: string[];
  allow_sftp: boolean;
  allow_forwarding: boolean;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const toGrant = (r: GrantRow): Grant => ({
  id: r.id,
  userId: r.user_id,
  userName: r.user_name,
  targetId: r.target_id,
  targetName: r.target_name,
  logins: r.logins,
  allowSftp: r.allow_sftp,
  allowForwarding: r.allow_forwarding,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

const SELECT = `SELECT g.*, u.name AS user_name, t.name AS target_name FROM grants g
  JOIN users u ON u.id = g.user_id JOIN targets t ON t.id = g.target_id`;

export interface NewGrant {
  logins?: string[] | undefined;
  allowSftp?: boolean | undefined;
  allowForwarding?: boolean | undefined;
  expiresAt?: Date | undefined;
}

export class Grants {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  async grant(user: User, target: Target, input: NewGrant, actor: Actor): Promise<Grant> {
    const logins = [...new Set(input.logins ?? [])];
    for (const l of logins) if (!LOGIN_NAME.test(l)) throw new AirlockError('ERR_LOGIN_NAME_INVALID', `invalid login name "${l}"`);
    if (input.expiresAt && input.expiresAt.getTime() <= this.clock.now().getTime()) throw new AirlockError('ERR_EXPIRY_INVALID', 'expiry is in the past');
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO grants (id, user_id, target_id, logins, allow_sftp, allow_forwarding, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (user_id, target_id) DO UPDATE SET id = $1, logins = $4, allow_sftp = $5, allow_forwarding = $6,
           created_by = $7, created_at = $8, expires_at = $9, revoked_at = NULL`,
        [id, user.id, target.id, JSON.stringify(logins), input.allowSftp ?? false, input.allowForwarding ?? false, actor.name, this.clock.now(), input.expiresAt ?? null],
      );
      await this.audit.append(tx, {
        action: 'grant.created',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: `${user.name}@${target.name}`,
        details: { grantId: id, logins, sftp: input.allowSftp ?? false, forwarding: input.allowForwarding ?? false, expiresAt: input.expiresAt?.toISOString() ?? null },
      });
    });
    return (await this.list({ id }))[0] as Grant;
  }

  async list(filter: { id?: string; userId?: string; targetId?: string; live?: boolean } = {}): Promise<Grant[]> {
    const rows = (
      await this.db.query<GrantRow>(
        `${SELECT} WHERE ($1::uuid IS NULL OR g.id = $1) AND ($2::uuid IS NULL OR g.user_id = $2) AND ($3::uuid IS NULL OR g.target_id = $3)
         AND (NOT $4 OR (g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > $5)))
         ORDER BY u.name, t.name`,
        [filter.id ?? null, filter.userId ?? null, filter.targetId ?? null, filter.live ?? false, this.clock.now()],
      )
    ).rows;
    return rows.map(toGrant);
  }

  /** The user's live grant on the target, if any. */
  async live(userId: string, targetId: string): Promise<Grant | undefined> {
    return (await this.list({ userId, targetId, live: true }))[0];
  }

  async revoke(id: string, actor: Actor): Promise<Grant> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw new AirlockError('ERR_NOT_FOUND', `no grant ${id}`);
    await this.db.transaction(async (tx) => {
      const res = await tx.query('UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [id, this.clock.now()]);
      if (!res.rowCount) throw new AirlockError('ERR_NOT_FOUND', `no live grant ${id}`);
      await this.audit.append(tx, { action: 'grant.revoked', outcome: 'success', actor: actor.name, source: actor.source, target: id });
    });
    return (await this.list({ id }))[0] as Grant;
  }
}
