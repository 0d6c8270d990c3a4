import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { engines } from '../helpers/db.js';
import { CLI_PATH, baseEnv, createCliSandbox, oathtool, parseJson, startServe } from '../helpers/cli.js';
import type { CliResult, CliSandbox } from '../helpers/cli.js';
import { startSshd } from '../helpers/sshd.js';
import type { Sshd } from '../helpers/sshd.js';
import { waitFor } from '../helpers/wait.js';

/**
 * What a new user hit with the README and the demo's printout, each driven
 * through the real `airlock` command: ids by prefix, --since durations, -o -,
 * session and recording details with their approval, a revoke's own comment,
 * no certificate for roles that never open SSH sessions, QR codes for TOTP,
 * logs readable on a terminal and JSON otherwise, and a demo that says what its
 * target is, gives each role its own AIRLOCK_HOME and an alias that cannot
 * resolve to another package.
 */
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const QR = /[▀▄█]{6,}/;

function expectExit(r: CliResult, code: number): void {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toMatchObject({ code });
}

describe.each(engines)('the CLI a new user meets, on %s', (engine) => {
  let sb: CliSandbox;
  let sshd: Sshd;
  const secrets: Record<string, string> = {};
  let requestId = '';
  let sessionId = '';
  let recordingId = '';

  beforeAll(async () => {
    sb = await createCliSandbox(engine);
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sb?.cleanup();
    await sshd?.stop();
  });

  const login = async (user: string, password: string) => {
    const r = await sb.run(['login', '--user', user, '--password-stdin', '--totp', oathtool(secrets[user] as string)], { as: user, input: password });
    expectExit(r, 0);
    return r;
  };

  it('init and user add print the TOTP secret with a QR code to scan', async () => {
    const init = await sb.run(['init', '--admin', 'admin', '--password-stdin'], { input: 'admin-password-123' });
    expectExit(init, 0);
    expect(init.stdout).toMatch(QR);
    secrets['admin'] = /TOTP secret \(shown once\): ([A-Z2-7]+)/.exec(init.stdout)?.[1] as string;
    await sb.serve();
    await login('admin', 'admin-password-123');
    for (const [name, role] of [['alice', 'engineer'], ['olivia', 'approver'], ['ada', 'auditor']] as const) {
      const added = await sb.run(['user', 'add', name, '--role', role, '--password-stdin'], { as: 'admin', input: `${name}-password-123` });
      expectExit(added, 0);
      expect(added.stdout).toContain('Scan into an authenticator app:');
      expect(added.stdout).toMatch(QR);
      secrets[name] = /TOTP secret \(shown once\): ([A-Z2-7]+)/.exec(added.stdout)?.[1] as string;
    }
    // --json carries the URI, not a drawing.
    const json = await sb.run(['--json', 'user', 'add', 'bob', '--role', 'engineer'], { as: 'admin' });
    expect(parseJson<{ totp: { uri: string } }>(json).totp.uri).toMatch(/^otpauth:\/\//);
    expect(json.stdout).not.toMatch(QR);
  });

  it('an approver logs in for the API only: no certificate, no ssh_config, and the reason said', async () => {
    const r = await login('olivia', 'olivia-password-123');
    expect(r.stdout).toContain('No SSH certificate: the approver role does not open SSH sessions');
    expect(existsSync(join(sb.home('olivia'), 'ssh_config'))).toBe(false);
    expect(existsSync(join(sb.home('olivia'), 'id_ed25519-cert.pub'))).toBe(false);
  });

  it('a request is shown and approved by the first characters of its id', async () => {
    const keyFile = join(sb.root, 'vault_key');
    writeFileSync(keyFile, sshd.clientKey, { mode: 0o600 });
    expectExit(
      await sb.run(
        ['target', 'add', 'vault', '--host', '127.0.0.1', '--port', String(sshd.port), '--login', sshd.login, '--key-file', keyFile, '--sensitivity', 'sensitive', '--host-key', sshd.hostKey],
        { as: 'admin' },
      ),
      0,
    );
    expectExit(await sb.run(['grant', 'add', '--user', 'alice', '--target', 'vault'], { as: 'admin' }), 0);
    await login('alice', 'alice-password-123');
    const asked = await sb.run(['--json', 'request', 'vault', '--reason', 'restart the stuck backup job'], { as: 'alice' });
    expectExit(asked, 0);
    requestId = parseJson<{ request: { id: string } }>(asked).request.id;
    const short = requestId.slice(0, 8); // what the gateway prints
    const shown = await sb.run(['requests', 'show', short], { as: 'olivia' });
    expectExit(shown, 0);
    expect(shown.stdout).toContain(`request ${requestId}: pending`);
    expectExit(await sb.run(['requests', 'approve', short, '--comment', 'go ahead'], { as: 'olivia' }), 0);
    const notHex = await sb.run(['requests', 'show', 'zz-top'], { as: 'olivia' });
    expectExit(notHex, 2);
    expect(notHex.stderr).toContain('is not a request id');
  });

  it('session show and recordings show tell what the access was approved for; export -o - writes to stdout', async () => {
    await login('ada', 'ada-password-123');
    const cfg = join(sb.home('alice'), 'ssh_config');
    const ssh = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn('ssh', ['-v', '-F', cfg, '-o', 'BatchMode=yes', 'vault', 'echo hello-from-vault'], { env: { PATH: process.env['PATH'], HOME: sb.root } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) => resolve({ code, out, err }));
    });
    expect(ssh).toMatchObject({ code: 0, out: 'hello-from-vault\n' });
    // The ssh_config pins the fast cipher: stock OpenSSH would pick aes128-ctr here.
    expect(ssh.err).toContain('cipher: aes128-gcm@openssh.com');

    const sessions = await waitFor(
      async () => {
        const list = parseJson<Array<{ id: string; status: string; targetName: string }>>(await sb.run(['--json', 'session', 'list'], { as: 'ada' }));
        return list.find((s) => s.targetName === 'vault' && s.status !== 'active');
      },
      { timeoutMs: 20_000, message: 'the vault session to end' },
    );
    sessionId = sessions.id;
    const show = await sb.run(['session', 'show', sessionId.slice(0, 8)], { as: 'ada' });
    expectExit(show, 0);
    expect(show.stdout).not.toMatch(/^\s*\{/); // text, not raw JSON
    expect(show.stdout).toContain(`break-glass request ${requestId} (approved)`);
    expect(show.stdout).toContain('restart the stuck backup job');
    expect(show.stdout).toMatch(/approved by: +olivia at .* \("go ahead"\)/);
    expect(show.stdout).toMatch(/exec: echo hello-from-vault/);

    const recordings = await waitFor(
      async () => parseJson<Array<{ id: string; sessionId: string }>>(await sb.run(['--json', 'recordings', 'list', '--since', '1h'], { as: 'ada' })).find((r) => r.sessionId === sessionId),
      { timeoutMs: 20_000, message: 'the recording' },
    );
    recordingId = recordings.id;
    const rec = await sb.run(['recordings', 'show', recordingId.slice(0, 6)], { as: 'ada' });
    expectExit(rec, 0);
    expect(rec.stdout).toContain(`break-glass request ${requestId}`);
    expect(rec.stdout).toContain('restart the stuck backup job');

    const exported = await sb.run(['recordings', 'export', recordingId.slice(0, 8), '-o', '-'], { as: 'ada' });
    expectExit(exported, 0);
    expect(exported.stdout.startsWith('{"version":2')).toBe(true);
    expect(exported.stdout).toContain('hello-from-vault');
    expect(readdirSync(sb.root)).not.toContain('-');

    // --raw: the stored recording byte for byte, in airlock's format.
    const rawPath = join(sb.root, 'vault.alr');
    expectExit(await sb.run(['recordings', 'export', recordingId.slice(0, 8), '--raw', '-o', rawPath], { as: 'ada' }), 0);
    const raw = readFileSync(rawPath);
    expect(raw.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x41, 0x4c, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(raw.includes('hello-from-vault')).toBe(true);
    expect(readdirSync(sb.root).filter((f) => f.includes('.part-'))).toEqual([]);

    // --evidence: a tar any tar reads, whose manifest hashes every file in it.
    const tarPath = join(sb.root, 'evidence.tar');
    expectExit(await sb.run(['recordings', 'export', recordingId, '--evidence', '-o', tarPath], { as: 'ada' }), 0);
    const out = join(sb.root, 'evidence');
    mkdirSync(out);
    execFileSync('tar', ['-xf', tarPath, '-C', out]);
    const manifest = JSON.parse(readFileSync(join(out, 'MANIFEST.json'), 'utf8')) as { format: string; verified: boolean; files: Array<{ name: string; bytes: number; sha256: string }> };
    expect(manifest).toMatchObject({ format: 'airlock-v1', verified: true });
    expect(manifest.files.map((f) => f.name)).toEqual([
      `${recordingId}.alr`,
      `${recordingId}.alr.chain`,
      `${recordingId}.export.cast`,
      'recording-key.pem',
      'recording.json',
      'session.json',
      'verification.json',
    ]);
    for (const f of manifest.files) {
      const bytes = readFileSync(join(out, f.name));
      expect({ name: f.name, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual(f);
    }
    expect(readFileSync(join(out, `${recordingId}.alr`)).equals(raw)).toBe(true);
    expect(execFileSync('script', ['-qec', `asciinema cat ${join(out, `${recordingId}.export.cast`)}`, '/dev/null'], { encoding: 'utf8' })).toContain('hello-from-vault');
    // An engineer may not export evidence.
    const denied = await sb.run(['recordings', 'export', recordingId, '--evidence', '-o', join(sb.root, 'no.tar')], { as: 'alice' });
    expect(denied.code).not.toBe(0);
    expect(readdirSync(sb.root).filter((f) => f.startsWith('no.tar'))).toEqual([]);
  });

  it('--since takes durations and dates, and says what it takes when it cannot read one', async () => {
    expectExit(await sb.run(['recordings', 'list', '--since', '2d'], { as: 'ada' }), 0);
    expectExit(await sb.run(['recordings', 'list', '--since', '2026-01-01', '--until', 'now'], { as: 'ada' }), 0);
    const bad = await sb.run(['recordings', 'search', 'echo', '--since', 'last tuesday'], { as: 'ada' });
    expectExit(bad, 2);
    expect(bad.stderr).toContain('"last tuesday" is not a time: use an ISO date or time');
    expect(bad.stderr).not.toContain('Invalid input');
  });

  it("requests revoke prints the revoke's comment", async () => {
    const r = await sb.run(['requests', 'revoke', requestId.slice(0, 8), '--comment', 'done for today'], { as: 'olivia' });
    expectExit(r, 0);
    expect(r.stdout).toMatch(/^ {2}revoked by olivia at \S+: done for today$/m);
    expect(r.stdout).not.toMatch(/revoked by .*go ahead/);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `airlock serve` with its stdout on a terminal, through util-linux `script`. */
function serveOnTerminal(sb: CliSandbox): { child: ChildProcess; output: () => string } {
  const env = { ...baseEnv(), ...sb.env, AIRLOCK_LOG_LEVEL: 'info', AIRLOCK_HOME: sb.home('tty') };
  const child = spawn('script', ['-qfec', `${process.execPath} ${CLI_PATH} serve`, '/dev/null'], { env, cwd: sb.root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

describe('logs', () => {
  let sb: CliSandbox;
  beforeAll(async () => {
    sb = await createCliSandbox('pglite');
    expectExit(await sb.run(['init', '--password-stdin'], { input: 'admin-password-123' }), 0);
  });
  afterAll(() => sb?.cleanup());

  it('are one readable line each when stdout is a terminal', async () => {
    const tty = serveOnTerminal(sb);
    try {
      // "airlock serving" comes last: by then SIGTERM stops it cleanly.
      const out = await waitFor(() => (/airlock serving:/.test(tty.output()) ? tty.output() : ''), { timeoutMs: 60_000, message: 'the ready line' });
      const line = out.split(/\r?\n/).find((l) => l.includes('web API listening')) as string;
      expect(line).toMatch(/^\S*\d\d:\d\d:\d\d.*INFO.*web API listening/);
      expect(out).not.toMatch(/\{"level":/);
    } finally {
      // script runs airlock in a session of its own: stop airlock itself (its pid is in the
      // embedded database's lock file) and wait until it has exited; then script goes with it.
      const lock = join(sb.dataDir, 'db', 'airlock.lock');
      const pid = Number(readFileSync(lock, 'utf8'));
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !alive(pid), { timeoutMs: 30_000, message: 'the terminal server to exit' }).catch((err: Error) => {
        throw new Error(`${err.message}; it printed:\n${tty.output()}`);
      });
      tty.child.kill('SIGTERM');
    }
  });

  it('are JSON lines otherwise', async () => {
    const server = await startServe({ env: { ...sb.env, AIRLOCK_LOG_LEVEL: 'info', AIRLOCK_HOME: sb.home('plain') }, cwd: sb.root });
    await server.stop();
    const lines = server.stderr().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
  });
});

describe('the demo', () => {
  let sb: CliSandbox;
  afterAll(() => sb?.cleanup());

  /** `airlock demo` in text mode until it has printed its instructions. */
  async function demo(): Promise<{ text: string; stop(): Promise<void> }> {
    const env = { ...baseEnv(), ...sb.env, AIRLOCK_LOG_LEVEL: 'warn' };
    const child = spawn(process.execPath, [CLI_PATH, 'demo'], { env, cwd: sb.root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const text = await waitFor(() => (out.includes('Stop with Ctrl-C') ? out : ''), { timeoutMs: 90_000, message: 'the demo instructions' });
    return {
      text,
      stop: async () => {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('close', r));
      },
    };
  }

  it('gives each role its own AIRLOCK_HOME, says what the target is, and an alias by absolute path', async () => {
    sb = await createCliSandbox('pglite');
    const d = await demo();
    try {
      const homes = [...d.text.matchAll(/AIRLOCK_HOME=(\S+)/g)].map((m) => m[1] as string);
      expect(new Set(homes).size).toBe(homes.length);
      expect(homes.map((h) => h.split('/').pop())).toEqual(['olivia', 'admin', 'ada']);
      expect(d.text).toMatch(/The demo target is THIS machine: a session on it is a real shell here as "\S+"/);
      const alias = /alias airlock='node --no-memory-reducer (\S+)'/.exec(d.text);
      expect(alias?.[1]).toBe(CLI_PATH);
      expect(d.text).not.toContain('npx airlock');
      expect(d.text).toMatch(QR);
      expect(d.text).toContain('"vault" is sensitive: access needs one approver');
    } finally {
      await d.stop();
    }
  });

  it('describes vault as it is after an admin made it critical', async () => {
    const creds = JSON.parse(readFileSync(join(sb.dataDir, 'demo-credentials.json'), 'utf8')) as Array<{ name: string; password: string; totpSecret: string }>;
    const admin = creds.find((c) => c.name === 'admin')!;
    const first = await demo();
    try {
      const url = /web: (http:\/\/\S+)/.exec(first.text)?.[1] as string;
      const env = { AIRLOCK_URL: url };
      expectExit(await sb.run(['login', '--user', 'admin', '--password-stdin', '--totp', oathtool(admin.totpSecret)], { as: 'demo-admin', input: admin.password, env }), 0);
      expectExit(await sb.run(['target', 'update', 'vault', '--sensitivity', 'critical'], { as: 'demo-admin', env }), 0);
    } finally {
      await first.stop();
    }
    const again = await demo();
    try {
      expect(again.text).toContain('"vault" is critical: access needs two different approvers (olivia and oscar) and a ticket');
      expect(again.text).toMatch(/vault +critical/);
    } finally {
      await again.stop();
    }
  });
});
