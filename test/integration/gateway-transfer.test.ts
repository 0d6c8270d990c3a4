import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALICE_PASSWORD, startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { freePort } from '../helpers/sshd.js';
import type { SshResult } from '../helpers/ssh-client.js';

/**
 * File transfer (sftp, scp over SFTP) and port forwarding through airlock with the
 * real OpenSSH binaries: refused unless the grant allows them, every refusal
 * audited, and when allowed the bytes arrive intact and each file operation is
 * logged to the session row.
 */
interface FileOp {
  op: string;
  path: string;
  path2?: string;
  bytes?: number;
  ok?: boolean;
}

/** ssh arguments for sftp/scp, which spell the port -P. */
const fileArgs = (g: GatewayHarness) => g.ssh.baseArgs().map((a) => (a === '-p' ? '-P' : a));
const creds = (g: GatewayHarness) => ({ password: ALICE_PASSWORD, totp: g.totp(g.alice.totp.secret) });

function sftp(g: GatewayHarness, commands: string[]): Promise<SshResult> {
  return g.ssh.spawn('sftp', [...fileArgs(g), 'alice@t1@127.0.0.1'], { ...creds(g), input: commands.join('\n') + '\n' });
}

function scp(g: GatewayHarness, from: string, to: string): Promise<SshResult> {
  return g.ssh.spawn('scp', [...fileArgs(g), '-q', from, to], creds(g));
}

/** The newest session row, once completed. */
async function lastSession(g: GatewayHarness): Promise<{ file_ops: FileOp[]; channels: Array<{ kind: string; detail?: string }>; status: string }> {
  let row: { ended_at: Date | null; file_ops: FileOp[]; channels: Array<{ kind: string }>; status: string } | undefined;
  await expect
    .poll(async () => {
      row = (await g.services.db.query<NonNullable<typeof row>>('SELECT * FROM sessions ORDER BY started_at DESC LIMIT 1')).rows[0];
      return row?.ended_at;
    }, { timeout: 10_000 })
    .toBeTruthy();
  return row as NonNullable<typeof row>;
}

async function auditSince(g: GatewayHarness, seq: number, action: string) {
  return (await g.services.audit.list({ afterSeq: seq, limit: 1000 })).filter((e) => e.action === action);
}
const headSeq = async (g: GatewayHarness) => (await g.services.audit.list({ newest: true, limit: 1 }))[0]?.seq ?? 0;

