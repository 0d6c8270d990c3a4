import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

/**
 * Real OpenSSH servers on loopback for the benchmark: the target, and a second
 * one as the bastion users would otherwise jump through. Each has its own
 * config, host key and authorized keys in the bench's temporary directory, and
 * runs sessions as a dedicated unprivileged user with a clean shell (root's shell
 * start-up is slow on these machines, see ../shared/NOTES.md). The same approach
 * as test/helpers/sshd.ts, kept separate so the bench does not depend on test/.
 */
export const BENCH_USER = 'airlocktgt';

export interface Sshd {
  name: string;
  port: number;
  /** "ssh-ed25519 AAAA…" */
  hostKey: string;
  login: string;
  pid: number;
  log(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The unprivileged user sessions run as: created once when we are root, else ourselves. */
export function ensureBenchUser(): string {
  if (process.getuid?.() !== 0) return process.env['USER'] ?? execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  try {
    execFileSync('id', [BENCH_USER], { stdio: 'ignore' });
  } catch {
    try {
      // Password "*": no password login, but not "locked" (sshd without PAM refuses locked accounts).
      execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', '--password', '*', BENCH_USER], { stdio: 'ignore' });
    } catch {
      execFileSync('id', [BENCH_USER], { stdio: 'ignore' }); // created meanwhile by a test run
    }
  }
  return BENCH_USER;
}

export interface KeyPair {
  path: string;
  privateKey: string;
  /** "ssh-ed25519 AAAA… comment" */
  publicKey: string;
}

export function keygen(path: string, comment = 'airlock-bench'): KeyPair {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: 'ignore' });
  return { path, privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(path + '.pub', 'utf8').trim() };
}

export async function startSshd(dir: string, name: string, authorizedKeys: string[]): Promise<Sshd> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // sshd reads authorized_keys as the session user
  const login = ensureBenchUser();
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  keygen(join(dir, 'host_key'), `${name}-host`);
  writeFileSync(join(dir, 'authorized_keys'), authorizedKeys.join('\n') + '\n', { mode: 0o644 });
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    // The bastion must let its users open direct-tcpip channels (ssh -W).
    'AllowTcpForwarding yes',
    'X11Forwarding no',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'LogLevel ERROR',
    // Many sessions at once (the concurrent-sessions figure): no early drops.
    'MaxStartups 2000',
    'MaxSessions 100',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), config + '\n');
  // -e: log to stderr; -D: stay in the foreground so we own the process.
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-64 * 1024);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // With LogLevel ERROR sshd prints nothing when it is ready: wait until it accepts.
  await waitForPort(port, 10_000, () => `sshd ${name} did not start:\n${log}`);
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    name,
    port,
    hostKey,
    login,
    pid: child.pid as number,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

async function waitForPort(port: number, timeoutMs: number, message: () => string): Promise<void> {
  const start = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - start > timeoutMs) throw new Error(message());
    await new Promise((r) => setTimeout(r, 50));
  }
}
