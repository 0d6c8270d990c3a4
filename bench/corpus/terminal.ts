import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A real terminal for one corpus session: a tmux server of its own (its own
 * socket, no config file) runs a wrapper that starts the OpenSSH client with
 * -tt; keys go in with send-keys, pastes with paste-buffer, the screen and the
 * cursor come back from display-message and capture-pane.
 *
 * Everything is asynchronous (execFile, never execFileSync): the gateway may run
 * in this same process (the test), and a blocked event loop would delay the
 * target's echo that the recorder judges by time.
 */
export interface Screen {
  /** Cursor column and row on the visible screen. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** The visible rows (tmux strips trailing blanks). */
  rows: string[];
}

function tmux(socket: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tmux', ['-S', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args[0] ?? ''} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

export class TmuxTerminal {
  private constructor(
    readonly socket: string,
    readonly dir: string,
    readonly name: string,
  ) {}

  /**
   * Starts `command` (argv) in a detached tmux session of width × height, with
   * exactly `env` (tmux does not pass the caller's environment on). When the
   * command ends, "SSH-EXIT=<code>" is printed and the pane stays for reading.
   */
  static async start(o: { dir: string; name: string; width: number; height: number; command: string[]; env: NodeJS.ProcessEnv }): Promise<TmuxTerminal> {
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const script = join(o.dir, `${o.name}.sh`);
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        ...Object.entries(o.env)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `export ${k}=${quote(String(v))}`),
        o.command.map(quote).join(' '),
        'echo "SSH-EXIT=$?"',
        'sleep 600',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const t = new TmuxTerminal(join(o.dir, `${o.name}.tmux`), o.dir, o.name);
    await tmux(t.socket, ['new-session', '-d', '-s', o.name, '-x', String(o.width), '-y', String(o.height), script]);
    return t;
  }

  /** Keys by tmux name (Enter, BSpace, C-c, Up, Home, Tab …). */
  keys(...names: string[]): Promise<unknown> {
    return tmux(this.socket, ['send-keys', '-t', this.name, ...names]);
  }

  /**
   * Bytes as typed, in one write to the pane (a burst). Sent as hex (-H): a
   * literal argument ending in ";" would be taken by tmux as a command separator.
   */
  bytes(text: string): Promise<unknown> {
    const hex = [...Buffer.from(text, 'utf8')].map((b) => b.toString(16).padStart(2, '0'));
    return tmux(this.socket, ['send-keys', '-t', this.name, '-H', ...hex]);
  }

  /**
   * A paste: tmux writes the buffer with LF turned into CR (Enter), wrapped in
   * ESC[200~ … ESC[201~ when `bracketed` and the program asked for bracketed
   * paste, as a terminal emulator does.
   */
  async paste(text: string, bracketed: boolean): Promise<void> {
    const file = join(this.dir, `${this.name}.paste`);
    writeFileSync(file, text);
    await tmux(this.socket, ['load-buffer', '-b', 'corpus', file]);
    await tmux(this.socket, ['paste-buffer', '-d', ...(bracketed ? ['-p'] : []), '-b', 'corpus', '-t', this.name]);
  }

  resize(width: number, height: number): Promise<unknown> {
    return tmux(this.socket, ['resize-window', '-t', this.name, '-x', String(width), '-y', String(height)]);
  }

  /** Cursor and visible screen, read in one tmux call. */
  async screen(): Promise<Screen> {
    const out = await tmux(this.socket, ['display-message', '-p', '-t', this.name, '#{cursor_x} #{cursor_y} #{pane_width} #{pane_height}', ';', 'capture-pane', '-p', '-t', this.name]);
    const nl = out.indexOf('\n');
    const [x, y, width, height] = out.slice(0, nl).split(' ').map(Number) as [number, number, number, number];
    const rows = out.slice(nl + 1).split('\n');
    if (rows.at(-1) === '') rows.pop();
    return { x, y, width, height, rows };
  }

  /** The whole pane with its scrollback, for failure reports. */
  async scrollback(): Promise<string> {
    return tmux(this.socket, ['capture-pane', '-p', '-J', '-S', '-', '-t', this.name]).catch((err: Error) => `(no screen: ${err.message})`);
  }

  async kill(): Promise<void> {
    await tmux(this.socket, ['kill-server']).catch(() => undefined);
  }
}
