import type { IBuffer, IBufferCell, IMarker, Terminal as HeadlessTerminal } from '@xterm/headless';
import { REDACTED, SECRET_PROMPT } from '../redactor.js';

/** Where a line was typed: at a shell's prompt, or into a program that runs (python3, sqlite3, mysql, a y/N question). */
export type CommandContext = 'shell' | 'program';

export interface DetectedLine {
  context: CommandContext;
  /** Typed without echo at a shell prompt: what ran is not on the screen (sealed in the recording). */
  sealed: boolean;
}

/**
 * The commands typed at a prompt in a terminal recording, read off the screen at
 * the moment Enter was pressed, so that editing, tab completion and history
 * recall come out as the shell showed them. Fed by CastAnalyser (analyse.ts),
 * which calls input() and resolve() only once all output before them is parsed.
 *
 * How a command is found (terminal recordings):
 * - The first key of a line (after the start, the previous Enter or Ctrl-C) marks
 *   where typing began: the cursor, unless the screen already ends with the
 *   echo of that key. The recorder writes a typed key only once its echo has
 *   shown up (recordings/redactor.ts), so in airlock's own recordings the echo of
 *   the first key comes before the key; in others, after. Both work.
 * - At Enter, the command is the logical line (wrapped rows followed) from there.
 *   While the cursor is still on that line, the echo may lag behind the keys
 *   (a paste and its Enter in one chunk, a slow link), so the line is read just
 *   before the next newline of output (the shell's answer to Enter) or the next
 *   key, whichever comes first.
 *   If the prompt is no longer where typing began (Ctrl-L redrew it, reverse
 *   search replaced it, it scrolled away), the line the cursor is on is read
 *   instead, without its prompt.
 * - Not commands: empty lines, anything typed while a full-screen program shows
 *   the alternate screen (the command that started the program was typed at the
 *   prompt and is), and lines with keys typed without echo (REDACTED) at any
 *   prompt but a shell's: a password at sudo's or ssh's prompt, `read -s`.
 * - A line typed without echo at a shell's prompt (after `stty -echo`) is a
 *   command whose text the screen does not show: it is recorded as `sealed`
 *   (its keys are sealed in the recording, revealable with the customer's key).
 * - Each line's context is its prompt's: a shell's (ending in $, #, %) or a
 *   program's (>>> of python, sqlite>, mysql>, psql's name=#, anything else).
 *
 * Known limits: only the first Enter of an input chunk is read (the screen does
 * not yet show what a pasted multi-line script did after it; the recorder hides
 * such pastes anyway, their text never shows as one run); text typed ahead while
 * a command still runs is placed where the cursor was, not at the prompt that
 * later shows it. Lines typed into other interactive prompts (mysql>, a y/N
 * question) are commands too.
 */

/** The line being typed, from its first key to Enter. */
interface TypedLine {
  /** Begun while a full-screen program showed the alternate screen: never a command. */
  alt: boolean;
  /** Some of its keys were typed without echo (a password). */
  redacted: boolean;
  /** The row where typing began (follows scrolling); undefined when not known. */
  marker: IMarker | undefined;
  /** The column where typing began, and the prompt's text before it, to find it again. */
  x: number;
  prompt: string;
  /** Printable keys were typed (it is not an empty line). */
  typed: boolean;
  /**
   * Typed before the target answered the line before (a paste of several lines,
   * keys typed while nothing was echoed yet): where it will show is not known,
   * so it is read at the first line of output that shows the prompt before it.
   */
  ahead?: boolean;
}

