import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import type { AuditInput } from '../../../core/index.js';
import { Guard } from '../../../gateway/guard.js';

function harness(options: { auditFails?: boolean } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  const audits: AuditInput[] = [];
  const ended: string[] = [];
  const audit = {
    record: async (input: AuditInput) => {
      if (options.auditFails) throw new Error('database is down');
      audits.push(input);
      return {} as never;
    },
  };
  const guard = new Guard({ logger, audit }, () => ({ source: '10.0.0.9', user: 'alice' }), (reason) => ended.push(reason));
  const settle = () => new Promise((r) => setTimeout(r, 10));
  return { guard, lines, audits, ended, settle };
}

describe('the connection guard', () => {
  it('catches a synchronous throw: logged, audited once, the connection ended', async () => {
    const h = harness();
    h.guard.wrap('session', () => {
      throw new TypeError('boom');
    })();
    await h.settle();
    expect(h.ended).toHaveLength(1);
    expect(h.audits).toEqual([expect.objectContaining({ action: 'ssh.connection.error', outcome: 'failure', actor: 'alice', source: '10.0.0.9', details: { during: 'session', code: 'ERR_INTERNAL' } })]);
    expect(h.lines.find((l) => l['during'] === 'session')).toMatchObject({ level: 50, err: expect.objectContaining({ message: 'boom' }) });
  });

  it('catches a rejected promise, and a second failure ends nothing twice', async () => {
    const h = harness();
    const handler = h.guard.wrap('authentication', async () => {
      throw new Error('relation "users" does not exist');
    });
    handler();
    handler();
    h.guard.run('background', Promise.reject(new Error('later')));
    await h.settle();
    expect(h.ended).toHaveLength(1);
    expect(h.audits.filter((a) => a.action === 'ssh.connection.error')).toHaveLength(1);
    expect(h.lines.filter((l) => l['msg'] === 'ssh connection failed; ending it (other connections are not affected)')).toHaveLength(3);
  });

  it('passes arguments through and leaves a handler that works alone', async () => {
    const h = harness();
    const seen: unknown[] = [];
    h.guard.wrap('ok', (a: number, b: string) => seen.push(a, b))(1, 'x');
    await h.settle();
    expect(seen).toEqual([1, 'x']);
    expect(h.ended).toEqual([]);
  });

  it('never throws when the audit record itself cannot be written', async () => {
    const h = harness({ auditFails: true });
    h.guard.audit({ action: 'session.exec', outcome: 'success' });
    h.guard.wrap('x', () => {
      throw new Error('first');
    })();
    await h.settle();
    expect(h.ended).toHaveLength(1);
    expect(h.lines.some((l) => l['msg'] === 'could not write an audit record')).toBe(true);
  });
});
