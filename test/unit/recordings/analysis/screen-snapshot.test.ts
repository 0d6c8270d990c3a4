import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import type * as XtermHeadless from '@xterm/headless';
import type { Terminal as HeadlessTerminal } from '@xterm/headless';
import { analyseCast } from '../../../../recordings/analysis/index.js';
import type { AnalysisOptions, AnalysisResult } from '../../../../recordings/analysis/index.js';
import { REDACTED } from '../../../../recordings/redactor.js';
import { analyse, COLOUR_PROMPT, events, expectLineStart, LS_COLOUR, PROMPT, Session, texts, VIM_CLOSE, VIM_OPEN } from './helpers.js';
import type { Ev } from './helpers.js';

const require = createRequire(import.meta.url);
const { Terminal } = require('@xterm/headless') as typeof XtermHeadless;

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
});