const ENTER = /[\r\n]+/;
const CTRL_C = '\x03';
/** bash's incremental history search replaces the prompt with this. */
const HISTORY_SEARCH = /^\((?:failed )?(?:reverse-)?i-search\)`[^']*': ?(.*)$/s;

export class CommandDetector {
  #line: TypedLine | undefined;
  /** Lines entered before their echo showed, in order: read by resolve(). */
  #deferred: Array<{ line: TypedLine; t: number; offset: number }> = [];
  /** The prompt of the last line read: a line whose own prompt is not known is read with this one. */
  #lastPrompt = '';

  constructor(
    private readonly term: HeadlessTerminal,
    private readonly record: (t: number, text: string, castOffset: number, line: DetectedLine) => void,
  ) {}

  /** Lines still waiting for their echo. */
  get waiting(): boolean {
    return this.#deferred.length > 0;
  }

  /**
   * A line of output ends (or the recording does, `final`): the first deferred
   * line is read if its echo is on screen now. A line typed ahead waits for the
   * output line that shows the prompt before it; at the end it is dropped.
   */
  resolve(final = false): void {
    while (this.#deferred.length > 0) {
      const d = this.#deferred[0] as { line: TypedLine; t: number; offset: number };
      if (d.line.ahead) {
        const text = this.term.buffer.active.type === 'alternate' ? undefined : this.#readAhead();
        if (text === undefined && !final) return;
        this.#deferred.shift();
        if (text) this.record(d.t, text, d.offset, { context: contextOf(this.#lastPrompt), sealed: false });
        if (!final) return;
        continue;
      }
      this.#deferred.shift();
      try {
        if (this.term.buffer.active.type === 'alternate') continue;
        const text = this.#read(d.line);
        if (d.line.prompt) this.#lastPrompt = d.line.prompt;
        if (text) this.record(d.t, text, d.offset, { context: contextOf(d.line.prompt || this.#lastPrompt), sealed: false });
      } finally {
        d.line.marker?.dispose(); // after reading: the marker is how the line is found
      }
      if (!final) return;
    }
  }

  /** The cursor's line, if it shows the last prompt with something typed after it: that text. */
  #readAhead(): string | undefined {
    const prompt = this.#lastPrompt.trim();
    if (!prompt) return undefined;
    const buf = this.term.buffer.active;
    const whole = logicalText(buf, logicalStart(buf, buf.baseY + buf.cursorY), 0).trimEnd();
    const at = whole.lastIndexOf(prompt);
    return at === -1 ? undefined : whole.slice(at + prompt.length).trim();
  }

  /**
   * Keys typed at t (in the event line at offset); all output before them is on
   * screen. `answered`: output came since the keys before; if not, and a line
   * waits for its echo, these keys are typed ahead of it.
   */
  input(t: number, data: string, offset: number, answered = true): void {
    // More keys after output that was no newline: read what the screen shows.
    if (answered && this.#deferred.length > 0 && !this.#deferred[0]?.line.ahead) this.resolve();
    const ahead = this.#deferred.length > 0;
    const alt = this.term.buffer.active.type === 'alternate';
    if (this.#line?.alt && !alt) this.#reset(); // the full-screen program ended: this is a new line at the prompt
    const enter = ENTER.exec(data);
    const keys = enter ? data.slice(0, enter.index) : data;
    if (keys) this.#keys(keys, enter !== null, ahead);
    if (!enter) return;
    this.#enter(t, offset);
    const rest = data.slice(enter.index + enter[0].length);
    if (rest) {
      // Keys after the first Enter of a chunk (a paste): their echo is not on screen yet.
      const last = rest.search(/[\r\n][^\r\n]*$/);
      const tail = last === -1 ? rest : rest.slice(last + 1);
      if (tail) this.#line = { alt, redacted: tail.includes(REDACTED), marker: undefined, x: 0, prompt: '', typed: printable(tail) !== '', ahead: true };
    }
  }

  #keys(keys: string, enterFollows: boolean, ahead: boolean): void {
    const cancel = keys.lastIndexOf(CTRL_C);
    if (cancel !== -1) {
      this.#reset(); // Ctrl-C abandons the line
      keys = keys.slice(cancel + 1);
      if (!keys) return;
    }
    this.#line ??= ahead ? { alt: this.term.buffer.active.type === 'alternate', redacted: false, marker: undefined, x: 0, prompt: '', typed: false, ahead: true } : this.#begin(keys, enterFollows);
    if (keys.includes(REDACTED)) this.#line.redacted = true;
    if (!this.#line.typed && printable(keys.replaceAll(REDACTED, '')) !== '') this.#line.typed = true;
  }

  /** Where typing of a new line began. */
  #begin(keys: string, enterFollows: boolean): TypedLine {
    const buf = this.term.buffer.active;
    if (buf.type === 'alternate') return { alt: true, redacted: false, marker: undefined, x: 0, prompt: '', typed: false };
    const cursor = { row: buf.baseY + buf.cursorY, x: buf.cursorX };
    const typed = printable(keys.replaceAll(REDACTED, ''));
    const at = (typed && findEcho(buf, this.term.cols, typed, enterFollows)) || cursor;
    const marker = this.term.registerMarker(at.row - cursor.row);
    const prompt = buf.getLine(at.row)?.translateToString(false, 0, at.x) ?? '';
    return { alt: false, redacted: false, marker, x: at.x, prompt, typed: false };
  }

  #enter(t: number, offset: number): void {
    const line = this.#line;
    this.#line = undefined;
    if (!line) return;
    if (line.alt || this.term.buffer.active.type === 'alternate') {
      line.marker?.dispose();
      return;
    }
    if (line.redacted) {
      line.marker?.dispose();
      // Only a line whose own prompt is a shell's (no guess from the last prompt: `read -s` has none).
      if (line.prompt !== '' && contextOf(line.prompt) === 'shell' && !SECRET_PROMPT.test(line.prompt)) this.record(t, '', offset, { context: 'shell', sealed: true });
      return;
    }
    if (line.ahead) {
      if (line.typed) this.#deferred.push({ line, t, offset }); // read where its prompt shows it
      return;
    }
    if (line.typed && this.#cursorOnLine(line)) {
      // The target has not echoed the Enter yet (its newline would have moved the
      // cursor on), so keys typed just before it may not show yet either (a paste,
      // a quick typist). The line is read when that newline arrives.
      this.#deferred.push({ line, t, offset });
      return;
    }
    const text = this.#read(line);
    line.marker?.dispose();
    if (line.prompt) this.#lastPrompt = line.prompt;
    if (text) this.record(t, text, offset, { context: contextOf(line.prompt || this.#lastPrompt), sealed: false });
  }

  /** The cursor is still on the logical line where typing began. */
  #cursorOnLine(line: TypedLine): boolean {
    const m = line.marker;
    if (!m || m.isDisposed || m.line < 0) return false;
    const buf = this.term.buffer.active;
    return logicalStart(buf, buf.baseY + buf.cursorY) === m.line;
  }

  #read(line: TypedLine): string {
    const buf = this.term.buffer.active;
    const m = line.marker;
    if (m && !m.isDisposed && m.line >= 0 && buf.getLine(m.line)?.translateToString(false, 0, line.x) === line.prompt) {
      return logicalText(buf, m.line, line.x).trim();
    }
    // The prompt is not where typing began: read the line the cursor is on.
    const whole = logicalText(buf, logicalStart(buf, buf.baseY + buf.cursorY), 0).trim();
    const search = HISTORY_SEARCH.exec(whole);
    if (search) return (search[1] ?? '').trim();
    for (const prompt of [line.prompt.trim(), this.#lastPrompt.trim()]) {
      if (prompt && whole.startsWith(prompt)) return whole.slice(prompt.length).trim();
    }
    return ''; // no prompt to tell the command from: better none than a wrong one
  }

  #reset(): void {
    this.#line?.marker?.dispose();
    this.#line = undefined;
  }
}

/** A shell's prompt ends in $, # or % (bash, dash, zsh; root's #), with a space or not. */
const SHELL_PROMPT = /[$#%]\s?$/;
/** Programs' own prompts, which a shell's pattern would also take (psql's `postgres=#`). */
const PROGRAM_PROMPTS = [
  /^\s*(?:>>>|\.\.\.) ?$/, // python
  /^\s*(?:sqlite|\s*\.\.\.)> ?$/, // sqlite3
  /^\s*(?:mysql|MariaDB \[[^\]]*\]|\s*->) ?> ?$/, // mysql, mariadb
  /^\s*[\w-]+[=\-(^'"][#>] ?$/, // psql: postgres=#, postgres-#, db=>
  /^\s*\(gdb\) ?$/,
  /^\s*(?:sftp|ftp|lftp[^>]*)> ?$/,
  /^\s*irb\([^)]*\)[:\d]*[>*] ?$/,
];

