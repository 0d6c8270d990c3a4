import { describe, it, expect, afterEach } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCliSandbox, oathtool, parseJson } from '../helpers/cli.js';
import type { CliSandbox } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { SshClient } from '../helpers/ssh-client.js';
import { startSshd } from '../helpers/sshd.js';
import { waitFor } from '../helpers/wait.js';
import type { Sshd } from '../helpers/sshd.js';

/** The promises that hold when things go wrong: crash, full disk, huge output. */
describe('recording when things go wrong', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('keeps a recording through kill -9 of the server: marked interrupted, verifies to its last checkpoint', async () => {
    const sb: CliSandbox = await createCliSandbox('pglite');
    cleanups.push(() => sb.cleanup());
    const sshd: Sshd = await startSshd();
    cleanups.push(() => sshd.stop());

    const init = parseJson<{ password: string; totp: { secret: string } }>(await sb.run(['init', '--json']));
    writeFileSync(join(sb.dataDir, 'airlock.yaml'), 'recordings:\n  checkpointInterval: 1s\n');
    let server = await sb.serve();
    const ready = JSON.parse(server.stdout()) as { ssh: string };
    const sshPort = Number(ready.ssh.split(':').pop());
    expect((await sb.run(['login', '--user', 'admin', '--password-stdin', '--totp', oathtool(init.totp.secret), '--no-ssh'], { input: init.password })).code).toBe(0);
    const keyFile = join(sb.root, 'target_key');
    writeFileSync(keyFile, sshd.clientKey, { mode: 0o600 });
    const added = await sb.run(['target', 'add', 't1', '--host', '127.0.0.1', '--port', String(sshd.port), '--login', sshd.login, '--key-file', keyFile, '--host-key', sshd.hostKey]);
    expect(added.code, added.stderr).toBe(0);
    const alice = parseJson<{ totp: { secret: string } }>(await sb.run(['user', 'add', 'alice', '--role', 'engineer', '--password-stdin', '--json'], { input: 'alice-crash-test-pw' }));
    expect((await sb.run(['grant', 'add', '--user', 'alice', '--target', 't1'])).code).toBe(0);

    const hostKey = readFileSync(join(sb.dataDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim();
    const client = new SshClient(sshPort, hostKey);
    cleanups.push(() => client.cleanup());
    const session = client.run('alice@t1', ['for i in $(seq 1 80); do echo line-$i; sleep 0.1; done'], {
      password: 'alice-crash-test-pw',
      totp: oathtool(alice.totp.secret),
      timeoutMs: 30_000,
    });
    // Let it run past a few checkpoints (their lines in the chain file on disk), then kill the server outright.
    const checkpoints = () => {
      const chain = readdirSync(join(sb.dataDir, 'recordings'), { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('.alr.chain'));
      return chain ? (readFileSync(join(sb.dataDir, 'recordings', chain), 'utf8').match(/"t":"checkpoint"/g) ?? []).length : 0;
    };
    await waitFor(() => checkpoints() >= 3, { timeoutMs: 20_000, message: 'three signed checkpoints on disk' });
    process.kill(server.pid, 'SIGKILL');
    const r = await session;
    expect(r.code).not.toBe(0);
    expect(r.stdout.toString()).toContain('line-10');
    await sb.stopServer();

    server = await sb.serve();
    const listed = await sb.run(['recordings', 'list', '--json']);
    const list = parseJson<Array<{ id: string; status: string; length: number | null }>>(listed);
    expect(listed.code, listed.stdout + listed.stderr).toBe(0);
    expect(list).toHaveLength(1);
    expect(list[0]!.status).toBe('interrupted');
    const verify = await sb.run(['recordings', 'verify', list[0]!.id, '--json']);
    const out = parseJson<{ report: { ok: boolean; final: boolean; verifiedLength: number; checkpoints: number; summary: string } }>(verify);
    expect(verify.code).toBe(0);
    expect(out.report.ok).toBe(true);
    expect(out.report.final).toBe(false);
    expect(out.report.checkpoints).toBeGreaterThanOrEqual(2);
    expect(out.report.verifiedLength).toBeGreaterThan(100);
    expect(out.report.summary).toMatch(/interrupted: signed and intact up to byte \d+/);

    // Cut back, file and chain alike, to the first checkpoint: consistent on its own,
    // but the database saw a later checkpoint on disk while the recording was open.
    const rel = readdirSync(join(sb.dataDir, 'recordings'), { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('.alr')) as string;
    const path = join(sb.dataDir, 'recordings', rel);
    const lines = readFileSync(path + '.chain', 'utf8').split('\n');
    const first = lines.findIndex((l) => l.includes('"t":"checkpoint"'));
    const firstLength = (JSON.parse(lines[first] as string) as { body: { length: number } }).body.length;
    writeFileSync(path + '.chain', lines.slice(0, first + 1).join('\n') + '\n');
    truncateSync(path, firstLength);
    const cut = await sb.run(['recordings', 'verify', list[0]!.id, '--json']);
    const cutOut = parseJson<{ report: { ok: boolean; problems: Array<{ kind: string; expected: number; actual: number }>; summary: string } }>(cut);
    expect(cut.code).toBe(7);
    expect(cutOut.report.problems).toEqual([{ kind: 'cut_back', expected: expect.any(Number), actual: firstLength }]);
    expect(cutOut.report.problems[0]!.expected).toBeGreaterThan(firstLength);
    expect(cutOut.report.summary).toContain('the file was cut back');
    const sessions = parseJson<Array<{ status: string }>>(await sb.run(['session', 'list', '--json']));
    expect(sessions[0]!.status).toBe('interrupted');
  }, 240_000);

  it('fails closed when the recording disk fills: the session ends, new ones are refused, /readyz says why, and it recovers', async () => {
    const mount = join('/tmp', `airlock-full-${process.pid}-${Date.now()}`);
    mkdirSync(mount, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
    cleanups.push(() => {
      execFileSync('umount', ['-l', mount]);
    });
    const g: GatewayHarness = await startGateway('pglite', { overrides: { 'recordings.dir': mount, 'recordings.checkpointInterval': '1s' } });
    cleanups.push(() => g.stop());
    // Anonymous /readyz says ready or not; the reason (with paths) is for admins at /api/v1/readiness.
    const ready = async () => (await fetch(`${g.server.web.url}/readyz`)).json() as Promise<{ status: string; reason?: string }>;
    const enrolled = await g.services.identity.users.add({ name: 'ops', role: 'admin', password: 'ops-password-123' }, { name: 'test' });
    const { token } = await g.services.identity.login({ name: 'ops', password: 'ops-password-123', totp: g.totp(enrolled.totp.secret) }, { channel: 'api' });
    const details = async () =>
      (await fetch(`${g.server.web.url}/api/v1/readiness`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<{
        status: string;
        checks: Record<string, { ok: boolean; message?: string }>;
      }>;
    expect((await ready()).status).toBe('ready');

    // Output that cannot all be recorded, then more work: the session must end
    // before the work finishes.
    const big = await g.asAlice('alice@t1', ['head -c 3000000 /dev/urandom | base64; sleep 5; echo finished-unrecorded'], { timeoutMs: 30_000 });
    expect(big.code).not.toBe(0);
    expect(big.stdout.toString()).not.toContain('finished-unrecorded');
    expect(big.stderr).toContain('airlock: could not write the recording of this session, so the session was ended');

    const outside = await ready();
    expect(outside).toEqual({ status: 'not ready', reason: 'a component airlock needs is unavailable' });
    expect(JSON.stringify(outside)).not.toContain(mount);
    const health = await details();
    expect(health.status).toBe('not ready');
    expect(health.checks['recordings']).toMatchObject({ ok: false });
    expect(health.checks['recordings']!.message).toMatch(/ENOSPC/);
    const refused = await g.asAlice('alice@t1', ['echo should-not-run']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout.toString()).not.toContain('should-not-run');
    expect(refused.stderr).toContain('cannot record');
    const audit = await g.services.audit.list({ action: 'recording.storage.failed' });
    expect(audit.length).toBeGreaterThan(0);

    execFileSync('mount', ['-o', 'remount,size=64m', mount]);
    await waitFor(() => g.services.recordings.healthy, { message: 'recording storage to recover' });
    expect((await ready()).status).toBe('ready');
    const ok = await g.asAlice('alice@t1', ['echo works-again']);
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toContain('works-again');
    expect((await g.services.audit.list({ action: 'recording.storage.recovered' })).length).toBe(1);
  }, 120_000);

  it('keeps server memory flat through a 200 MB output session', async () => {
    const g: GatewayHarness = await startGateway('pglite');
    cleanups.push(() => g.stop());
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    cleanups.push(() => clearInterval(sampler));
    // stdout goes to /dev/null in the ssh process: only airlock's memory is measured here.
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('ssh', [...g.ssh.baseArgs(), 'alice@t1@127.0.0.1', 'head -c 150000000 /dev/urandom | base64 -w 76'], {
        env: g.ssh.env({ password: 'alice-correct-horse-1', totp: g.totp(g.alice.totp.secret) }),
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      child.on('close', resolve);
    });
    clearInterval(sampler);
    expect(code).toBe(0);
    const [rec] = await g.services.recordings.list();
    expect(rec!.length ?? (await g.services.recordings.read(rec!)).length).toBeGreaterThan(200_000_000);
    const grownMiB = (peak - base) / 1024 / 1024;
    // Buffering the session would cost well over 400 MiB (bytes plus strings); a
    // bounded relay and recorder stay far below that.
    expect(grownMiB).toBeLessThan(160);
  }, 240_000);
});
