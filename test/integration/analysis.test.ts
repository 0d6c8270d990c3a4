import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import type * as XtermHeadless from '@xterm/headless';
import { parseCast } from '../../recordings/index.js';
import type { RecordingRow } from '../../recordings/index.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { TmuxSsh } from '../helpers/tmux.js';

const { Terminal } = createRequire(import.meta.url)('@xterm/headless') as typeof XtermHeadless;

/**
 * Session analysis of real sessions through airlock: the commands an engineer
 * typed (as the terminal showed them, after editing), risk flags, search across
 * sessions with separation of duties, and replay from any point through the API.
 */
describe('analysis of real sessions', () => {
  let g: GatewayHarness;
  let auditorToken: string;
  let aliceToken: string;
  let bobToken: string;

  const login = async (user: string, password: string, secret: string): Promise<string> => {
    const res = await fetch(`${g.server.web.url}/api/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user, password, totp: g.totp(secret) }),
    });
    const body = (await res.json()) as { token: string };
    expect(res.status).toBe(201);
    return body.token;
  };
  const get = async <T>(token: string, path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${g.server.web.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as T };
  };

  beforeAll(async () => {
    g = await startGateway('pglite');
    const system = { name: 'test-admin' };
    const carol = await g.services.identity.users.add({ name: 'carol', role: 'auditor', password: 'carol-correct-horse-1', org: 'Acme Clinic' }, system);
    const bob = await g.services.identity.users.add({ name: 'bob', role: 'engineer', password: 'bob-correct-horse-1', org: 'Acme MSP' }, system);
    auditorToken = await login('carol', 'carol-correct-horse-1', carol.totp.secret);
    bobToken = await login('bob', 'bob-correct-horse-1', bob.totp.secret);
    aliceToken = await login('alice', 'alice-correct-horse-1', g.alice.totp.secret);
  });
  afterAll(() => g?.stop());

  const analysed = async (): Promise<RecordingRow> => {
    let failed: RecordingRow | undefined;
    const done = await waitFor(
      async () => {
        const rows = await g.services.recordings.list();
        failed = rows.find((r) => r.analysisStatus === 'failed');
        return failed ?? rows.find((r) => r.kind === 'terminal' && r.analysisStatus === 'done');
      },
      { timeoutMs: 30_000, message: 'the terminal recording to be analysed' },
    );
    if (failed) throw new Error(`analysis failed: ${failed.analysisError}`);
    return done;
  };

  it('finds the commands as the terminal showed them, flags risky ones, and replays from any point', async () => {
    const t = new TmuxSsh(g.ssh, 'alice@t1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret), width: 100, height: 30 });
    try {
      // Each command is typed at its own prompt, as a person would (text typed ahead
      // while a command runs is echoed by the tty first: a known limit of analysis).
      const atPrompt = async (after: string) => {
        const escaped = after.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        await t.waitFor(new RegExp(`${escaped}[^]*\\ntgt\\$\\s*$`));
      };
      await t.waitFor(/\$\s*$/m);
      t.type('export PS1="tgt$ "; mkdir -p /tmp/airlock-analysis-$$ && cd /tmp/airlock-analysis-$$');
      await atPrompt('cd /tmp/airlock-analysis-');
      // Typed with a mistake, corrected with Backspace: the command is what ran.
      t.type('echo hellp', false);
      await t.waitFor('echo hellp');
      t.send('BSpace');
      t.type('o world');
      await atPrompt('hello world');
      t.type('for i in $(seq 1 200); do echo "line $i of the output"; done');
      await atPrompt('line 200 of the output');
      t.type('touch a b c; rm -rf ./a ./b');
      await atPrompt('rm -rf ./a ./b');
      t.type('history -c');
      await atPrompt('history -c');
      t.type('echo the-end');
      await atPrompt('the-end');
      t.type('exit');
      await t.waitFor('SSH-EXIT=0');
    } finally {
      t.kill();
    }
    const rec = await analysed();
    expect(rec.commandCount).toBeGreaterThanOrEqual(6);
    expect(rec.riskCount).toBe(2);
    expect(rec.duration).toBeGreaterThan(0);

    // The auditor reads the commands, in order, without the prompt.
    const { status, body } = await get<{ commands: Array<{ text: string; t: number; risks: Array<{ rule: string; severity: string }> }> }>(
      auditorToken,
      `/api/v1/recordings/${rec.id}/commands`,
    );
    expect(status).toBe(200);
    const texts = body.commands.map((c) => c.text);
    expect(texts).toEqual(
      expect.arrayContaining(['echo hello world', 'for i in $(seq 1 200); do echo "line $i of the output"; done', 'touch a b c; rm -rf ./a ./b', 'history -c', 'echo the-end', 'exit']),
    );
    expect(texts.indexOf('echo hello world')).toBeLessThan(texts.indexOf('history -c'));
    expect(texts.some((x) => x.includes('hellp'))).toBe(false);
    const rm = body.commands.find((c) => c.text.startsWith('touch a b c'));
    expect(rm?.risks.map((r) => r.rule)).toHaveLength(1);
    expect(body.commands.find((c) => c.text === 'history -c')?.risks.length).toBe(1);
    expect(body.commands.find((c) => c.text === 'echo the-end')?.risks).toEqual([]);
    for (let i = 1; i < body.commands.length; i++) expect(body.commands[i]!.t).toBeGreaterThanOrEqual(body.commands[i - 1]!.t);

    // Search across sessions: the auditor finds it; alice finds her own; bob (another engineer) nothing.
    const risky = await get<{ commands: Array<{ text: string; userName: string; recordingId: string }> }>(auditorToken, '/api/v1/commands?risky=true');
    expect(risky.body.commands.map((c) => c.text).sort()).toEqual(['history -c', 'touch a b c; rm -rf ./a ./b']);
    expect((await get<{ commands: unknown[] }>(auditorToken, '/api/v1/commands?q=HELLO')).body.commands).toHaveLength(1);
    expect((await get<{ commands: unknown[] }>(auditorToken, '/api/v1/commands?q=100%25')).body.commands).toHaveLength(0);
    expect((await get<{ commands: unknown[] }>(aliceToken, '/api/v1/commands?q=hello')).body.commands).toHaveLength(1);
    expect((await get<{ commands: unknown[] }>(bobToken, '/api/v1/commands?q=hello')).body.commands).toHaveLength(0);
    expect((await get<{ commands: unknown[] }>(bobToken, `/api/v1/recordings/${rec.id}/commands`)).status).toBe(404);
    // since/until take times as people type them; anything else is a 400 that says what is accepted.
    const badSince = await get<{ error: { code: string; message: string } }>(auditorToken, '/api/v1/commands?since=someday');
    expect(badSince.status).toBe(400);
    expect(badSince.body.error).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringContaining('a duration ago (30m, 1h, 2d)') });
    expect((await get<{ commands: unknown[] }>(auditorToken, '/api/v1/commands?q=HELLO&since=1h')).body.commands).toHaveLength(1);
    expect((await get<{ commands: unknown[] }>(auditorToken, '/api/v1/commands?q=HELLO&until=2h')).body.commands).toHaveLength(0);

    // Replay from any point: keyframe + events up to that point give the screen a
    // full playback shows at that point.
    const castParts: Buffer[] = [];
    for await (const c of g.services.recordings.cast(rec)) castParts.push(c);
    const castText = Buffer.concat(castParts).toString('utf8');
    const cast = parseCast(castText);
    const screenAt = async (at: number, keyframe: { cols: number; rows: number; screen: string } | null, events: Array<[number, string, string]>) => {
      const term = new Terminal({ cols: keyframe?.cols ?? cast.header.width, rows: keyframe?.rows ?? cast.header.height, allowProposedApi: true });
      if (keyframe) await new Promise<void>((r) => term.write(keyframe.screen, r));
      for (const [t, code, data] of events) {
        if (t > at) break;
        if (code === 'o') await new Promise<void>((r) => term.write(data, r));
        if (code === 'r') {
          const [c, rw] = data.split('x').map(Number) as [number, number];
          term.resize(c, rw);
        }
      }
      const rows: string[] = [];
      for (let y = 0; y < term.rows; y++) rows.push(term.buffer.active.getLine(term.buffer.active.baseY + y)?.translateToString(true) ?? '');
      term.dispose();
      return rows.join('\n');
    };
    const duration = rec.duration ?? 0;
    for (const at of [0, duration * 0.5, duration * 0.9, duration]) {
      const r = await get<{ keyframe: { t: number; cols: number; rows: number; screen: string } | null; events: Array<[number, string, string]>; header: { width: number }; end: boolean }>(
        auditorToken,
        `/api/v1/recordings/${rec.id}/replay?at=${at}&window=5`,
      );
      expect(r.status).toBe(200);
      expect(r.body.header.width).toBe(100);
      if (r.body.keyframe) expect(r.body.keyframe.t).toBeLessThanOrEqual(at);
      expect(await screenAt(at, r.body.keyframe, r.body.events)).toBe(await screenAt(at, null, cast.events));
    }
    const bad = await get<{ error: { code: string } }>(auditorToken, `/api/v1/recordings/${rec.id}/replay?at=-1`);
    expect(bad.status).toBe(400);

    // Every read is audited.
    const actions = (await g.services.db.query<{ action: string }>("SELECT action FROM audit_events WHERE actor = 'carol' ORDER BY seq")).rows.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['recording.commands_read', 'recording.searched', 'recording.replayed']));
    const analysedEvent = (await g.services.db.query<{ details: { commands: number; risky: unknown[] } }>("SELECT details FROM audit_events WHERE action = 'recording.analysed'")).rows[0];
    expect(analysedEvent?.details.risky).toHaveLength(2);
  });
});
