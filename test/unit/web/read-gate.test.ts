import { describe, it, expect } from 'vitest';
import { ReadGate } from '../../../web/read-gate.js';

/** A piece of work that runs until release() is called. */
function held(): { work: () => Promise<string>; release: () => void } {
  let release!: () => void;
  const done = new Promise<string>((resolve) => (release = () => resolve('done')));
  return { work: () => done, release };
}

describe('ReadGate', () => {
  it('refuses one read more than its places with ERR_BUSY and a Retry-After, and frees the place when the read ends', async () => {
    const gate = new ReadGate(2);
    const a = held();
    const b = held();
    const first = gate.run('raw export', 'ada', a.work);
    const second = gate.run('verify', 'bob', b.work);
    await expect(gate.run('evidence export', 'carol', async () => 'x')).rejects.toMatchObject({
      code: 'ERR_BUSY',
      status: 503,
      retryAfter: 5,
      message: 'too many recording reads at once (2 are already running on this server): try the evidence export again in a few seconds',
    });
    a.release();
    await expect(first).resolves.toBe('done');
    await expect(gate.run('evidence export', 'carol', async () => 'x')).resolves.toBe('x');
    b.release();
    await second;
  });

  it('gives one user at most half the places, so slow downloads of one user do not shut out the others', async () => {
    const gate = new ReadGate(4);
    const mine = [held(), held()];
    const running = mine.map((h) => gate.run('raw export', 'eve', h.work));
    await expect(gate.run('raw export', 'eve', async () => 'x')).rejects.toMatchObject({ code: 'ERR_BUSY', message: expect.stringContaining('you already have 2 running') });
    await expect(gate.run('verify', 'ada', async () => 'ok')).resolves.toBe('ok');
    for (const h of mine) h.release();
    await Promise.all(running);
    await expect(gate.run('raw export', 'eve', async () => 'x')).resolves.toBe('x');
  });

  it('frees the place when the read fails', async () => {
    const gate = new ReadGate(1);
    await expect(gate.run('verify', 'ada', async () => Promise.reject(new Error('disk gone')))).rejects.toThrow('disk gone');
    await expect(gate.run('verify', 'ada', async () => 'ok')).resolves.toBe('ok');
  });
});
