import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALICE_PASSWORD, startGateway } from '../helpers/gateway.js';
import type { GatewayHarness } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

/** Whether a process with exactly this command line runs on this machine. */
function running(command: string): boolean {
  try {
    execFileSync('pgrep', ['-fx', command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Interactive shells through airlock under a real pseudo-terminal: tmux runs the
 * OpenSSH client with -tt, keys go in with send-keys and the screen comes back
 * with capture-pane. Each tmux server has its own socket, so nothing here touches
 * another tmux on the machine.
 */
const SYSTEM = { name: 'test-admin' };

describe('gateway interactive shell (tmux)', () => {
  let g: GatewayHarness;
  let dir: string;
  let socket: string;
  let n = 0;

  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  const screen = (session: string) => tmux('capture-pane', '-p', '-J', '-t', session);

  async function waitForScreen(session: string, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const start = Date.now();
    let text = '';
    while (Date.now() - start < timeoutMs) {
      try {
        text = screen(session);
      } catch {
        text = '(pane gone)';
      }
      if (pattern.test(text)) return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`screen never matched ${pattern}:\n${text}`);
  }

  /**
   * Starts `ssh -tt` as `user` in a new tmux session of the given size. The wrapper
   * carries the askpass environment (tmux does not pass the test's env) and writes
   * ssh's exit code to a file when it ends.
   */
  function startSsh(user: string, size = { cols: 120, rows: 40 }): { session: string; exitFile: string } {
    const session = `s${++n}`;
    const exitFile = join(dir, `${session}.exit`);
    const env = g.ssh.env({ password: ALICE_PASSWORD, totp: g.totp(g.alice.totp.secret) });
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const wrapper = join(dir, `${session}.sh`);
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v ?? '')}`),
        `ssh ${[...g.ssh.baseArgs(), '-tt', `${user}@127.0.0.1`].map(quote).join(' ')}`,
        `echo $? > ${quote(exitFile)}`,
        'sleep 30',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    tmux('new-session', '-d', '-s', session, '-x', String(size.cols), '-y', String(size.rows), wrapper);
    return { session, exitFile };
  }

  async function exitCode(exitFile: string): Promise<number> {
    await expect.poll(() => existsSync(exitFile), { timeout: 15_000 }).toBe(true);
    return Number(readFileSync(exitFile, 'utf8').trim());
  }

  beforeAll(async () => {
    g = await startGateway('pglite');
    dir = mkdtempSync(join(tmpdir(), 'airlock-tmux-'));
    socket = join(dir, 'tmux.sock');
    // A target alice holds no grant for.
    await g.services.targets.add(
      { name: 'hidden-db', host: '127.0.0.1', port: g.sshd.port, login: g.sshd.login, secret: { kind: 'key', secret: g.sshd.clientKey }, sensitivity: 'standard', hostKey: g.sshd.hostKey },
      SYSTEM,
    );
  });
  afterEach(() => {
    try {
      tmux('kill-server');
    } catch {
      /* no server left */
    }
  });
  afterAll(async () => {
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a shell with a prompt, runs a command, passes resizes to the target, and returns the exit code', async () => {
    const { session, exitFile } = startSsh('alice@t1');
    await waitForScreen(session, /\$ $/m);

    tmux('send-keys', '-t', session, 'echo $((6*7))', 'Enter');
    // "42" alone on a line: the answer, not the echoed command line.
    await waitForScreen(session, /^42$/m);

    tmux('send-keys', '-t', session, 'stty size; tty; echo "TERM=$TERM"', 'Enter');
    const before = await waitForScreen(session, /^TERM=/m);
    expect(before).toMatch(/^40 120$/m);
    expect(before).toMatch(/^\/dev\/pts\/\d+$/m);
    expect(before).toMatch(/^TERM=(screen|tmux)/m);

    // A resize reaches the target's terminal a moment later: ask until it has.
    const untilSize = (cols: number, rows: number) =>
      waitFor(
        async () => {
          tmux('send-keys', '-t', session, 'clear; echo "size=$(stty size)"', 'Enter');
          return waitForScreen(session, new RegExp(`^size=${rows} ${cols}$`, 'm'), 1000).catch(() => undefined);
        },
        { message: `the target to see ${cols}x${rows}` },
      );
    tmux('resize-window', '-t', session, '-x', '100', '-y', '30');
    await untilSize(100, 30);
    tmux('resize-window', '-t', session, '-x', '132', '-y', '43');
    await untilSize(132, 43);

    tmux('send-keys', '-t', session, 'exit 3', 'Enter');
    expect(await exitCode(exitFile)).toBe(3);

    await expect
      .poll(async () => (await g.services.db.query<{ status: string; exit_code: number | null; channels: Array<{ kind: string }> }>(
        'SELECT status, exit_code, channels FROM sessions ORDER BY started_at DESC LIMIT 1',
      )).rows[0], { timeout: 10_000 })
      .toMatchObject({ status: 'closed', exit_code: 3, channels: [{ kind: 'shell' }] });
  });

  it('passes Ctrl-C to the remote foreground command, not to the session', async () => {
    const { session, exitFile } = startSsh('alice@t1');
    await waitForScreen(session, /\$ $/m);
    tmux('send-keys', '-t', session, 'sleep 6011', 'Enter');
    // The target runs on this machine: wait until the command really runs there.
    await waitFor(() => running('sleep 6011'), { message: 'sleep to run on the target' });
    tmux('send-keys', '-t', session, 'C-c');
    // bash reports the interrupted command's status: 128 + SIGINT.
    tmux('send-keys', '-t', session, 'echo "after=$?"', 'Enter');
    await waitForScreen(session, /^after=130$/m);
    tmux('send-keys', '-t', session, 'exit', 'Enter');
    expect(await exitCode(exitFile)).toBe(0);
  });

  it('shows a plain "alice" only her own targets in a menu and connects to the one chosen', async () => {
    const { session, exitFile } = startSsh('alice');
    const menu = await waitForScreen(session, /Target \(number or name/);
    expect(menu).toMatch(/^\s+1\) t1\s+standard/m);
    expect(menu).not.toContain('hidden-db');
    tmux('send-keys', '-t', session, '1', 'Enter');
    await waitForScreen(session, /\$ $/m);
    tmux('send-keys', '-t', session, 'echo "on=$(hostname)-$((6*7))"', 'Enter');
    await waitForScreen(session, /^on=.*-42$/m);
    tmux('send-keys', '-t', session, 'exit', 'Enter');
    expect(await exitCode(exitFile)).toBe(0);
  });

  it('refuses a shell on a target that is not hers, on the terminal and with a non-zero exit', async () => {
    const { session, exitFile } = startSsh('alice@hidden-db');
    const text = await waitForScreen(session, /airlock: no target "hidden-db" is available to you/);
    expect(text).not.toMatch(/\$ $/m);
    expect(await exitCode(exitFile)).toBe(1);
  });
});
