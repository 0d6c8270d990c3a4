import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Frame } from '../../recordings/frame-format.js';
import type { RecordingRow } from '../../recordings/index.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { framesOf } from '../helpers/frames.js';
import { runCli } from '../helpers/cli.js';
import { TmuxSsh } from '../helpers/tmux.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Input typed without echo, through the real gateway under a real terminal:
 * `read -s` at a token prompt and with no prompt at all, and commands typed
 * after `stty -echo`. None of it is in the stored recording in the clear; it is
 * sealed to the customer's reveal key (made here by Debian's age-keygen), opens
 * with that key through the API and the CLI, not with another, and the
 * stty -echo line is a sealed command flagged hidden-input.
 */
describe('sealed input through the gateway', () => {
  let g: GatewayHarness;
  let dir: string;
  let identityFile: string;
  let strangerFile: string;
  let auditorToken: string;

  const keyPair = (name: string): { file: string; recipient: string } => {
    const file = join(dir, name);
    execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
    return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-sealed-'));
    const mine = keyPair('reveal.key');
    identityFile = mine.file;
    strangerFile = keyPair('stranger.key').file;
    g = await startGateway('pglite', { overrides: { 'recordings.revealRecipients': [mine.recipient] } });
    const carol = await g.services.identity.users.add({ name: 'carol', role: 'auditor', password: 'carol-correct-horse-1', org: 'Acme Clinic' }, { name: 'test-admin' });
    const res = await fetch(`${g.server.web.url}/api/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'carol', password: 'carol-correct-horse-1', totp: g.totp(carol.totp.secret) }),
    });
    expect(res.status).toBe(201);
    auditorToken = ((await res.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reveal = (id: string, identity: string) =>
    fetch(`${g.server.web.url}/api/v1/recordings/${id}/reveal`, {
      method: 'POST',
      headers: { authorization: `Bearer ${auditorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ identity }),
    });

  it('keeps read -s and stty -echo input out of the clear, seals it, flags the hidden command, and reveals it only with the key', async () => {
    const TOKEN = 'tok3n-Quux-771';
    const QUIET = 'n0prompt-Zed-42';
    const t = new TmuxSsh(g.ssh, 'alice@t1', { password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret), width: 100, height: 30 });
    try {
      await t.waitFor(/\$\s*$/m);
      t.type('export PS1="tgt$ "');
      await t.waitFor(/tgt\$\s*$/m);
      // A token at a prompt that asks for one, typed key by key.
      t.type('read -s -p "Token: " tok; echo; echo "got ${#tok}"');
      await t.waitFor('Token: ');
      for (const ch of TOKEN) {
        t.type(ch, false);
        await new Promise((r) => setTimeout(r, 60));
      }
      t.send('Enter');
      await t.waitFor(`got ${TOKEN.length}`);
      // read -s with no prompt at all: only the screen not changing tells.
      t.type('read -s quiet; echo "quiet ${#quiet}"');
      await new Promise((r) => setTimeout(r, 300));
      for (const ch of QUIET) {
        t.type(ch, false);
        await new Promise((r) => setTimeout(r, 60));
      }
      t.send('Enter');
      await t.waitFor(`quiet ${QUIET.length}`);
      // Commands with echo off: they run, the screen shows only their output.
      t.type('stty -echo');
      await t.waitFor(/stty -echo\s*\n[^]*tgt\$\s*$/);
      await new Promise((r) => setTimeout(r, 300));
      t.type('echo hidden-ran-$((6*7))');
      await t.waitFor('hidden-ran-42');
      t.type('stty echo');
      await new Promise((r) => setTimeout(r, 500));
      t.type('echo visible-again');
      await t.waitFor(/^visible-again/m);
      t.type('exit');
      await t.waitFor('SSH-EXIT=');
    } finally {
      t.kill();
    }

    const row = await waitFor(
      async () => (await g.services.recordings.list()).find((r: RecordingRow) => r.kind === 'terminal' && (r.analysisStatus === 'done' || r.analysisStatus === 'failed')),
      { timeoutMs: 30_000, message: 'the terminal recording to be analysed' },
    );
    expect(row.analysisStatus).toBe('done');

    // Nothing typed without echo is in the stored file in the clear.
    const file = await g.services.recordings.read(row);
    for (const secret of [TOKEN, QUIET, 'hidden-ran-$((6*7))', TOKEN.slice(0, 5), QUIET.slice(-5)]) expect(file.includes(Buffer.from(secret))).toBe(false);
    const { frames } = framesOf(file);
    expect(frames.some((f) => f.type === Frame.Sealed)).toBe(true);
    // What the target echoed is kept in the clear, as typed.
    const typed = Buffer.concat(frames.filter((f) => f.type === Frame.Input).map((f) => f.payload)).toString('utf8');
    expect(typed).toContain('read -s -p "Token: " tok; echo; echo "got ${#tok}"');
    expect(typed).toContain('echo visible-again');

    // The command typed with echo off is a sealed command, flagged; the others are read off the screen.
    const commands = await g.services.analyses.commands(row.id);
    const sealed = commands.filter((c) => c.sealed);
    expect(sealed.length).toBeGreaterThanOrEqual(1);
    expect(sealed.every((c) => c.text === '' && c.risks.some((r) => r.rule === 'hidden-input'))).toBe(true);
    expect(commands.filter((c) => !c.sealed).map((c) => c.text)).toEqual(
      expect.arrayContaining(['read -s -p "Token: " tok; echo; echo "got ${#tok}"', 'stty -echo', 'echo visible-again']),
    );

    // The API reveals it with the customer's key, and audits that; another key opens nothing.
    const identity = execFileSync('grep', ['^AGE-SECRET-KEY-1', identityFile], { encoding: 'utf8' }).trim();
    const res = await reveal(row.id, identity);
    if (res.status !== 200) throw new Error(`reveal: ${res.status} ${await res.text()}`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { inputs: Array<{ text: string }>; unsealed: number };
    const all = body.inputs.map((i) => i.text).join('');
    expect(all).toContain(TOKEN);
    expect(all).toContain(QUIET);
    expect(all).toContain('echo hidden-ran-$((6*7))');
    expect(body.unsealed).toBe(0);
    const stranger = execFileSync('grep', ['^AGE-SECRET-KEY-1', strangerFile], { encoding: 'utf8' }).trim();
    const wrong = await reveal(row.id, stranger);
    expect(wrong.status).toBe(422);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('ERR_REVEAL_KEY_WRONG');
    expect((await reveal(row.id, 'AGE-SECRET-KEY-1nope')).status).toBe(400);
    const engineer = await fetch(`${g.server.web.url}/api/v1/recordings/${row.id}/reveal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(engineer.status).toBe(401);
    const audit = (await g.services.db.query<{ outcome: string; details: Record<string, unknown> }>("SELECT outcome, details FROM audit_events WHERE action = 'recording.revealed' ORDER BY seq")).rows;
    expect(audit.map((a) => a.outcome)).toEqual(['success', 'failure', 'failure']); // a wrong key and a malformed one are attempts too
    expect(JSON.stringify(audit)).not.toContain('AGE-SECRET-KEY');

    // The CLI decrypts on the auditor's side, from the raw download (audited as a reveal there).
    const home = join(dir, 'cli-home');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, 'credentials.json'), JSON.stringify({ url: g.server.web.url, token: auditorToken, user: 'carol', role: 'auditor', loginId: 'x', expiresAt: new Date(Date.now() + 3600_000).toISOString() }), { mode: 0o600 });
    const cli = await runCli(['recordings', 'reveal', row.id, '--identity', identityFile, '--json'], { env: { AIRLOCK_HOME: home } });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const report = JSON.parse(cli.stdout) as { inputs: Array<{ text: string }> };
    expect(report.inputs.map((i) => i.text).join('')).toContain(TOKEN);
    const refused = await runCli(['recordings', 'reveal', row.id, '--identity', strangerFile], { env: { AIRLOCK_HOME: home } });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/not the key this recording was sealed to/);
    const reads = (await g.services.db.query<{ details: { purpose?: string } }>("SELECT details FROM audit_events WHERE action = 'recording.read' ORDER BY seq")).rows;
    expect(reads.map((a) => a.details.purpose)).toContain('reveal');
  });

  it('airlock keys create-reveal-key writes the private half once, mode 0600, and prints the public half', async () => {
    const out = join(dir, 'new.key');
    const r = await runCli(['keys', 'create-reveal-key', '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/revealRecipients:\s+- age1[02-9ac-hj-np-z]{58}/);
    expect(execFileSync('stat', ['-c', '%a', out], { encoding: 'utf8' }).trim()).toBe('600');
    // Debian's age accepts it as an identity, and its public key is the one printed.
    const recipient = execFileSync('age-keygen', ['-y', out], { encoding: 'utf8' }).trim();
    expect(r.stderr).toContain(recipient);
    // It never overwrites a key already there.
    const again = await runCli(['keys', 'create-reveal-key', '-o', out]);
    expect(again.code).not.toBe(0);
  });
});
