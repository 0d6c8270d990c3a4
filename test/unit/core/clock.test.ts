import { describe, it, expect } from 'vitest';
import { ManualClock } from '../../../core/clock.js';

const START = Date.UTC(2026, 0, 1);

/** A ManualClock and a log of which timer ran at which time (ms since START). */
function setup() {
  const clock = new ManualClock(START);
  const ran: Array<[string, number]> = [];
  const log = (name: string) => () => void ran.push([name, clock.now().getTime() - START]);
  return { clock, ran, log };
}

describe('ManualClock as a scheduler', () => {
  it('runs a one-shot timer once, at its due time and not before', () => {
    const { clock, ran, log } = setup();
    clock.after(100, log('once'));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(99);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual([['once', 100]]);
    clock.advance(1000);
    expect(ran).toEqual([['once', 100]]);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.now().getTime()).toBe(START + 1100);
  });

  it('runs an interval as often as it fits, each time at its own time', () => {
    const { clock, ran, log } = setup();
    clock.every(100, log('tick'));
    clock.advance(350);
    expect(ran).toEqual([
      ['tick', 100],
      ['tick', 200],
      ['tick', 300],
    ]);
    clock.advance(50);
    expect(ran.at(-1)).toEqual(['tick', 400]);
    expect(ran).toHaveLength(4);
    expect(clock.pendingTimers).toBe(1);
    expect(() => clock.every(0, log('never'))).toThrow('the interval must be positive');
  });

  it('never runs a cancelled timer; an interval can cancel itself; cancelling twice is harmless', () => {
    const { clock, ran, log } = setup();
    const once = clock.after(100, log('cancelled'));
    once.cancel();
    let runs = 0;
    const self = clock.every(10, () => {
      log('self')();
      if (++runs === 2) self.cancel();
    });
    const done = clock.after(5, log('done'));
    clock.advance(1000);
    expect(ran).toEqual([
      ['done', 5],
      ['self', 10],
      ['self', 20],
    ]);
    expect(clock.pendingTimers).toBe(0);
    done.cancel();
    once.cancel();
    expect(clock.pendingTimers).toBe(0);
  });

  it('runs the timers falling due in one advance earliest first, ties in the order they were set', () => {
    const { clock, ran, log } = setup();
    clock.after(300, log('c@300'));
    clock.every(150, log('i'));
    clock.after(100, log('a@100'));
    clock.after(300, log('d@300'));
    clock.after(100, log('b@100'));
    clock.after(-50, log('now')); // a negative delay means now
    clock.advance(300);
    expect(ran).toEqual([
      ['now', 0],
      ['a@100', 100],
      ['b@100', 100],
      ['i', 150],
      ['c@300', 300],
      ['i', 300],
      ['d@300', 300],
    ]);
  });

  it('runs a timer that a callback sets if it falls due within the same advance, else later', () => {
    const { clock, ran, log } = setup();
    clock.after(100, () => {
      log('first')();
      clock.after(50, log('inside'));
      clock.after(0, log('at once'));
      clock.after(500, log('beyond'));
    });
    clock.advance(200);
    expect(ran).toEqual([
      ['first', 100],
      ['at once', 100],
      ['inside', 150],
    ]);
    clock.advance(400);
    expect(ran.at(-1)).toEqual(['beyond', 600]);
  });

  it('set() moves time without running timers', () => {
    const { clock, ran, log } = setup();
    clock.after(100, log('later'));
    clock.set(START + 10_000);
    expect(clock.now().getTime()).toBe(START + 10_000);
    expect(ran).toEqual([]);
    expect(clock.pendingTimers).toBe(1);
  });

  it('advanceAsync lets the promise chain a timer started settle; advance does not', async () => {
    const clock = new ManualClock(START);
    const steps: string[] = [];
    const work = async (run: string) => {
      steps.push(`${run}: started`);
      await Promise.resolve();
      steps.push(`${run}: after a microtask`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      steps.push(`${run}: after an event loop turn`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      steps.push(`${run}: done`);
    };
    clock.after(10, () => void work('sync'));
    clock.advance(10);
    expect(steps).toEqual(['sync: started']);
    clock.after(10, () => void work('async'));
    await clock.advanceAsync(10);
    expect(steps.filter((s) => s.startsWith('async'))).toEqual(['async: started', 'async: after a microtask', 'async: after an event loop turn', 'async: done']);
  });
});
