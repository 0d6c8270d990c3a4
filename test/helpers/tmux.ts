import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { SshClient, SshRunOptions } from './ssh-client.js';

/**
 * An interactive `ssh -tt` under a real pseudo-terminal: tmux runs it in a
 * detached session (own socket), keys go in with send-keys, the screen comes
 * back with capture-pane.
 */
export class TmuxSsh {
  readonly socket: string;
  readonly name = 'airlock';

  constructor(
    client: SshClient,
    dest: string,
    options: SshRunOptions & {
      width?: number;
      height?: number;
      remote?: string[];
      /** Replaces the client's keyboard-interactive-only options (certificate logins). */
      baseArgs?: string[];
      /** Another client instead of ssh (plink, psftp): the whole command line. */
      command?: string[];
    },
  ) {
    this.socket = join(client.dir, `tmux-${randomBytes(4).toString('hex')}`);
    const script = join(client.dir, `run-${randomBytes(4).toString('hex')}.sh`);
    const env = client.env(options);
    const args = [...(options.baseArgs ?? client.baseArgs()), ...(options.sshArgs ?? []), '-tt', `${dest}@${client.host}`, ...(options.remote ?? [])];
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        ...Object.entries(env).map(([k, v]) => `export ${k}='${String(v ?? '').replace(/'/g, `'\\''`)}'`),
        (options.command ?? ['ssh', ...args]).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '),
        'echo "SSH-EXIT=$?"',
        'sleep 600',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    execFileSync('tmux', ['-S', this.socket, 'new-session', '-d', '-s', this.name, '-x', String(options.width ?? 100), '-y', String(options.height ?? 30), script]);
  }

  send(...keys: string[]): void {
    execFileSync('tmux', ['-S', this.socket, 'send-keys', '-t', this.name, ...keys]);
  }

  /** Types text literally (no key-name interpretation), then optionally Enter. */
  type(text: string, enter = true): void {
    execFileSync('tmux', ['-S', this.socket, 'send-keys', '-t', this.name, '-l', text]);
    if (enter) this.send('Enter');
  }

  screen(): string {
    return execFileSync('tmux', ['-S', this.socket, 'capture-pane', '-p', '-t', this.name, '-S', '-200'], { encoding: 'utf8' });
  }

  resize(width: number, height: number): void {
    execFileSync('tmux', ['-S', this.socket, 'resize-window', '-t', this.name, '-x', String(width), '-y', String(height)]);
  }

  async waitFor(pattern: RegExp | string, timeoutMs = 15_000): Promise<string> {
    const start = Date.now();
    for (;;) {
      const s = this.screen();
      if (typeof pattern === 'string' ? s.includes(pattern) : pattern.test(s)) return s;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${String(pattern)}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill(): void {
    try {
      execFileSync('tmux', ['-S', this.socket, 'kill-server'], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}
