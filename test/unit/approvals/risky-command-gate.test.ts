import { describe, it, expect } from 'vitest';
import { ManualClock } from '../../../core/clock.js';
import { RiskyCommandGate } from '../../../approvals/risky-command-gate.js';
import { MAX_LISTED } from '../../../approvals/risky-command-messages.js';
import type { RiskyCommandsNotice } from '../../../approvals/risky-command-messages.js';

/** The rate limit per session: the first at once, the rest gathered per interval, none lost, sessions apart. */
describe('RiskyCommandGate', () => {
  const session = (id: string) => ({ id, recording: `rec-${id}`, user: 'alice', target: 'db01', sensitivity: 'critical' });
  const command = (seq: number) => ({ seq, t: seq, at: new Date(0), text: `history -c # ${seq}`, risks: [{ rule: 'history-tampering', reason: 'clears the history', severity: 'high' }] });

  it('sends the first at once, gathers the rest into one notice per interval, counts those beyond the list, and keeps sessions apart', () => {
    const clock = new ManualClock();
    const sent: RiskyCommandsNotice[] = [];
    const gate = new RiskyCommandGate({ intervalMs: 60_000, scheduler: clock, now: () => clock.now(), send: (n) => sent.push(n) });
    gate.add(session('a'), command(0));
    gate.add(session('b'), command(0));
    expect(sent.map((n) => [n.session.id, n.commands.length, n.more])).toEqual([['a', 1, 0], ['b', 1, 0]]);
    for (let i = 1; i <= MAX_LISTED + 2; i++) gate.add(session('a'), command(i));
    clock.advance(59_999);
    expect(sent).toHaveLength(2);
    clock.advance(1);
    expect(sent).toHaveLength(3);
    expect(sent[2]!.session.id).toBe('a');
    expect(sent[2]!.commands.map((c) => c.seq)).toEqual(Array.from({ length: MAX_LISTED }, (_, i) => i + 1));
    expect(sent[2]!.more).toBe(2);
    // A quiet interval: nothing sent, and the session's next risky command goes at once.
    clock.advance(60_000);
    expect(sent).toHaveLength(3);
    expect(gate.size).toBe(0);
    gate.add(session('a'), command(99));
    expect(sent).toHaveLength(4);
    gate.add(session('a'), command(100));
    expect(gate.stop()).toBe(1);
    clock.advance(120_000);
    expect(sent).toHaveLength(4);
  });
});
