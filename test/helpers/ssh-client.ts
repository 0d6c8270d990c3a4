import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The real OpenSSH client against airlock. Keyboard-interactive prompts are
 * answered by an SSH_ASKPASS script by their text ("Password:", "Verification
 * code:"), with SSH_ASKPASS_REQUIRE=force, so stdin stays free for data.
 * airlock's host key is pinned in a known_hosts file: StrictHostKeyChecking=yes.
 */
export interface SshResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface SshRunOptions {
  password?: string;
  totp?: string;
  input?: Buffer | string;
  /** Extra ssh arguments before the destination. */
  sshArgs?: string[];
  timeoutMs?: number;
  /** A file whose contents become stdin (large inputs). */
  stdinFile?: string;
}

export class SshClient {
  readonly dir: string;
  readonly knownHosts: string;
  readonly askpass: string;

  constructor(
    readonly port: number,
    hostKeyLine: string,
    readonly host = '127.0.0.1',
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'airlock-ssh-'));
    this.knownHosts = join(this.dir, 'known_hosts');
    writeFileSync(this.knownHosts, `[${host}]:${port} ${hostKeyLine}\n`);
    this.askpass = join(this.dir, 'askpass');
    writeFileSync(
      this.askpass,
      [
        '#!/bin/sh',
        'case "$1" in',
        '  *assword*) printf \'%s\\n\' "$AIRLOCK_TEST_PASSWORD" ;;',
        '  *erification*) printf \'%s\\n\' "$AIRLOCK_TEST_TOTP" ;;',
        '  *) echo "unexpected prompt: $1" >&2; exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  }

  /** ssh options every run uses: no config, no agent, no keys, pinned host key. */
  baseArgs(): string[] {
    return [
      '-F', '/dev/null',
      '-p', String(this.port),
      '-o', `UserKnownHostsFile=${this.knownHosts}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'PreferredAuthentications=keyboard-interactive',
      '-o', 'PubkeyAuthentication=no',
      '-o', 'NumberOfPasswordPrompts=1',
      '-o', 'IdentityAgent=none',
      '-o', 'ConnectTimeout=20',
    ];
  }

  env(options: SshRunOptions): NodeJS.ProcessEnv {
    return {
      PATH: process.env['PATH'],
      HOME: this.dir,
      SSH_ASKPASS: this.askpass,
      SSH_ASKPASS_REQUIRE: 'force',
      DISPLAY: ':0',
      AIRLOCK_TEST_PASSWORD: options.password ?? '',
      AIRLOCK_TEST_TOTP: options.totp ?? '',
    };
  }

  run(user: string, remoteArgs: string[], options: SshRunOptions = {}): Promise<SshResult> {
    return this.spawn('ssh', [...this.baseArgs(), ...(options.sshArgs ?? []), `${user}@${this.host}`, ...remoteArgs], options);
  }

  spawn(cmd: string, args: string[], options: SshRunOptions): Promise<SshResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env: this.env(options), stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
      });
      child.stdin.on('error', () => {});
      if (options.stdinFile) {
        void import('node:fs').then(({ createReadStream }) => createReadStream(options.stdinFile as string).pipe(child.stdin));
      } else {
        child.stdin.end(options.input ?? '');
      }
    });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
