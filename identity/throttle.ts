import type { Clock, Config, Queryable } from '../core/index.js';
import { AirlockError } from '../core/index.js';

/**
 * Failed-login back-off, per user and per source address, kept in the database so
 * every airlock node sees the same counts. After `freeAttempts` failures each further
 * failure doubles the wait (baseBackoff … maxBackoff); a user reaching `lockoutAfter`
 * consecutive failures is locked until an admin unlocks. Addresses are never locked
 * (that would let anyone lock out a shared NAT), only slowed, and their count
 * starts over an hour after their last failure.
 */
export type ThrottleKey = `user:${string}` | `addr:${string}`;

interface Row {
  key: string;
  failures: number;
  last_failure_at: Date;
  blocked_until: Date | null;
  locked: boolean;
}

const ADDRESS_MEMORY_MS = 60 * 60 * 1000;

export class Throttle {
  constructor(
    private readonly clock: Clock,
    private readonly auth: Config['auth'],
  ) {}

  /** Throws ERR_ACCOUNT_LOCKED or ERR_RATE_LIMITED if any key may not try now. */
  async check(db: Queryable, keys: ThrottleKey[]): Promise<void> {
    const rows = (await db.query<Row>('SELECT * FROM auth_throttle WHERE key = ANY($1)', [keys])).rows;
    const now = this.clock.now().getTime();
    for (const row of rows) {
      if (row.locked) {
        throw new AirlockError('ERR_ACCOUNT_LOCKED', 'this account is locked after too many failed logins; ask an administrator to unlock it', {
          details: { key: row.key, failures: row.failures },
        });
      }
    }
    const waits = rows.map((r) => (r.blocked_until ? r.blocked_until.getTime() - now : 0)).filter((ms) => ms > 0);
    if (waits.length) {
      const retryAfter = Math.ceil(Math.max(...waits) / 1000);
      throw new AirlockError('ERR_RATE_LIMITED', `too many failed logins; try again in ${retryAfter} s`, { retryAfter, details: { keys } });
    }
  }

  /** Counts one failure against each key; returns whether the user key is now locked. */
  async fail(db: Queryable, keys: ThrottleKey[]): Promise<{ locked: boolean }> {
    const now = this.clock.now();
    let locked = false;
    for (const key of keys) {
      const prev = (await db.query<Row>('SELECT * FROM auth_throttle WHERE key = $1 FOR UPDATE', [key])).rows[0];
      const stale = key.startsWith('addr:') && prev && now.getTime() - prev.last_failure_at.getTime() > ADDRESS_MEMORY_MS;
      const failures = (prev && !stale ? prev.failures : 0) + 1;
      const over = failures - this.auth.freeAttempts;
      const delay = over >= 0 ? Math.min(this.auth.baseBackoff * 2 ** over, this.auth.maxBackoff) : 0;
      const blockedUntil = delay > 0 ? new Date(now.getTime() + delay) : null;
      const lock = key.startsWith('user:') && failures >= this.auth.lockoutAfter;
      locked ||= lock;
      await db.query(
        `INSERT INTO auth_throttle (key, failures, last_failure_at, blocked_until, locked) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key) DO UPDATE SET failures = $2, last_failure_at = $3, blocked_until = $4, locked = auth_throttle.locked OR $5`,
        [key, failures, now, blockedUntil, lock],
      );
    }
    return { locked };
  }

  /** A successful login clears the user's count (not the address's). */
  async succeed(db: Queryable, userKey: ThrottleKey): Promise<void> {
    await db.query('DELETE FROM auth_throttle WHERE key = $1', [userKey]);
  }

  /** Admin unlock: clears the user's lock and count. */
  async clear(db: Queryable, key: ThrottleKey): Promise<boolean> {
    return (await db.query('DELETE FROM auth_throttle WHERE key = $1', [key])).rowCount > 0;
  }
}