/** Whether a line typed after `prompt` went to a shell or to a program. An unknown prompt ('') is taken as a shell's. */
export function contextOf(prompt: string): CommandContext {
  if (prompt === '') return 'shell';
  if (PROGRAM_PROMPTS.some((p) => p.test(prompt))) return 'program';
  return SHELL_PROMPT.test(prompt) ? 'shell' : 'program';
}

/** The first row of the logical line that `row` is part of. */
function logicalStart(buf: IBuffer, row: number): number {
  while (row > 0 && buf.getLine(row)?.isWrapped) row--;
  return row;
}

/** The text of the logical line starting at `row`, from column x, following wrapped rows. */
function logicalText(buf: IBuffer, row: number, x: number): string {
  let text = buf.getLine(row)?.translateToString(false, x) ?? '';
  for (let r = row + 1; ; r++) {
    const next = buf.getLine(r);
    if (!next?.isWrapped) break;
    text += next.translateToString(false);
  }
  return text;
}

/**
 * Where the echo of `typed` begins, if the screen already ends with it at the
 * cursor (the recorder writes a key after its echo). With an Enter in the same
 * keys, its echo may have moved the cursor to the start of the next row: then
 * the line above is looked at.
 */
function findEcho(buf: IBuffer, cols: number, typed: string, enterFollows: boolean): { row: number; x: number } | undefined {
  let row = buf.baseY + buf.cursorY;
  let end = Math.min(buf.cursorX, cols);
  const lineAbove = enterFollows && end === 0 && row > 0 && !buf.getLine(row)?.isWrapped;
  if (lineAbove) {
    row -= 1;
    end = cols;
  }
  const want = lineAbove ? typed.trimEnd() : typed;
  const cells: Array<{ row: number; x: number; at: number }> = [];
  let text = '';
  let cell: IBufferCell | undefined;
  for (let r = logicalStart(buf, row); r <= row; r++) {
    const line = buf.getLine(r);
    if (!line) return undefined;
    const stop = r === row ? end : cols;
    for (let x = 0; x < stop; x++) {
      cell = line.getCell(x, cell);
      if (!cell || cell.getWidth() === 0) continue; // the right half of a wide character
      cells.push({ row: r, x, at: text.length });
      text += cell.getChars() || ' ';
    }
  }
  if (lineAbove) text = text.trimEnd();
  if (!want || !text.endsWith(want)) return undefined;
  const at = text.length - want.length;
  const start = cells.find((c) => c.at === at);
  return start && { row: start.row, x: start.x };
}

/** The printable characters of typed keys, without escape sequences (arrows, bracketed paste) and control keys. */
function printable(keys: string): string {
  return keys
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[O\]P^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b./g, '')
    .replace(/[\x00-\x1f\x7f]/g, '');
}
