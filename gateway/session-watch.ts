import type { Clock, Logger } from '../core/index.js';
import type { Identity } from '../identity/index.js';
import type { AccessRequests } from '../approvals/index.js';
import type { SessionRegistry } from './sessions.js';

/**
 * Keeps live sessions within their access: once a second it asks the database
 * which of their logins were revoked or have expired, and which break-glass
 * grants were revoked (so a logout, an admin's or approver's revoke, or a user
 * disabled on any node ends the session within about a second),
 * writes the expiry warnings into the terminal, and ends sessions whose access
 * has run out.
 */
export class SessionWatch {
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(
    private readonly deps: {
      sessions: SessionRegistry;
      identity: Identity;
      requests: AccessRequests;
      clock: Clock;
      logger: Logger;
      warningsMs: readonly number[];
    },
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async tick(): Promise<void> {
    if (this.#running) return; // a slow database must not pile up ticks
    this.#running = true;
    try {
      const live = this.deps.sessions.list();
      if (live.length === 0) return;
      const ended = new Map((await this.deps.identity.logins.ended([...new Set(live.map((s) => s.loginId))])).map((e) => [e.id, e.reason]));
      const revoked = await this.deps.requests.revokedAmong([...new Set(live.flatMap((s) => (s.requestId ? [s.requestId] : [])))]);
      const now = this.deps.clock.now().getTime();
      const warnings = [...this.deps.warningsMs].sort((a, b) => b - a);
      for (const s of live) {
        const reason = ended.get(s.loginId) ?? (s.requestId ? revoked.get(s.requestId) : undefined);
        const remaining = s.expiresAt.getTime() - now;
        if (reason || remaining <= 0) {
          s.terminate(reason ?? 'your access has expired');
          continue;
        }
        const due = warnings.filter((w) => remaining <= w && !s.warned.has(w));
        if (due.length) {
          for (const w of due) s.warned.add(w);
          s.notify(`your access expires in ${describe(remaining)}`);
        }
      }
    } catch (err) {
      this.deps.logger.error({ err }, 'session watch failed');
    } finally {
      this.#running = false;
    }
  }
}

function describe(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes >= 1) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const seconds = Math.max(1, Math.round(ms / 1000));
  return seconds === 1 ? '1 second' : `${seconds} seconds`;
}
