import type { Clock } from '../../core/clock.js';

/**
 * Real time plus an offset the test can push forward. TOTP codes are single-use
 * per 30-second step, so a test that logs the same user in twice moves the clock
 * on a step instead of waiting; everything else still sees time pass.
 */
export class OffsetClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  /** Moving the clock on (a fresh TOTP step) is a wall-clock step: waits in the moment do not see it. */
  monotonic(): number {
    return performance.timeOrigin + performance.now();
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
  /** The time as oathtool's --now wants it. */
  oathNow(): string {
    return this.now().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }
}
