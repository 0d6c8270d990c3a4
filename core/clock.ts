/**
 * Time is injected everywhere it decides something (OTP steps, expiry, lockouts),
 * so tests can move it. Nothing in approval, OTP or expiry logic calls Date.now().
 *
 * Timers are injected beside it: a Scheduler runs something later or every so
 * often. The system one uses Node's timers, unref'd (a timer never keeps the
 * process alive on its own: listeners and sessions do); ManualClock is both a
 * Clock and a Scheduler whose time moves only when a test says so, and moving
 * it runs every timer that falls due, in order, at its own time.
 */
export interface Clock {
  now(): Date;
  /**
   * Milliseconds that go forward at the pace of time and are not moved when the
   * wall clock is stepped (NTP, a VM resumed): for waits measured in the moment,
   * like how long an echo may take. A clock without it is used as it is.
   */
  monotonic?(): number;
}

export interface Timer {
  /** Stops it; a timer already run or cancelled ignores this. */
  cancel(): void;
}

export interface Scheduler {
  /** Runs fn once, ms from now. */
  after(ms: number, fn: () => void): Timer;
  /** Runs fn every ms from now until cancelled. */
  every(ms: number, fn: () => void): Timer;
}

export const systemClock: Clock = { now: () => new Date(), monotonic: () => performance.timeOrigin + performance.now() };

export const systemScheduler: Scheduler = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};

interface ManualTimer {
  id: number;
  due: number;
  /** 0 for a one-shot timer. */
  interval: number;
  fn: () => void;
}

/** A clock that only moves when told to, and runs the timers it passes; for tests and simulations. */
export class ManualClock implements Clock, Scheduler {
  #ms: number;
  #mono: number;
  #timers = new Map<number, ManualTimer>();
  #nextId = 1;

  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.#ms = typeof start === 'number' ? start : start.getTime();
    this.#mono = this.#ms;
  }

  now(): Date {
    return new Date(this.#ms);
  }

  /** Moved only by advance(): set() is a wall-clock step. */
  monotonic(): number {
    return this.#mono;
  }

  after(ms: number, fn: () => void): Timer {
    return this.#add(Math.max(0, ms), 0, fn);
  }

  every(ms: number, fn: () => void): Timer {
    if (!(ms > 0)) throw new Error('ManualClock.every: the interval must be positive');
    return this.#add(ms, ms, fn);
  }

  /** Timers waiting to run. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by ms, running each timer that falls due on the way at
   * its due time (an interval as often as it fits), earliest first. A timer
   * that a callback adds runs too if it falls due within the move.
   */
  advance(ms: number): void {
    const end = this.#ms + ms;
    const from = this.#ms;
    const mono = this.#mono;
    for (;;) {
      const next = this.#earliest();
      if (!next || next.due > end) break;
      // A timer that set() skipped runs now, never with time going backwards.
      this.#ms = Math.max(this.#ms, next.due);
      this.#mono = mono + Math.max(0, this.#ms - from);
      if (next.interval) next.due += next.interval;
      else this.#timers.delete(next.id);
      next.fn();
    }
    this.#ms = end;
    this.#mono = mono + ms;
  }

  /**
   * advance(), then lets the promise callbacks that the timers started run, so
   * a test can await what a timer's work did (a database write, an event).
   */
  async advanceAsync(ms: number, settleTurns = 20): Promise<void> {
    this.advance(ms);
    for (let i = 0; i < settleTurns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Sets the time; does not run timers (use advance to move forward through them). */
  set(at: Date | number): void {
    this.#ms = typeof at === 'number' ? at : at.getTime();
  }

  #add(delay: number, interval: number, fn: () => void): Timer {
    const timer: ManualTimer = { id: this.#nextId++, due: this.#ms + delay, interval, fn };
    this.#timers.set(timer.id, timer);
    return { cancel: () => void this.#timers.delete(timer.id) };
  }

  #earliest(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#timers.values()) if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    return best;
  }
}
