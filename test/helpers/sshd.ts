import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { freePort, startLoopbackSshd } from '../../server/loopback-sshd.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real OpenSSH sshd as a test target: its own config, host key and authorized
 * key in a temporary directory, on a free loopback port, stopped by the test.
 * Sessions run as a dedicated unprivileged user with a clean shell (root's shell
 * start-up is slow on these machines, see NOTES.md), created once if missing.
 */
export const TARGET_USER = 'airlocktgt';

export interface Sshd {
  port: number;
  dir: string;
  /** "ssh-ed25519 AAAA…" as the target presents it. */
  hostKey: string;
  /** The private key airlock logs in with (injected credential). */
  clientKey: string;
  login: string;
  log(): string;
  stop(): Promise<void>;
}

export { freePort };

export function ensureTargetUser(): string {
  if (process.getuid?.() !== 0) return process.env['USER'] ?? 'root';
  try {
    execFileSync('id', [TARGET_USER], { stdio: 'ignore' });
  } catch {
    try {
      // Password "*": no password login, but not "locked" (sshd without PAM refuses
      // locked accounts even for public keys).
      execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', '--password', '*', TARGET_USER], { stdio: 'ignore' });
    } catch {
      // Another test worker created it meanwhile.
      execFileSync('id', [TARGET_USER], { stdio: 'ignore' });
    }
  }
  return TARGET_USER;
}

export function keygen(path: string, type = 'ed25519'): { privateKey: string; publicKey: string } {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'airlock-test', '-f', path], { stdio: 'ignore' });
  return { privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(path + '.pub', 'utf8').trim() };
}

export async function startSshd(options: { extraConfig?: string; hostKeyType?: string } = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-sshd-'));
  chmodSync(dir, 0o755); // sshd reads authorized_keys as the target user
  const login = ensureTargetUser();
  const type = options.hostKeyType ?? 'ed25519';
  keygen(join(dir, 'host_key'), type);
  const client = keygen(join(dir, 'client_key'));
  writeFileSync(join(dir, 'authorized_keys'), client.publicKey + '\n', { mode: 0o644 });
  const server = await startLoopbackSshd({
    dir,
    // The caller's lines first: sshd keeps the first value of a keyword, so they win over these (no Match blocks).
    extraConfig: [...(options.extraConfig ? [options.extraConfig] : []), 'AcceptEnv LANG LC_*', 'LogLevel VERBOSE', 'MaxStartups 200', 'MaxSessions 100'],
  });
  const hostKeyLine = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    port: server.port,
    dir,
    hostKey: hostKeyLine,
    clientKey: client.privateKey,
    login,
    log: server.log,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
