import { randomUUID } from 'node:crypto';
import type { AuditLog, Clock, Db, Queryable, Vault } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import { hashPassword, generatePassword, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH } from './passwords.js';
import { newTotpSecret, totpUri } from './totp.js';

export const ROLES = ['engineer', 'approver', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export type UserStatus = 'active' | 'disabled';

export interface User {
  id: string;
  name: string;
  role: Role;
  status: UserStatus;
  org: string | null;
  email: string | null;
  mfaEnrolled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** What an actor is, for audit rows: who and from where. */
export interface Actor {
  name: string;
  source?: string | undefined;
}

interface UserRow {
  id: string;
  name: string;
  role: Role;
  status: UserStatus;
  org: string | null;
  email: string | null;
  password_hash: string;
  totp_secret_enc: string | null;
  totp_last_step: number | null;
  created_at: Date;
  updated_at: Date;
}

export interface NewUser {
  name: string;
  role: Role;
  org?: string | undefined;
  email?: string | undefined;
  /** Omit to have one generated (returned once). */
  password?: string | undefined;
}

export interface Enrolment {
  user: User;
  /** Present when airlock chose the password; shown once. */
  password?: string;
  totp: { secret: string; uri: string };
}

/** User names are the left side of "alice@db01", so no "@", and lower case only. */
export const USER_NAME = /^[a-z][a-z0-9._-]{0,31}$/;
const TOTP_CONTEXT = (userId: string) => `airlock:totp:${userId}`;

function toUser(row: UserRow): User {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    status: row.status,
    org: row.org,
    email: row.email,
    mfaEnrolled: row.totp_secret_enc !== null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function checkUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw new AirlockError('ERR_USER_NAME_INVALID', 'user name must be 1–32 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter');
  }
}

export function checkNewPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new AirlockError('ERR_PASSWORD_POLICY', `password must be ${MIN_PASSWORD_LENGTH}–${MAX_PASSWORD_LENGTH} characters`);
  }
}

export class Users {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly vault: Vault,
  ) {}

  async add(input: NewUser, actor: Actor): Promise<Enrolment> {
    checkUserName(input.name);
    if (!(ROLES as readonly string[]).includes(input.role)) throw new AirlockError('ERR_ROLE_INVALID', `role must be one of ${ROLES.join(', ')}`);
    if (input.password !== undefined) checkNewPassword(input.password);
    const password = input.password ?? generatePassword();
    const passwordHash = await hashPassword(password);
    const secret = newTotpSecret();
    const id = randomUUID();
    const now = this.clock.now();
    const row = await this.db.transaction(async (tx) => {
      const exists = await tx.query('SELECT 1 FROM users WHERE name = $1', [input.name]);
      if (exists.rowCount > 0) throw new AirlockError('ERR_CONFLICT', `user ${input.name} already exists`);
      const inserted = await tx.query<UserRow>(
        `INSERT INTO users (id, name, role, status, org, email, password_hash, totp_secret_enc, created_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $8) RETURNING *`,
        [id, input.name, input.role, input.org ?? null, input.email ?? null, passwordHash, this.vault.encrypt(secret, TOTP_CONTEXT(id)), now],
      );
      await this.audit.append(tx, {
        action: 'user.created',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: input.name,
        details: { role: input.role, org: input.org ?? null },
      });
      return inserted.rows[0] as UserRow;
    });
    return {
      user: toUser(row),
      ...(input.password === undefined ? { password } : {}),
      totp: { secret, uri: totpUri(secret, input.name) },
    };
  }

  async get(name: string): Promise<User> {
    const row = (await this.db.query<UserRow>('SELECT * FROM users WHERE name = $1', [name])).rows[0];
    if (!row) throw new AirlockError('ERR_NOT_FOUND', `no user ${name}`);
    return toUser(row);
  }

  async getById(id: string, q: Queryable = this.db): Promise<User | undefined> {
    const row = (await q.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])).rows[0];
    return row && toUser(row);
  }

  async count(): Promise<number> {
    return (await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]?.n ?? 0;
  }

  async list(filter: { role?: Role | undefined; status?: UserStatus | undefined } = {}): Promise<User[]> {
    const rows = (
      await this.db.query<UserRow>(
        'SELECT * FROM users WHERE ($1::text IS NULL OR role = $1) AND ($2::text IS NULL OR status = $2) ORDER BY name',
        [filter.role ?? null, filter.status ?? null],
      )
    ).rows;
    return rows.map(toUser);
  }

  /**
   * Disabling also revokes every live login of the user in the same transaction,
   * so their API tokens (and later certificates and sessions) stop at once.
   */
  async setStatus(name: string, status: UserStatus, actor: Actor): Promise<User> {
    return this.db.transaction(async (tx) => {
      const row = (
        await tx.query<UserRow>('UPDATE users SET status = $2, updated_at = $3 WHERE name = $1 RETURNING *', [name, status, this.clock.now()])
      ).rows[0];
      if (!row) throw new AirlockError('ERR_NOT_FOUND', `no user ${name}`);
      let revoked = 0;
      if (status === 'disabled') {
        revoked = (
          await tx.query('UPDATE logins SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL', [
            row.id,
            this.clock.now(),
            'user disabled',
          ])
        ).rowCount;
      }
      await this.audit.append(tx, {
        action: status === 'disabled' ? 'user.disabled' : 'user.enabled',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: name,
        details: status === 'disabled' ? { loginsRevoked: revoked } : {},
      });
      return toUser(row);
    });
  }

  /** New TOTP seed; the old one stops working at once. Returned once. */
  async resetMfa(name: string, actor: Actor): Promise<Enrolment> {
    const secret = newTotpSecret();
    const row = await this.db.transaction(async (tx) => {
      const current = (await tx.query<UserRow>('SELECT * FROM users WHERE name = $1 FOR UPDATE', [name])).rows[0];
      if (!current) throw new AirlockError('ERR_NOT_FOUND', `no user ${name}`);
      const updated = (
        await tx.query<UserRow>(
          'UPDATE users SET totp_secret_enc = $2, totp_last_step = NULL, updated_at = $3 WHERE id = $1 RETURNING *',
          [current.id, this.vault.encrypt(secret, TOTP_CONTEXT(current.id)), this.clock.now()],
        )
      ).rows[0] as UserRow;
      await this.audit.append(tx, { action: 'user.mfa_reset', outcome: 'success', actor: actor.name, source: actor.source, target: name });
      return updated;
    });
    return { user: toUser(row), totp: { secret, uri: totpUri(secret, name) } };
  }

  // ---- for authentication only (identity/authenticate.ts)

  /** The stored credentials of a user, TOTP seed decrypted. */
  async credentials(name: string, q: Queryable = this.db) {
    const row = (await q.query<UserRow>('SELECT * FROM users WHERE name = $1', [name])).rows[0];
    if (!row) return undefined;
    return {
      user: toUser(row),
      passwordHash: row.password_hash,
      totpSecret: row.totp_secret_enc ? this.vault.decrypt(row.totp_secret_enc, TOTP_CONTEXT(row.id)).toString('utf8') : null,
      totpLastStep: row.totp_last_step,
    };
  }

  /**
   * Records the step of an accepted TOTP code. The condition makes two concurrent
   * logins with the same code race safely: only one update matches.
   */
  async consumeTotpStep(q: Queryable, userId: string, step: number): Promise<boolean> {
    const res = await q.query('UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)', [
      userId,
      step,
    ]);
    return res.rowCount === 1;
  }
}
