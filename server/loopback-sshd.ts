import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A real OpenSSH sshd on 127.0.0.1 with its own config, host key and authorized
 * keys in one directory: the demo's target, the tests' targets and the
 * benchmark's target and bastion all start one this way. The directory holds
 * `host_key` (the caller creates it) and `authorized_keys`; this writes
 * `sshd_config`, starts `sshd -D -e` and resolves once it accepts connections.
 */
export interface LoopbackSshd {
  child: ChildProcess;
  port: number;
  /** What sshd has logged so far (the last 256 KiB). */
  log(): string;
  stop(): Promise<void>;
}

export const SSHD_PATHS = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startLoopbackSshd(options: {
  dir: string;
  /** Lines after the common ones (LogLevel, MaxStartups, AcceptEnv …). */
  extraConfig?: string[];
  binary?: string;
  timeoutMs?: number;
}): Promise<LoopbackSshd> {
  const { dir } = options;
  const binary = options.binary ?? SSHD_PATHS.find((p) => existsSync(p)) ?? '/usr/sbin/sshd';
  // sshd's privilege separation directory, which only root's sshd needs.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
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
    'AllowTcpForwarding yes',
    'X11Forwarding no',
    'PrintMotd no',
    'PrintLastLog no',
    'Subsystem sftp internal-sftp',
    ...(options.extraConfig ?? []),
  ];
  writeFileSync(join(dir, 'sshd_config'), config.join('\n') + '\n');
  const child = spawn(binary, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-256 * 1024);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  // Ready once it accepts: works whatever the LogLevel.
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (!(await accepts(port))) {
    if (gone || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    port,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
