import type { Clock, Logger, Scheduler, Timer } from '../core/index.js';
import type { Identity } from '../identity/index.js';
import type { AccessRequests } from '../approvals/index.js';
import type { LiveSession, SessionRegistry } from './sessions.js';

/**
 * Keeps live sessions within their access: once a second it asks the database
 * which of their logins were revoked or have expired, and which break-glass
 * grants were revoked (so a logout, an admin's or approver's revoke, or a user
 * disabled on any node ends the session within about a second),
 * writes the expiry warnings into the terminal, and ends sessions whose access
 * has run out. Each expiry message says how to get access again, which
 * depends on what ran out: a certificate login (airlock login), a password
 * login (connect again), or a break-glass approval (ask again).
 */
export class SessionWatch {
  #timer: Timer | undefined;
  #running = false;

  constructor(
    private readonly deps: {
      sessions: SessionRegistry;
      identity: Identity;
      requests: AccessRequests;
      clock: Clock;
      scheduler: Scheduler;
      logger: Logger;
      warningsMs: readonly number[];
    },
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.#timer ??= this.deps.scheduler.every(this.intervalMs, () => void this.tick());
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async tick(): Promise<void> {
    if (this.#running) return; // a slow database must not pile up ticks
    this.#running = true;
    try {
      const live = this.deps.sessions.list();
      if (live.length === 0) return;
      const ended = new Map((await this.deps.identity.logins.ended([...new Set(live.map((s) => s.loginId))])).map((e) => [e.id, e.revoked]));
      const revoked = await this.deps.requests.revokedAmong([...new Set(live.flatMap((s) => (s.requestId ? [s.requestId] : [])))]);
      const now = this.deps.clock.now().getTime();
      const warnings = [...this.deps.warningsMs].sort((a, b) => b - a);
      for (const s of live) {
        const login = ended.get(s.loginId);
        const reason = login ? `your login was ended (${login})` : s.requestId ? revoked.get(s.requestId) : undefined;
        const remaining = s.expiresAt.getTime() - now;
        if (reason || login === null || remaining <= 0) {
          s.terminate(reason ?? expiredMessage(s));
          continue;
        }
        const due = warnings.filter((w) => remaining <= w && !s.warned.has(w));
        if (due.length) {
          for (const w of due) s.warned.add(w);
          s.notify(`your access expires in ${describe(remaining)}; ${againHint(s)}`);
        }
      }
    } catch (err) {
      this.deps.logger.error({ err }, 'session watch failed');
    } finally {
      this.#running = false;
    }
  }
}

/** What ran out, and how to get access again. */
export function expiredMessage(s: Pick<LiveSession, 'expiresWith' | 'loginKind' | 'targetName'>): string {
  if (s.expiresWith === 'approval') return `your approved access to ${s.targetName} has ended; ${againHint(s)}`;
  return `your airlock login has expired; ${againHint(s)}`;
}

function againHint(s: Pick<LiveSession, 'expiresWith' | 'loginKind' | 'targetName'>): string {
  if (s.expiresWith === 'approval') return `connect again to ask for more time, or ask ahead with "airlock request ${s.targetName} --reason …"`;
  if (s.loginKind === 'api') return 'run "airlock login" again, then reconnect';
  return 'connect again and log in with your password and verification code';
}

function describe(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes >= 1) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const seconds = Math.max(1, Math.round(ms / 1000));
  return seconds === 1 ? '1 second' : `${seconds} seconds`;
}
