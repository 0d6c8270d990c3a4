import { expect } from 'vitest';
import { analyseCast } from '../../../../recordings/analysis/index.js';
import type { AnalysisOptions, AnalysisResult } from '../../../../recordings/analysis/index.js';
import { eventLine, headerLine } from '../../../../recordings/asciicast.js';
import type { EventCode } from '../../../../recordings/asciicast.js';

/** What the tests of session analysis (recordings/analysis/) share: recordings made to order, and ways to look into them. */

export const PROMPT = 'user@db01:~$ ';
export const COLOUR_PROMPT = '\x1b[01;32muser@db01\x1b[00m:\x1b[01;34m~\x1b[00m$ ';

/**
 * The order in which a typed key and its echo appear in a recording. airlock's
 * recorder writes a key only once its echo has shown up (recordings/redactor.ts),
 * so the echo comes first; other recorders write the key first.
 */
export type Order = 'echo-first' | 'key-first';

/** Writes a recording the way a bash session through airlock produces one. */
export class Session {
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

export function analyse(cast: Session | Buffer | string, options?: AnalysisOptions): Promise<AnalysisResult> {
  const bytes = cast instanceof Session ? cast.bytes() : Buffer.from(cast);
  return analyseCast([bytes], options);
}

export const texts = (r: AnalysisResult): string[] => r.commands.map((c) => c.text);

/** The event line starting at a byte offset. */
export function eventAt(bytes: Buffer, offset: number): [number, string, string] {
  const end = bytes.indexOf(10, offset);
  return JSON.parse(bytes.subarray(offset, end === -1 ? bytes.length : end).toString('utf8')) as [number, string, string];
}

export function expectLineStart(bytes: Buffer, offset: number): void {
  expect(bytes[offset]).toBe('['.charCodeAt(0));
  expect(bytes[offset - 1]).toBe('\n'.charCodeAt(0));
}

/** vim opening /etc/hosts on 80×24: alternate screen, a scroll region, the text, tildes, the status line. */
export const VIM_OPEN =
  '\x1b[?1049h\x1b[22;0;0t\x1b[>4;2m\x1b[?1h\x1b=\x1b[?2004h\x1b[1;24r\x1b[27m\x1b[23m\x1b[29m\x1b[m\x1b[H\x1b[2J\x1b[?25l' +
  '\x1b[24;1H"/etc/hosts" 3L, 58B\x1b[1;1H127.0.0.1\tlocalhost\r\n::1\t\tlocalhost ip6-localhost\r\n10.0.0.5\tdb01\r\n' +
  Array.from({ length: 20 }, () => '\x1b[94m~                                                                               \x1b[m').join('') +
  '\x1b[24;63H1,1\x1b[11CAll\x1b[1;1H\x1b[?25h';
export const VIM_CLOSE = '\r\n\x1b[?1l\x1b>\x1b[?2004l\x1b[?1049l\x1b[23;0;0t';

/** `ls -l --color` output: colours, a background, a symlink arrow. */
export const LS_COLOUR =
  'total 24\r\n' +
  'drwxr-xr-x 2 user user 4096 Jan  1 10:00 \x1b[0m\x1b[01;34mbin\x1b[0m\r\n' +
  '-rwxr-xr-x 1 user user  220 Jan  1 10:00 \x1b[01;32mdeploy.sh\x1b[0m\r\n' +
  'lrwxrwxrwx 1 user user    9 Jan  1 10:00 \x1b[01;36mlatest\x1b[0m -> \x1b[01;34mrelease-42\x1b[0m\r\n' +
  '-rw-r--r-- 1 user user 1.2G Jan  1 10:00 \x1b[01;31mbackup.tar.gz\x1b[0m\r\n' +
  'prw-r--r-- 1 user user    0 Jan  1 10:00 \x1b[40;33mfifo\x1b[0m\r\n';

export type Ev = [number, string, string];

/** The event lines from one byte offset to another. */
export function events(bytes: Buffer, from: number, to = bytes.length): Ev[] {
  return bytes
    .subarray(from, to)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Ev);
}
