import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waiting on real I/O (worker threads, files, sockets), which no ManualClock
 * drives: look again every intervalMs until the condition holds, and fail with
 * `message` once timeoutMs (real time) have passed. Timers in the code under
 * test are driven with a ManualClock instead, never waited for.
 */
export interface WaitOptions {
  /** Default 10 s: generous, since a deadline only matters when something is broken. */
  timeoutMs?: number;
  /** Default 20 ms. */
  intervalMs?: number;
  /** What the test waited for, for the failure: "the chain entry", "two give-ups audited". */
  message?: string;
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Resolves with the condition's first truthy value. A condition that throws
 * counts as not yet; on timeout its last error is the failure's cause.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 10_000, intervalMs = 20, message = 'the condition' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let cause: unknown;
    try {
      const value = await condition();
      if (value) return value as Truthy<T>;
    } catch (err) {
      cause = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`, cause === undefined ? {} : { cause });
    await sleep(intervalMs);
  }
}
