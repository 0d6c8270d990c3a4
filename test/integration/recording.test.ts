import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCast, REDACTED } from '../../recordings/index.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { waitFor } from '../helpers/wait.js';

/** Recordings of real sessions through airlock, played by the real asciinema. */
async function toArray(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

describe('recording real sessions', () => {
  let g: GatewayHarness;
  beforeAll(async () => {
    g = await startGateway('pglite');
  });
  afterAll(() => g?.stop());

  const recordingsOf = (sessionCount: number) =>
    waitFor(
      async () => {
        const rows = await g.services.recordings.list();
        return rows.length >= sessionCount && rows.every((r) => r.status !== 'recording') ? rows : undefined;
      },
      { message: `${sessionCount} sealed recordings` },
    );

  it('records an interactive shell that asciinema plays back as the engineer saw it, without a password typed at read -s', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@t1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret), width: 100, height: 30 });
    try {
      await t.waitFor(/\$\s*$/m);
      t.type('export PS1="tgt$ "; echo marker-$((6*7))');
      await t.waitFor('marker-42');
      t.type('read -s -p "Secret: " S; echo; echo "length ${#S}"');
      await t.waitFor('Secret:');
      // A fixed wait, on purpose: bash prints the prompt and then turns echo off,
      // and nothing outside the target shows when it has. Typed earlier, the
      // secret would be echoed, which is another test's case, not this one.
      await new Promise((r) => setTimeout(r, 300));
      t.type('hunter2-Sup3rSecret');
      await t.waitFor('length 19');
      t.resize(120, 40);
      // The resize reaches the target's terminal a moment later: ask until it has.
      await waitFor(
        async () => {
          t.type('stty size');
          return t.waitFor('40 120', 1000).catch(() => undefined);
        },
        { message: 'the target to see 120x40' },
      );
      t.type('exit');
      await t.waitFor('SSH-EXIT=0');
    } finally {
      t.kill();
    }
    const [rec] = await recordingsOf(1);
    expect(rec!.status).toBe('complete');
    expect(rec!.kind).toBe('terminal');
    // The stored file is the lossless copy; what players read is its asciicast export.
    const stored = await g.services.recordings.read(rec!);
    expect(stored.includes('hunter2')).toBe(false);
    expect(stored.includes('Sup3rSecret')).toBe(false);
    const castText = Buffer.concat(await toArray(g.services.recordings.cast(rec!))).toString('utf8');
    const cast = parseCast(castText);
    expect(cast.header).toMatchObject({ version: 2, width: 100, height: 30, title: 'alice@t1' });
    expect(cast.header.airlock).toMatchObject({ user: 'alice', target: 't1', session: rec!.sessionId });
    const output = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(output).toContain('marker-42');
    expect(output).toContain('length 19');
    expect(output).toContain('40 120');
    expect(cast.events.some((e) => e[1] === 'r' && e[2] === '120x40')).toBe(true);
    // Input is recorded, except what was typed while the terminal did not echo.
    const input = cast.events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    expect(input).toContain('echo marker');
    expect(input).toContain(REDACTED);
    expect(castText).not.toContain('hunter2');
    expect(castText).not.toContain('Sup3rSecret');
    // Times never go backwards.
    for (let i = 1; i < cast.events.length; i++) expect(cast.events[i]![0]).toBeGreaterThanOrEqual(cast.events[i - 1]![0]);

    // The real asciinema (Debian's 2.2) prints the recorded output.
    const file = join(g.services.dataDir, 'played.cast');
    writeFileSync(file, castText);
    const played = execFileSync('script', ['-qec', `asciinema cat ${file}`, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    expect(played).toContain('marker-42');
    expect(played).toContain('length 19');
    expect(played).not.toContain('hunter2');
    // And plays it, in a terminal, at speed (idle time capped so that it is quick).
    const replayed = execFileSync('script', ['-qec', `asciinema play -s 20 -i 0.05 ${file}`, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    expect(replayed).toContain('marker-42');
    expect(replayed).toContain('40 120');

    const report = await g.services.recordings.verify(rec!);
    expect(report).toMatchObject({ ok: true, final: true });
  });

  it('records an exec: command as a marker, stdout as output, stderr marked, exit code kept and recorded', async () => {
    const before = (await g.services.recordings.list()).length;
    const r = await g.asAlice('alice@t1', ['echo out-1; echo err-1 >&2; echo out-2; exit 3']);
    expect(r.code).toBe(3);
    const rows = await recordingsOf(before + 1);
    const rec = rows.find((x) => x.kind === 'exec')!;
    const cast = parseCast(Buffer.concat(await toArray(g.services.recordings.cast(rec))).toString('utf8'));
    expect(cast.events[0]).toEqual([expect.any(Number), 'm', 'exec: echo out-1; echo err-1 >&2; echo out-2; exit 3']);
    const seq = cast.events.map((e) => `${e[1]}:${e[2]}`);
    expect(seq.indexOf('m:stderr')).toBeGreaterThan(seq.findIndex((x) => x.startsWith('o:') && x.includes('out-1')));
    expect(seq.findIndex((x) => x.startsWith('o:') && x.includes('err-1'))).toBeGreaterThan(seq.indexOf('m:stderr'));
    expect(cast.events.some((e) => e[1] === 'i')).toBe(false);
    // The exit status is in the recording too.
    expect(seq).toContain('m:exit-status 3');
  });

  it('refuses and names tampering of a sealed recording', async () => {
    const [rec] = await g.services.recordings.list();
    const path = join(g.services.dataDir, 'recordings', rec!.path);
    const original = readFileSync(path);
    try {
      const flipped = Buffer.from(original);
      const mid = Math.floor(flipped.length / 2);
      flipped[mid] = (flipped[mid] as number) ^ 0x01;
      writeFileSync(path, flipped);
      const report = await g.services.recordings.verify(rec!);
      expect(report.ok).toBe(false);
      expect(report.problems[0]).toMatchObject({ kind: 'range_changed' });
      expect(report.summary).toMatch(/bytes \d+–\d+ .* were changed/);
    } finally {
      writeFileSync(path, original);
    }
    expect((await g.services.recordings.verify(rec!)).ok).toBe(true);
  });
});
