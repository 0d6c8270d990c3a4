import { randomUUID } from 'node:crypto';
import type { AuditLog, Clock, Db, Vault } from '../core/index.js';
import { AirlockError } from '../core/index.js';
import type { Actor } from '../identity/index.js';

/**
 * The servers airlock reaches on the engineers' behalf, and the credentials it
 * uses there. Secrets are sealed under the master key, bound to (target, login),
 * and only ever decrypted by the gateway's connector; nothing here returns them
 * to an API caller.
 */
export const SENSITIVITIES = ['standard', 'sensitive', 'critical'] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];

export interface Target {
  id: string;
  name: string;
  host: string;
  port: number;
  defaultLogin: string;
  sensitivity: Sensitivity;
  hostKey: string | null;
  tags: string[];
  description: string | null;
  /** Logins airlock holds a credential for. */
  logins: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface TargetSecret {
  kind: 'key' | 'password';
  /** OpenSSH/PEM private key text, or the password. */
  secret: string;
}

interface TargetRow {
  id: string;
  name: string;
  host: string;
  port: number;
  default_login: string;
  sensitivity: Sensitivity;
  host_key: string | null;
  tags: string[];
  description: string | null;
  logins: string[] | null;
  created_at: Date;
  updated_at: Date;
}

export const TARGET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** POSIX-ish portable user names (no "@", no ":"). */
export const LOGIN_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;
const HOST = /^[A-Za-z0-9.:-]{1,253}$/;
const secretContext = (targetId: string, login: string) => `airlock:target-secret:${targetId}:${login}`;

const toTarget = (r: TargetRow): Target => ({
  id: r.id,
  name: r.name,
  host: r.host,
  port: r.port,
  defaultLogin: r.default_login,
  sensitivity: r.sensitivity,
  hostKey: r.host_key,
  tags: r.tags,
  description: r.description,
  logins: (r.logins ?? []).filter((l): l is string => typeof l === 'string').sort(),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const SELECT = `SELECT t.*, (SELECT jsonb_agg(c.login) FROM target_credentials c WHERE c.target_id = t.id) AS logins FROM targets t`;

export interface NewTarget {
  name: string;
  host: string;
  port: number;
  login: string;
  secret: TargetSecret;
  sensitivity: Sensitivity;
  hostKey?: string | null | undefined;
  tags?: string[] | undefined;
  description?: string | undefined;
}

export interface TargetUpdate {
  host?: string | undefined;
  port?: number | undefined;
  defaultLogin?: string | undefined;
  sensitivity?: Sensitivity | undefined;
  hostKey?: string | null | undefined;
  tags?: string[] | undefined;
  description?: string | undefined;
  /** Adds or replaces the credential for this login. */
  credential?: { login: string; secret: TargetSecret } | undefined;
  /** Removes the credential for this login. */
  removeLogin?: string | undefined;
}

export function checkTargetFields(t: { name?: string; host?: string; port?: number; login?: string }): void {
  if (t.name !== undefined && !TARGET_NAME.test(t.name)) {
    throw new AirlockError('ERR_TARGET_NAME_INVALID', 'target name must be 1–63 characters: lower-case letters, digits, ".", "_" or "-"');
  }
  if (t.host !== undefined && !HOST.test(t.host)) throw new AirlockError('ERR_HOST_INVALID', 'host must be a host name or IP address');
  if (t.port !== undefined && !(Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535)) throw new AirlockError('ERR_PORT_INVALID', 'port must be 1–65535');
  if (t.login !== undefined && !LOGIN_NAME.test(t.login)) throw new AirlockError('ERR_LOGIN_NAME_INVALID', `invalid login name "${t.login}"`);
}

export function checkHostKey(hostKey: string): void {
  if (!/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|rsa-sha2-(256|512)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$/.test(hostKey)) {
    throw new AirlockError('ERR_HOST_KEY_INVALID', 'host key must be an OpenSSH public key line: "ssh-ed25519 AAAA…"');
  }
}

export class Targets {
  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly vault: Vault,
  ) {}

  async add(input: NewTarget, actor: Actor): Promise<Target> {
    checkTargetFields({ name: input.name, host: input.host, port: input.port, login: input.login });
    if (input.hostKey) checkHostKey(input.hostKey);
    const id = randomUUID();
    const now = this.clock.now();
    await this.db.transaction(async (tx) => {
      if ((await tx.query('SELECT 1 FROM targets WHERE name = $1', [input.name])).rowCount) {
        throw new AirlockError('ERR_CONFLICT', `target ${input.name} already exists`);
      }
      await tx.query(
        `INSERT INTO targets (id, name, host, port, default_login, sensitivity, host_key, tags, description, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
        [id, input.name, input.host, input.port, input.login, input.sensitivity, input.hostKey ?? null, JSON.stringify(input.tags ?? []), input.description ?? null, now],
      );
      await tx.query('INSERT INTO target_credentials (target_id, login, kind, secret_enc, created_at) VALUES ($1, $2, $3, $4, $5)', [
        id,
        input.login,
        input.secret.kind,
        this.vault.encrypt(input.secret.secret, secretContext(id, input.login)),
        now,
      ]);
      await this.audit.append(tx, {
        action: 'target.created',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: input.name,
        details: { host: input.host, port: input.port, login: input.login, credential: input.secret.kind, sensitivity: input.sensitivity, hostKeyPinned: Boolean(input.hostKey) },
      });
    });
    return this.get(input.name);
  }

  async get(name: string): Promise<Target> {
    const row = (await this.db.query<TargetRow>(`${SELECT} WHERE t.name = $1`, [name])).rows[0];
    if (!row) throw new AirlockError('ERR_NOT_FOUND', `no target ${name}`);
    return toTarget(row);
  }

  async find(name: string): Promise<Target | undefined> {
    const row = (await this.db.query<TargetRow>(`${SELECT} WHERE t.name = $1`, [name])).rows[0];
    return row && toTarget(row);
  }

  async list(): Promise<Target[]> {
    return (await this.db.query<TargetRow>(`${SELECT} ORDER BY t.name`)).rows.map(toTarget);
  }

  async update(name: string, change: TargetUpdate, actor: Actor): Promise<Target> {
    checkTargetFields({ host: change.host, port: change.port, login: change.defaultLogin });
    if (change.credential) checkTargetFields({ login: change.credential.login });
    if (change.hostKey) checkHostKey(change.hostKey);
    await this.db.transaction(async (tx) => {
      const row = (await tx.query<TargetRow>('SELECT * FROM targets WHERE name = $1 FOR UPDATE', [name])).rows[0];
      if (!row) throw new AirlockError('ERR_NOT_FOUND', `no target ${name}`);
      const now = this.clock.now();
      await tx.query(
        `UPDATE targets SET host = $2, port = $3, default_login = $4, sensitivity = $5, host_key = $6, tags = $7, description = $8, updated_at = $9 WHERE id = $1`,
        [
          row.id,
          change.host ?? row.host,
          change.port ?? row.port,
          change.defaultLogin ?? row.default_login,
          change.sensitivity ?? row.sensitivity,
          change.hostKey === undefined ? row.host_key : change.hostKey,
          JSON.stringify(change.tags ?? row.tags),
          change.description ?? row.description,
          now,
        ],
      );
      if (change.credential) {
        const { login, secret } = change.credential;
        await tx.query(
          `INSERT INTO target_credentials (target_id, login, kind, secret_enc, created_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (target_id, login) DO UPDATE SET kind = $3, secret_enc = $4, created_at = $5`,
          [row.id, login, secret.kind, this.vault.encrypt(secret.secret, secretContext(row.id, login)), now],
        );
      }
      if (change.removeLogin) {
        await tx.query('DELETE FROM target_credentials WHERE target_id = $1 AND login = $2', [row.id, change.removeLogin]);
      }
      const logins = (await tx.query<{ login: string }>('SELECT login FROM target_credentials WHERE target_id = $1', [row.id])).rows.map((r) => r.login);
      const defaultLogin = change.defaultLogin ?? row.default_login;
      if (!logins.includes(defaultLogin)) throw new AirlockError('ERR_CREDENTIAL_MISSING', `no credential for the default login ${defaultLogin}: add one with --login ${defaultLogin} and a key or password`);
      await this.audit.append(tx, {
        action: 'target.updated',
        outcome: 'success',
        actor: actor.name,
        source: actor.source,
        target: name,
        details: {
          ...Object.fromEntries(Object.entries({ host: change.host, port: change.port, defaultLogin: change.defaultLogin, sensitivity: change.sensitivity, tags: change.tags }).filter(([, v]) => v !== undefined)),
          ...(change.hostKey !== undefined ? { hostKey: change.hostKey } : {}),
          ...(change.credential ? { credentialSet: change.credential.login, credential: change.credential.secret.kind } : {}),
          ...(change.removeLogin ? { credentialRemoved: change.removeLogin } : {}),
        },
      });
    });
    return this.get(name);
  }

  async remove(name: string, actor: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const res = await tx.query('DELETE FROM targets WHERE name = $1', [name]);
      if (!res.rowCount) throw new AirlockError('ERR_NOT_FOUND', `no target ${name}`);
      await this.audit.append(tx, { action: 'target.removed', outcome: 'success', actor: actor.name, source: actor.source, target: name });
    });
  }

  /** The secret for (target, login); for the gateway's connector only. */
  async secret(target: Target, login: string): Promise<TargetSecret | undefined> {
    const row = (
      await this.db.query<{ kind: 'key' | 'password'; secret_enc: string }>('SELECT kind, secret_enc FROM target_credentials WHERE target_id = $1 AND login = $2', [
        target.id,
        login,
      ])
    ).rows[0];
    if (!row) return undefined;
    return { kind: row.kind, secret: this.vault.decrypt(row.secret_enc, secretContext(target.id, login)).toString('utf8') };
  }
}
