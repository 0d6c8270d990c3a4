import type { Scheduler, Timer } from '../core/index.js';
import { MAX_LISTED } from './risky-command-messages.js';
import type { RiskyCommand, RiskyCommandsNotice } from './risky-command-messages.js';

/**
 * Rate limit for risky-command notifications, per session: the first risky
 * command of a session is sent at once; the ones after it within `intervalMs`
 * are gathered and sent together when the interval ends (then a new interval
 * starts, so a session running a risky script yields one notification per
 * interval). Nothing is dropped silently: beyond MAX_LISTED commands a notice
 * says how many more there were.
 */
export class RiskyCommandGate {
  readonly #windows = new Map<string, { timer: Timer; session: RiskyCommandsNotice['session']; commands: RiskyCommand[]; more: number }>();

  constructor(
    private readonly deps: { intervalMs: number; scheduler: Scheduler; now: () => Date; send: (n: RiskyCommandsNotice) => void },
  ) {}

  /** Sessions with an interval running. */
  get size(): number {
    return this.#windows.size;
  }

  add(session: RiskyCommandsNotice['session'], command: RiskyCommand): void {
    const open = this.#windows.get(session.id);
    if (open) {
      if (open.commands.length < MAX_LISTED) open.commands.push(command);
      else open.more++;
      return;
    }
    this.deps.send({ session, commands: [command], more: 0, at: this.deps.now() });
    this.#open(session);
  }

  #open(session: RiskyCommandsNotice['session']): void {
    const timer = this.deps.scheduler.after(this.deps.intervalMs, () => {
      const w = this.#windows.get(session.id);
      this.#windows.delete(session.id);
      if (!w || (w.commands.length === 0 && w.more === 0)) return;
      this.deps.send({ session: w.session, commands: w.commands, more: w.more, at: this.deps.now() });
      this.#open(w.session);
    });
    this.#windows.set(session.id, { timer, session, commands: [], more: 0 });
  }

  /** Stops every interval; returns how many gathered commands were not sent. */
  stop(): number {
    let unsent = 0;
    for (const w of this.#windows.values()) {
      w.timer.cancel();
      unsent += w.commands.length + w.more;
    }
    this.#windows.clear();
    return unsent;
  }
}