/** ssh with a local forward, kept running; resolves once ssh says the local port listens. */
async function forwardLocal(g: GatewayHarness, destPort: number): Promise<{ port: number; child: ChildProcess; stderr: () => string }> {
  const port = await freePort();
  const child = spawn('ssh', [...g.ssh.baseArgs(), '-v', '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${port}:127.0.0.1:${destPort}`, 'alice@t1@127.0.0.1'], {
    env: g.ssh.env(creds(g)),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await expect.poll(() => err, { timeout: 15_000, interval: 100 }).toContain(`Local forwarding listening on 127.0.0.1 port ${port}`);
  return { port, child, stderr: () => err };
}

/** Sends a line through a local port; resolves with what came back before the socket closed (or 3 s). */
function exchange(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = createConnection({ host: '127.0.0.1', port }, () => s.write(line));
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    // Not a sleep: the most this waits for the service's line before giving up.
    const timer = setTimeout(done, 3000);
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\n')) done();
    });
    s.on('close', done);
    s.on('error', done);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

describe('file transfer and forwarding through the gateway', () => {
  let echo: Server;
  let echoPort: number;
  let local: string;
  let remote: string;

  beforeAll(async () => {
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
    local = mkdtempSync(join(tmpdir(), 'airlock-local-'));
    // The target user writes here; the test (root) checks what arrived.
    remote = mkdtempSync(join(tmpdir(), 'airlock-remote-'));
    chmodSync(remote, 0o777);
  });
  afterAll(async () => {
    await new Promise((r) => echo.close(r));
    rmSync(local, { recursive: true, force: true });
    rmSync(remote, { recursive: true, force: true });
  });

  describe('with a default grant (no file transfer, no forwarding)', () => {
    let g: GatewayHarness;
    beforeAll(async () => {
      g = await startGateway('pglite');
    });
    afterAll(async () => {
      await g?.stop();
    });

    it('refuses sftp and scp, writes nothing, and audits the refusal', async () => {
      writeFileSync(join(local, 'no.txt'), 'must not arrive\n');
      const seq = await headSeq(g);
      const s = await sftp(g, [`put ${join(local, 'no.txt')} ${remote}/no-sftp.txt`]);
      expect(s.code).not.toBe(0);
      expect(s.stderr).toContain('airlock: file transfer (SFTP) is not allowed by your grant');
      const c = await scp(g, join(local, 'no.txt'), `alice@t1@127.0.0.1:${remote}/no-scp.txt`);
      expect(c.code).not.toBe(0);
      expect(c.stderr).toContain('airlock: file transfer (SFTP) is not allowed by your grant');
      expect(existsSync(join(remote, 'no-sftp.txt')) || existsSync(join(remote, 'no-scp.txt'))).toBe(false);
      await expect.poll(async () => (await auditSince(g, seq, 'session.forward.refused')).map((e) => e.details['kind'])).toEqual(['sftp', 'sftp']);
    });

    it('refuses the legacy scp protocol (scp -O) and rsync too, not only SFTP', async () => {
      writeFileSync(join(local, 'legacy.txt'), 'must not arrive\n');
      const seq = await headSeq(g);
      const c = await g.ssh.spawn('scp', [...fileArgs(g), '-q', '-O', join(local, 'legacy.txt'), `alice@t1@127.0.0.1:${remote}/no-legacy.txt`], creds(g));
      expect(c.code).not.toBe(0);
      expect(c.stderr).toContain('airlock: file transfer (scp) is not allowed by your grant');
      const r = await g.asAlice('alice@t1', ['rsync', '--server', '-e.LsfxC', '.', `${remote}/no-rsync.txt`]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('airlock: file transfer (rsync) is not allowed by your grant');
      expect(existsSync(join(remote, 'no-legacy.txt')) || existsSync(join(remote, 'no-rsync.txt'))).toBe(false);
      // An ordinary command still runs.
      expect((await g.asAlice('alice@t1', ['echo', 'scp', '-t'])).stdout.toString()).toBe('scp -t\n');
      await expect.poll(async () => (await auditSince(g, seq, 'session.forward.refused')).map((e) => e.details['kind'])).toEqual(['scp', 'rsync']);
    });

    it('refuses SFTP run as an exec command, however the command line is disguised', async () => {
      writeFileSync(join(local, 'exec-sftp.txt'), 'must not arrive\n');
      const seq = await headSeq(g);
      // `sftp -D PROGRAM` speaks SFTP over PROGRAM's stdin and stdout: here, ssh running a command.
      const viaExec = async (remoteCommand: string) => {
        const wrapper = join(local, `sftp-over-ssh-${Math.random().toString(36).slice(2)}.sh`);
        const quoted = [...g.ssh.baseArgs(), 'alice@t1@127.0.0.1', remoteCommand].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
        writeFileSync(wrapper, `#!/bin/sh\nexec ssh ${quoted}\n`, { mode: 0o755 });
        return g.ssh.spawn('sftp', ['-D', wrapper], { ...creds(g), input: `put ${join(local, 'exec-sftp.txt')} ${remote}/exec-sftp.txt\n` });
      };
      // A wrapper the command check sees through …
      const plain = await viaExec('env /usr/lib/openssh/sftp-server');
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain('airlock: file transfer (sftp) is not allowed by your grant');
      // … and one it cannot: the protocol itself gives it away.
      const disguised = await viaExec('sh -c "exec $(printf /usr/lib/openssh/sftp-)server"');
      expect(disguised.code).not.toBe(0);
      expect(disguised.stderr).toContain('airlock: file transfer (SFTP) is not allowed by your grant');
      expect(existsSync(join(remote, 'exec-sftp.txt'))).toBe(false);
      await expect
        .poll(async () => (await auditSince(g, seq, 'session.forward.refused')).map((e) => [e.details['kind'], e.details['via'] ?? null]))
        .toEqual([
          ['sftp', null],
          ['sftp', 'exec'],
        ]);
      // Text on stdin is not mistaken for it.
      const text = await g.asAlice('alice@t1', ['cat'], { input: 'plain text on stdin\n' });
      expect(text.stdout.toString()).toBe('plain text on stdin\n');
      const binary = await g.asAlice('alice@t1', ['wc -c'], { input: Buffer.from([0, 0, 0, 5, 2, 0, 0, 0, 3, 9]) });
      expect(binary.stdout.toString().trim()).toBe('10');
    });

    it('refuses a local forward (ssh -L) and audits it with the destination', async () => {
      const seq = await headSeq(g);
      const fwd = await forwardLocal(g, echoPort);
      try {
        expect(await exchange(fwd.port, 'ping\n')).toBe('');
      } finally {
        await stop(fwd.child);
      }
      expect(fwd.stderr()).toMatch(/channel \d+: open failed/);
      const refused = await auditSince(g, seq, 'session.forward.refused');
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ actor: 'alice', source: '127.0.0.1', details: { kind: 'direct-tcpip', dest: `127.0.0.1:${echoPort}` } });
    });

    it('refuses a remote forward (ssh -R) and stdio forwarding (ssh -W)', async () => {
      const seq = await headSeq(g);
      const r = await g.ssh.run('alice@t1', [], { ...creds(g), sshArgs: ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${echoPort}`] });
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/remote port forwarding failed/);
      const w = await g.ssh.run('alice@t1', [], { ...creds(g), input: 'ping\n', sshArgs: ['-W', `127.0.0.1:${echoPort}`] });
      expect(w.code).toBe(255);
      expect(w.stdout.toString()).toBe('');
      await expect
        .poll(async () => (await auditSince(g, seq, 'session.forward.refused')).map((e) => e.details['kind']))
        .toEqual(['tcpip-forward', 'direct-tcpip']);
    });

    it('refuses agent forwarding: no agent socket at the target, and audited', async () => {
      const agentSock = join(local, 'agent.sock');
      const agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
      try {
        await expect.poll(() => existsSync(agentSock)).toBe(true);
        const seq = await headSeq(g);
        // The base arguments switch the agent off (IdentityAgent=none): drop that pair here.
        const base = g.ssh.baseArgs();
        const at = base.indexOf('IdentityAgent=none');
        base.splice(at - 1, 2);
        const args = [...base, '-v', '-o', 'ForwardAgent=yes', 'alice@t1@127.0.0.1', 'echo "sock=${SSH_AUTH_SOCK:-none}"'];
        const r = await g.ssh.spawn('sh', ['-c', 'SSH_AUTH_SOCK="$0" exec ssh "$@"', agentSock, ...args], creds(g));
        expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
        expect(r.stdout.toString()).toBe('sock=none\n');
        expect(r.stderr).toContain('Requesting authentication agent forwarding');
        await expect.poll(async () => (await auditSince(g, seq, 'session.forward.refused')).map((e) => e.details['kind'])).toEqual(['agent-forwarding']);
      } finally {
        await stop(agent);
      }
    });
  });

  describe('with a grant that allows file transfer and forwarding', () => {
    let g: GatewayHarness;
    beforeAll(async () => {
      g = await startGateway('pglite', { grant: { allowSftp: true, allowForwarding: true } });
    });
    afterAll(async () => {
      await g?.stop();
    });

    it('sftp puts and gets files byte for byte, and logs each operation with path and bytes', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      writeFileSync(join(local, 'up.bin'), data);
      const r = await sftp(g, [
        `mkdir ${remote}/d`,
        `put ${join(local, 'up.bin')} ${remote}/d/up.bin`,
        `get ${remote}/d/up.bin ${join(local, 'down.bin')}`,
        `rename ${remote}/d/up.bin ${remote}/d/moved.bin`,
        `rm ${remote}/d/moved.bin`,
      ]);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
      expect(readFileSync(join(local, 'down.bin')).equals(data)).toBe(true);
      expect(existsSync(join(remote, 'd', 'moved.bin'))).toBe(false);
      const row = await lastSession(g);
      expect(row.channels.map((c) => c.kind)).toEqual(['sftp']);
      const ops = row.file_ops.map(({ op, path, path2, bytes, ok }) => ({ op, path, ...(path2 ? { path2 } : {}), ...(bytes !== undefined ? { bytes } : {}), ok }));
      expect(ops).toEqual([
        { op: 'mkdir', path: `${remote}/d`, ok: true },
        { op: 'write', path: `${remote}/d/up.bin`, bytes: data.length, ok: true },
        { op: 'read', path: `${remote}/d/up.bin`, bytes: data.length, ok: true },
        { op: 'rename', path: `${remote}/d/up.bin`, path2: `${remote}/d/moved.bin`, ok: true },
        { op: 'remove', path: `${remote}/d/moved.bin`, ok: true },
      ]);
    });

    it('scp (over SFTP) copies both ways and is logged', async () => {
      const data = randomBytes(200_000);
      writeFileSync(join(local, 'scp-up.bin'), data);
      const up = await scp(g, join(local, 'scp-up.bin'), `alice@t1@127.0.0.1:${remote}/scp.bin`);
      expect({ code: up.code, stderr: up.stderr }).toMatchObject({ code: 0 });
      expect(readFileSync(join(remote, 'scp.bin')).equals(data)).toBe(true);
      const sha256 = createHash('sha256').update(data).digest('hex');
      // Each file's SHA-256 is logged, so the log proves what moved, not only how much.
      expect((await lastSession(g)).file_ops).toEqual([expect.objectContaining({ op: 'write', path: `${remote}/scp.bin`, bytes: data.length, sha256, ok: true })]);
      const down = await scp(g, `alice@t1@127.0.0.1:${remote}/scp.bin`, join(local, 'scp-down.bin'));
      expect({ code: down.code, stderr: down.stderr }).toMatchObject({ code: 0 });
      expect(readFileSync(join(local, 'scp-down.bin')).equals(data)).toBe(true);
      expect((await lastSession(g)).file_ops).toEqual([expect.objectContaining({ op: 'read', path: `${remote}/scp.bin`, bytes: data.length, sha256, ok: true })]);
    });

    it('forwards ssh -L to a TCP service and records the channel', async () => {
      const fwd = await forwardLocal(g, echoPort);
      try {
        expect(await exchange(fwd.port, 'ping through airlock\n')).toBe('ping through airlock\n');
        expect(await exchange(fwd.port, 'second connection\n')).toBe('second connection\n');
      } finally {
        await stop(fwd.child);
      }
      const row = await lastSession(g);
      expect(row.channels).toEqual([
        expect.objectContaining({ kind: 'direct-tcpip', detail: `127.0.0.1:${echoPort}` }),
        expect.objectContaining({ kind: 'direct-tcpip', detail: `127.0.0.1:${echoPort}` }),
      ]);
    });

    it('forwards ssh -R from the target back to the engineer', async () => {
      const child = spawn('ssh', [...g.ssh.baseArgs(), '-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echoPort}`, 'alice@t1@127.0.0.1'], {
        env: g.ssh.env(creds(g)),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      try {
        await expect.poll(() => err, { timeout: 15_000 }).toMatch(/Allocated port \d+ for remote forward/);
        // The target (sshd on this machine) listens on that port; a connection there comes back to the engineer.
        const port = Number(/Allocated port (\d+)/.exec(err)?.[1]);
        expect(await exchange(port, 'reverse\n')).toBe('reverse\n');
      } finally {
        await stop(child);
      }
      expect((await lastSession(g)).channels).toEqual([expect.objectContaining({ kind: 'forwarded-tcpip' })]);
    });

    it('forwards stdio with ssh -W', async () => {
      const w = await g.ssh.run('alice@t1', [], { ...creds(g), input: 'over stdio\n', sshArgs: ['-W', `127.0.0.1:${echoPort}`] });
      expect(w.stdout.toString()).toBe('over stdio\n');
    });
  });
});
