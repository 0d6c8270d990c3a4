import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startLoopbackSshd } from '../server/index.js';

/**
 * Real OpenSSH servers on loopback for the benchmark: the target, and a second
 * one as the bastion users would otherwise jump through. Each has its own
 * config, host key and authorized keys in the bench's temporary directory, and
 * runs sessions as a dedicated unprivileged user with a clean shell (root's shell
 * start-up is slow on these machines, see ../shared/NOTES.md). The same approach
 * as test/helpers/sshd.ts; both start sshd through cli/loopback-sshd.ts.
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

export { freePort };

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
  keygen(join(dir, 'host_key'), `${name}-host`);
  writeFileSync(join(dir, 'authorized_keys'), authorizedKeys.join('\n') + '\n', { mode: 0o644 });
  const server = await startLoopbackSshd({
    dir,
    extraConfig: [
      'UseDNS no',
      'LogLevel ERROR',
      // Many sessions at once (the concurrent-sessions figure): no early drops.
      'MaxStartups 2000',
      'MaxSessions 100',
    ],
  });
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    name,
    port: server.port,
    hostKey,
    login,
    pid: server.child.pid as number,
    log: server.log,
    stop: () => server.stop(),
  };
}
