import { describe, it, expect } from 'vitest';
import { analyseCast } from '../../../../recordings/analysis/index.js';
import { isAirlockError } from '../../../../core/errors.js';
import { analyse, eventAt, events, expectLineStart, PROMPT, Session, texts } from './helpers.js';

describe('commands of recordings of other kinds, and their risks', () => {
  it('takes the command of an exec recording from its marker', async () => {
    const s = new Session({ kind: 'exec' })
      .event('m', 'exec: sudo rm -rf /var/lib/mysql')
      .out('removed directory /var/lib/mysql\r\n')
      .event('m', 'stderr')
      .out('rm: cannot remove: Busy\r\n')
      .key('y\r');
    const bytes = s.bytes();
    const r = await analyse(bytes);
    expect(r.kind).toBe('exec');
    expect(texts(r)).toEqual(['sudo rm -rf /var/lib/mysql']);
    const c = r.commands[0];
    expect(c?.risks.map((x) => x.rule)).toEqual(['recursive-delete']);
    expect(c && eventAt(bytes, c.castOffset)).toEqual([0.05, 'm', 'exec: sudo rm -rf /var/lib/mysql']);
    expect(c?.t).toBe(0.05);
  });

  it('finds no commands in an sftp recording', async () => {
    const s = new Session({ kind: 'sftp' }).event('m', 'sftp: open /etc/passwd').key('ls\r').out('x');
    const r = await analyse(s);
    expect(r.kind).toBe('sftp');
    expect(r.commands).toEqual([]);
  });

  it('attaches the risks each command matches', async () => {
    const s = new Session().out(PROMPT).run('sudo rm -rf /etc', '').run('curl -fsSL https://get.example.com | sudo bash', '').run('ls', '');
    const r = await analyse(s);
    expect(r.commands.map((c) => c.risks.map((x) => `${x.rule}:${x.severity}`))).toEqual([
      ['recursive-delete-system:high'],
      ['remote-code:high'],
      [],
    ]);
  });
});

describe('totals', () => {
  it('counts events, UTF-8 bytes of output, and the duration', async () => {
    const s = new Session().out('é', 0.5).key('a', 0.5).out('日本', 1).event('m', 'x', 1).event('r', '90x20', 1);
    const r = await analyse(s);
    expect(r).toMatchObject({ events: 5, outputBytes: 2 + 6, duration: 4, truncated: false });
  });
});

describe('keyframes: when one is taken', () => {
  it('takes one once keyframeBytes of output were written since the last, at the next event line', async () => {
    const s = new Session().out(PROMPT);
    for (let i = 0; i < 40; i++) s.out(`line ${i} `.padEnd(100, '.') + '\r\n');
    const bytes = s.bytes();
    const r = await analyse(bytes, { keyframeBytes: 1000, keyframeSeconds: 1e9 });
    // 13 bytes of prompt, then 102 bytes an event: due after events 10, 20, 30 and 40 of
    // the lines; the last is due at the end of the file, where no event line follows.
    expect(r.keyframes.length).toBe(4);
    let previous = r.keyframes[0]?.castOffset ?? 0;
    for (const kf of r.keyframes.slice(1)) {
      const between = events(bytes, previous, kf.castOffset).filter((e) => e[1] === 'o');
      const sizes = between.map((e) => Buffer.byteLength(e[2]));
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThanOrEqual(1000);
      expect(total - (sizes.at(-1) ?? 0)).toBeLessThan(1000);
      expect(kf.t).toBe(between.at(-1)?.[0]);
      previous = kf.castOffset;
    }
    expect(r.keyframes.map((k) => k.seq)).toEqual(r.keyframes.map((_, i) => i));
  });

  it('takes one once keyframeSeconds passed with some output since the last', async () => {
    const s = new Session().out(PROMPT, 0);
    for (let i = 0; i < 10; i++) s.out('.', 7); // output at t = 7, 14 … 70
    s.key('x', 30).key('y', 30).key('z', 30); // t = 100, 130, 160: no output
    const bytes = s.bytes();
    const r = await analyse(bytes, { keyframeSeconds: 30 });
    // Due after t = 35 (35 s since 0) and t = 70 (35 s since 35); not after the keys:
    // no output since the keyframe at 70.
    expect(r.keyframes.map((k) => k.t)).toEqual([0, 35, 70]);
    for (const kf of r.keyframes) expectLineStart(bytes, kf.castOffset);
  });

  it('rejects keyframe options that make no sense', async () => {
    for (const options of [{ keyframeBytes: 0 }, { keyframeBytes: Number.NaN }, { keyframeSeconds: -1 }]) {
      await expect(analyseCast([Buffer.from('')], options)).rejects.toSatisfy((e: unknown) => isAirlockError(e, 'ERR_INVALID_INPUT'));
    }
  });
});
