import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import type * as XtermHeadless from '@xterm/headless';
import type { IBuffer, IBufferCell, IBufferLine, IMarker, Terminal as HeadlessTerminal } from '@xterm/headless';
import type * as XtermSerialize from '@xterm/addon-serialize';
import type { SerializeAddon as Serializer } from '@xterm/addon-serialize';
import { AirlockError } from '../core/index.js';
import { REDACTED } from './redactor.js';
import { risksOf } from './risk-rules.js';
import type { Risk } from './risk-rules.js';

export type { Risk } from './risk-rules.js';

// Both are CommonJS bundles: ESM sees no named exports in them, and their typings
// declare no default export (`import x from '@xterm/headless'` fails to type-check).
const require = createRequire(import.meta.url);
const { Terminal } = require('@xterm/headless') as typeof XtermHeadless;
const { SerializeAddon } = require('@xterm/addon-serialize') as typeof XtermSerialize;

/**
 * Session analysis: plays a recording (asciicast v2, recordings/asciicast.ts)
 * through a headless terminal, once, in file order, and finds
 *
 * - the commands typed at a prompt (terminal recordings), read off the screen at
 *   the moment Enter was pressed, so that editing, tab completion and history
 *   recall come out as the shell showed them; the command of an exec recording
 *   (its "exec: " marker); each with the risks it matches (recordings/risk-rules.ts);
 * - keyframes for seeking: a serialized screen every keyframeBytes of output or
 *   keyframeSeconds of recording time, and the byte offset in the file where
 *   replay continues from it.
 *
 * The file is streamed (lines split on '\n' in Buffers, offsets in bytes) and
 * never held whole. Output goes to the terminal in batched writes; everything
 * that must look at the screen (a key, a resize, a keyframe) runs in the write
 * callback of the output before it, which xterm calls right after parsing that
 * output and before parsing more, so no inspection waits for a timer.
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
 * - Not commands: empty lines, lines with keys typed without echo (REDACTED: a
 *   password), anything typed while a full-screen program shows the alternate
 *   screen. The command that started the program was typed at the prompt and is.
 *
 * Known limits: only the first Enter of an input chunk is read (the screen does
 * not yet show what a pasted multi-line script did after it; the recorder hides
 * such pastes anyway, their text never shows as one run); text typed ahead while
 * a command still runs is placed where the cursor was, not at the prompt that
 * later shows it. Lines typed into other interactive prompts (mysql>, a y/N
 * question) are commands too.
 */

export interface AnalysedCommand {
  /** 0, 1, 2… in order. */
  seq: number;
  /** Seconds (recording time) when it was entered: the Enter key, or the exec marker. */
  t: number;
  /** The command line as the terminal showed it, without the prompt, trimmed. */
  text: string;
  /** Byte offset in the cast file of the event line at which it was entered. */
  castOffset: number;
  risks: Risk[];
}

export interface Keyframe {
  seq: number;
  /** Recording time of the last event applied before the snapshot (0 for the first). */
  t: number;
  /** Byte offset of the next event line: replay continues from here. */
  castOffset: number;
  cols: number;
  rows: number;
  /**
   * Written into a reset terminal of cols×rows, this redraws the screen: text,
   * attributes, cursor position, the alternate screen if active, scroll region,
   * saved cursor and terminal modes. SerializeAddon output plus the state it
   * does not carry (see snapshot()).
   */
  screen: string;
}

export interface AnalysisResult {
  /** The header's airlock.kind, or 'terminal'. */
  kind: string;
  commands: AnalysedCommand[];
  keyframes: Keyframe[];
  /** UTF-8 bytes of all "o" data. */
  outputBytes: number;
  events: number;
  /** t of the last event (0 when none). */
  duration: number;
  /** The file ended in a torn (unparsable) line, e.g. after a crash: analysis stopped there. */
  truncated: boolean;
}

export interface AnalysisOptions {
  /** A keyframe once this many bytes of output were played since the last one. Default 256 KiB. */
  keyframeBytes?: number;
  /** A keyframe once this many seconds of recording time passed with some output since the last one. Default 30. */
  keyframeSeconds?: number;
}

const DEFAULT_KEYFRAME_BYTES = 256 * 1024;
const DEFAULT_KEYFRAME_SECONDS = 30;
/** Output is handed to the terminal in writes of about this many characters: xterm parses large writes faster. */
const WRITE_BATCH = 64 * 1024;
/** Characters handed to the terminal and not yet parsed before reading waits (xterm throws past ~50 MB). */
const MAX_PENDING = 2 * 1024 * 1024;
/** Terminal sizes outside these bounds in a header or resize are not believed. */
const MAX_COLS = 1000;
const MAX_ROWS = 500;
const FILE_READ_BYTES = 1024 * 1024;

/** Streams a cast (chunks of the file, in order) through a headless terminal. Never holds the whole file. */
export async function analyseCast(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AnalysisOptions = {},
): Promise<AnalysisResult> {
  const settings = checkOptions(options);
  const lines = new LineSplitter();
  let analyser: CastAnalyser | undefined;
  let truncated = false;

  /** One line of the file; false stops reading. `last`: it ended the file without a newline. */
  const onLine = (line: Buffer, offset: number, next: number, last: boolean): boolean => {
    if (isBlank(line)) return true;
    const value = parseJson(line);
    if (!analyser) {
      if (value === undefined && last) {
        truncated = true;
        return false;
      }
      analyser = new CastAnalyser(checkHeader(value), next, settings);
      return true;
    }
    if (!isEvent(value)) {
      truncated = true;
      return false;
    }
    analyser.event(value[0], value[1], value[2], offset);
    return true;
  };

  try {
    let reading = true;
    for await (const chunk of chunks) {
      if (!lines.push(chunk, onLine)) {
        reading = false;
        break;
      }
      if (analyser) await analyser.backpressure();
    }
    if (reading) lines.end(onLine);
    if (!analyser) return { kind: 'terminal', commands: [], keyframes: [], outputBytes: 0, events: 0, duration: 0, truncated };
    return await analyser.finish(truncated);
  } finally {
    await analyser?.dispose();
  }
}

export function analyseFile(path: string, options?: AnalysisOptions): Promise<AnalysisResult> {
  return analyseCast(createReadStream(path, { highWaterMark: FILE_READ_BYTES }), options);
}

interface Settings {
  keyframeBytes: number;
  keyframeSeconds: number;
}

function checkOptions(o: AnalysisOptions): Settings {
  const keyframeBytes = o.keyframeBytes ?? DEFAULT_KEYFRAME_BYTES;
  const keyframeSeconds = o.keyframeSeconds ?? DEFAULT_KEYFRAME_SECONDS;
  if (!(Number.isFinite(keyframeBytes) && keyframeBytes > 0)) {
    throw new AirlockError('ERR_INVALID_INPUT', `keyframeBytes must be a positive number (got ${String(keyframeBytes)})`);
  }
  if (!(Number.isFinite(keyframeSeconds) && keyframeSeconds > 0)) {
    throw new AirlockError('ERR_INVALID_INPUT', `keyframeSeconds must be a positive number (got ${String(keyframeSeconds)})`);
  }
  return { keyframeBytes, keyframeSeconds };
}

// ---------------------------------------------------------------------------
// Lines and events

/** Splits a byte stream into lines, with the byte offset of each. */
class LineSplitter {
  /** The start of a line that continues in the next chunk. */
  #parts: Buffer[] = [];
  /** Byte offset of the current line's start, and of the next chunk's. */
  #lineStart = 0;
  #position = 0;

  push(chunk: Uint8Array, onLine: (line: Buffer, offset: number, next: number, last: boolean) => boolean): boolean {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const base = this.#position;
    this.#position += bytes.length;
    let from = 0;
    for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, from)) {
      let line = bytes.subarray(from, nl);
      if (this.#parts.length > 0) {
        this.#parts.push(line);
        line = Buffer.concat(this.#parts);
        this.#parts = [];
      }
      const offset = this.#lineStart;
      this.#lineStart = base + nl + 1;
      from = nl + 1;
      if (!onLine(line, offset, this.#lineStart, false)) return false;
    }
    // Copied: the caller may reuse its buffer for the next chunk.
    if (from < bytes.length) this.#parts.push(Buffer.from(bytes.subarray(from)));
    return true;
  }

  end(onLine: (line: Buffer, offset: number, next: number, last: boolean) => boolean): void {
    if (this.#parts.length === 0) return;
    const line = Buffer.concat(this.#parts);
    this.#parts = [];
    onLine(line, this.#lineStart, this.#position, true);
  }
}

function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

function parseJson(line: Buffer): unknown {
  try {
    return JSON.parse(line.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

type Event = [number, string, string];

function isEvent(v: unknown): v is Event {
  return Array.isArray(v) && v.length >= 3 && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'string' && typeof v[2] === 'string';
}

interface Header {
  cols: number;
  rows: number;
  kind: string;
}

function checkHeader(v: unknown): Header {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || (v as { version?: unknown }).version !== 2) {
    throw new AirlockError('ERR_RECORDING_FORMAT', 'not an asciicast v2 recording: the first line is not a version 2 header');
  }
  const h = v as { width?: unknown; height?: unknown; airlock?: { kind?: unknown } };
  const kind = typeof h.airlock?.kind === 'string' ? h.airlock.kind : 'terminal';
  return { cols: size(h.width, MAX_COLS) ?? 80, rows: size(h.height, MAX_ROWS) ?? 24, kind };
}

function size(v: unknown, max: number): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 2 && v <= max ? v : undefined;
}

/** "COLSxROWS" */
function parseSize(data: string): { cols: number; rows: number } | undefined {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(data.trim());
  const cols = size(Number(m?.[1]), MAX_COLS);
  const rows = size(Number(m?.[2]), MAX_ROWS);
  return cols && rows ? { cols, rows } : undefined;
}

// ---------------------------------------------------------------------------
// Playing a recording

class CastAnalyser {
  readonly #term: HeadlessTerminal;
  readonly #serializer: Serializer;
  readonly #kind: string;
  readonly #settings: Settings;
  readonly #detector: CommandDetector | undefined;
  readonly #commands: AnalysedCommand[] = [];
  readonly #keyframes: Keyframe[] = [];

  /** Output not yet handed to the terminal, and characters handed to it and not yet parsed. */
  #batch = '';
  #pending = 0;
  #wake: (() => void) | undefined;
  #failure: { error: unknown } | undefined;

  /** An Enter was typed and no newline was output since. */
  #entered = false;
  #events = 0;
  #outputBytes = 0;
  #lastT = 0;
  /** Output since the last keyframe, its time, and whether the next event line gets one. */
  #sinceKeyframe = 0;
  #keyframeT = 0;
  #keyframeDue = false;

  constructor(header: Header, firstEvent: number, settings: Settings) {
    this.#kind = header.kind;
    this.#settings = settings;
    this.#term = new Terminal({ cols: header.cols, rows: header.rows, scrollback: 0, allowProposedApi: true, logLevel: 'off' });
    this.#serializer = new SerializeAddon();
    this.#term.loadAddon(this.#serializer);
    const record = (t: number, text: string, castOffset: number): void => {
      this.#commands.push({ seq: this.#commands.length, t, text, castOffset, risks: risksOf(text) });
    };
    this.#detector = header.kind === 'terminal' ? new CommandDetector(this.#term, record) : undefined;
    this.#keyframes.push(this.#snapshot(0, firstEvent));
  }

  event(t: number, code: string, data: string, offset: number): void {
    if (this.#keyframeDue) this.#keyframe(offset);
    this.#events++;
    this.#lastT = t;
    switch (code) {
      case 'o': {
        const bytes = Buffer.byteLength(data, 'utf8');
        this.#outputBytes += bytes;
        this.#sinceKeyframe += bytes;
        const detector = this.#detector;
        const nl = detector && this.#entered ? data.indexOf('\n') : -1;
        if (detector && nl !== -1) {
          // After an Enter, the first newline ends the entered line: a line the
          // detector deferred (entered before its echo came back) is read just before it.
          this.#entered = false;
          this.#batch += data.slice(0, nl);
          this.#write(() => detector.resolve());
          data = data.slice(nl);
        }
        this.#batch += data;
        if (this.#batch.length >= WRITE_BATCH) this.#write();
        break;
      }
      case 'i': {
        const detector = this.#detector;
        if (detector) {
          this.#write(() => detector.input(t, data, offset));
          if (/[\r\n]/.test(data)) this.#entered = true;
        }
        break;
      }
      case 'r': {
        const to = parseSize(data);
        if (to) this.#write(() => this.#term.resize(to.cols, to.rows));
        break;
      }
      case 'm':
        if (this.#kind === 'exec' && data.startsWith('exec: ')) {
          const text = data.slice(6).trim();
          if (text) this.#commands.push({ seq: this.#commands.length, t, text, castOffset: offset, risks: risksOf(text) });
        }
        break;
      default:
        break; // codes from later versions of the format
    }
    const s = this.#settings;
    if (this.#sinceKeyframe >= s.keyframeBytes || (this.#sinceKeyframe > 0 && t - this.#keyframeT >= s.keyframeSeconds)) {
      // Taken before the next event line, so that a keyframe always points at one.
      this.#keyframeDue = true;
    }
  }

  /** Waits while the terminal is far behind. */
  async backpressure(): Promise<void> {
    while (this.#pending > MAX_PENDING && !this.#failure) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    this.#rethrow();
  }

  async finish(truncated: boolean): Promise<AnalysisResult> {
    await new Promise<void>((resolve) =>
      this.#write(() => {
        this.#detector?.resolve(); // a last line whose echo never came
        resolve();
      }),
    );
    this.#rethrow();
    return {
      kind: this.#kind,
      commands: this.#commands,
      keyframes: this.#keyframes,
      outputBytes: this.#outputBytes,
      events: this.#events,
      duration: this.#lastT,
      truncated,
    };
  }

  /** Lets the terminal finish what it was given (its timers must not run on a disposed terminal), then frees it. */
  async dispose(): Promise<void> {
    await new Promise<void>((resolve) => this.#write(resolve));
    this.#term.dispose();
  }

  #keyframe(castOffset: number): void {
    const t = this.#lastT;
    this.#keyframeDue = false;
    this.#sinceKeyframe = 0;
    this.#keyframeT = t;
    this.#write(() => this.#keyframes.push(this.#snapshot(t, castOffset)));
  }

  #snapshot(t: number, castOffset: number): Keyframe {
    const term = this.#term;
    return { seq: this.#keyframes.length, t, castOffset, cols: term.cols, rows: term.rows, screen: snapshot(term, this.#serializer) };
  }

  /**
   * Hands the batched output to the terminal; `then` runs once it (and all before
   * it) is parsed, before anything written later is.
   */
  #write(then?: () => void): void {
    const data = this.#batch;
    this.#batch = '';
    this.#pending += data.length;
    this.#term.write(data, () => {
      this.#pending -= data.length;
      try {
        then?.();
      } catch (error) {
        // Thrown here it would escape from xterm's timer; reported by backpressure() or finish().
        this.#failure ??= { error };
      }
      if (this.#wake && (this.#pending <= MAX_PENDING / 2 || this.#failure)) {
        const wake = this.#wake;
        this.#wake = undefined;
        wake();
      }
    });
  }

  #rethrow(): void {
    if (this.#failure) throw new AirlockError('ERR_INTERNAL', 'session analysis failed', { cause: this.#failure.error });
  }
}

// ---------------------------------------------------------------------------
// Commands typed at a prompt

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
}

const ENTER = /[\r\n]+/;
const CTRL_C = '\x03';
/** bash's incremental history search replaces the prompt with this. */
const HISTORY_SEARCH = /^\((?:failed )?(?:reverse-)?i-search\)`[^']*': ?(.*)$/s;

class CommandDetector {
  #line: TypedLine | undefined;
  /** A line entered before its echo showed: read by resolve(). */
  #deferred: { line: TypedLine; t: number; offset: number } | undefined;
  /** The prompt of the last line read: a line whose own prompt is not known is read with this one. */
  #lastPrompt = '';

  constructor(
    private readonly term: HeadlessTerminal,
    private readonly record: (t: number, text: string, castOffset: number) => void,
  ) {}

  /** The echo of a deferred line is on screen now: read it. */
  resolve(): void {
    const d = this.#deferred;
    this.#deferred = undefined;
    if (!d) return;
    try {
      if (this.term.buffer.active.type === 'alternate') return;
      const text = this.#read(d.line);
      if (d.line.prompt) this.#lastPrompt = d.line.prompt;
      if (text) this.record(d.t, text, d.offset);
    } finally {
      d.line.marker?.dispose(); // after reading: the marker is how the line is found
    }
  }

  /** Keys typed at t (in the event line at offset); all output before them is on screen. */
  input(t: number, data: string, offset: number): void {
    this.resolve(); // more keys before any echo: read what the screen shows
    const alt = this.term.buffer.active.type === 'alternate';
    if (this.#line?.alt && !alt) this.#reset(); // the full-screen program ended: this is a new line at the prompt
    const enter = ENTER.exec(data);
    const keys = enter ? data.slice(0, enter.index) : data;
    if (keys) this.#keys(keys, enter !== null);
    if (!enter) return;
    this.#enter(t, offset);
    const rest = data.slice(enter.index + enter[0].length);
    if (rest) {
      // Keys after the first Enter of a chunk (a paste): their echo is not on screen yet.
      const last = rest.search(/[\r\n][^\r\n]*$/);
      const tail = last === -1 ? rest : rest.slice(last + 1);
      if (tail) this.#line = { alt, redacted: tail.includes(REDACTED), marker: undefined, x: 0, prompt: '', typed: printable(tail) !== '' };
    }
  }

  #keys(keys: string, enterFollows: boolean): void {
    const cancel = keys.lastIndexOf(CTRL_C);
    if (cancel !== -1) {
      this.#reset(); // Ctrl-C abandons the line
      keys = keys.slice(cancel + 1);
      if (!keys) return;
    }
    this.#line ??= this.#begin(keys, enterFollows);
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
    if (line.alt || line.redacted || this.term.buffer.active.type === 'alternate') {
      line.marker?.dispose();
      return;
    }
    if (line.typed && this.#cursorOnLine(line)) {
      // The target has not echoed the Enter yet (its newline would have moved the
      // cursor on), so keys typed just before it may not show yet either (a paste,
      // a quick typist). The line is read when that newline arrives.
      this.#deferred = { line, t, offset };
      return;
    }
    const text = this.#read(line);
    line.marker?.dispose();
    if (line.prompt) this.#lastPrompt = line.prompt;
    if (text) this.record(t, text, offset);
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

// ---------------------------------------------------------------------------
// Keyframes

/**
 * The screen as a string that redraws it in a reset terminal of the same size.
 *
 * SerializeAddon (0.14) writes the text and attributes of the normal screen and,
 * if active, the alternate one, the cursor, the pen and the modes. Its handling
 * of wrapped rows has bugs (a stray '-' after an empty row, a row that starts
 * with empty cells drawn on the row above), it writes the alternate screen's
 * rows past the right margin after the terminal got narrower (xterm keeps those
 * cells there, hidden), and it leaves out state that changes what later output
 * draws. So:
 * - the addon draws the rows each on its own, with their wrap flags off and cut
 *   to the width for the moment (see prepareRows()); the wraps are then made
 *   again by printing across each row end (rewrap());
 * - the cursor is placed with an absolute move, and a pending wrap at the right
 *   margin is recreated by printing the last character of the row again;
 * - the scroll region (vim, less), the saved cursor with its pen and character
 *   set (DECSC, and what ESC[?1049h saved, which leaving the alternate screen
 *   restores), and the DEC line-drawing character set are set.
 * All that is read from xterm's internals (see internals()); if those ever
 * change shape, the addon's output is used as it is.
 * Not kept: scrollback, tab stops, character sets other than line drawing, the
 * wrap flag of the top row, cells hidden past the right margin.
 */
function snapshot(term: HeadlessTerminal, addon: Serializer): string {
  const state = internals(term);
  if (!state) return addon.serialize({ scrollback: 0 });
  const alt = term.buffer.active.type === 'alternate';
  // The normal screen's rows as a player shows them: from the top of its viewport.
  // (After a resize while the alternate screen shows, xterm can leave its buffer
  // shorter than that; the rows a player then shows below its end are the ones
  // the addon is given here, not the ones it would pick itself.)
  const normalBuf = term.buffer.normal;
  const top = normalBuf.baseY;
  const bottom = top + term.rows - 1;
  const prepared = prepareRows(state, term, top, alt);
  let normal: string;
  let alternate = '';
  try {
    normal = addon.serialize({ range: { start: top, end: bottom }, excludeAltBuffer: true, excludeModes: true });
    if (alt) {
      // The addon writes the alternate screen only after the normal one.
      const before = addon.serialize({ scrollback: 0, excludeAltBuffer: true, excludeModes: true });
      alternate = addon.serialize({ scrollback: 0, excludeModes: true }).slice(before.length);
    }
  } finally {
    prepared.restore();
  }
  let screen = normal + rewrap(normalBuf, top, term.cols, prepared.normal);
  if (alt) {
    // ESC[?1049h saves the cursor: set up what the program's own ESC[?1049h saved.
    // The addon then draws the alternate screen from a default pen.
    screen += region(state.normal, term.rows) + saved(state.normal, normalBuf, top, term.cols);
    screen += alternate.replace(/^\x1b\[\?1049h/, '$&\x1b[0m\x1b(B');
    screen += rewrap(term.buffer.alternate, term.buffer.alternate.length - term.rows, term.cols, prepared.alternate);
  }
  const b = state.active;
  screen += region(b, term.rows);
  // The set in use can differ from the designated one after a DECRC (or leaving the
  // alternate screen) restored it: a DECRC recreates that, when the saved set is it.
  const restore = isLineDrawing(state.charset) !== isLineDrawing(state.charsets[state.glevel]) && isLineDrawing(state.charset) === isLineDrawing(b.savedCharset);
  if (restore || b.savedX !== 0 || b.savedY !== 0 || b.savedCharset !== undefined || !b.savedCurAttrData.isAttributeDefault()) {
    screen += saved(b, term.buffer.active, term.buffer.active.baseY, term.cols) + '\x1b7\x1b(B';
  }
  screen += modes(term);
  const buf = term.buffer.active;
  const y = term.modes.originMode ? buf.cursorY - b.scrollTop : buf.cursorY;
  // The cursor is placed (a pending wrap printed) while ASCII is still in use, unless
  // the set in use must come from a DECRC, which moves the cursor.
  const cursor = (charset: Charset): string =>
    buf.cursorX < term.cols ? cup(y, buf.cursorX) : pendingWrap(buf.getLine(buf.baseY + buf.cursorY), y, term.cols, charset);
  if (restore) screen += charsets(state) + '\x1b8' + cursor(state.charset);
  else screen += cursor(undefined) + charsets(state);
  return screen + sgr(state.pen);
}

/**
 * For the addon: the visible rows of both screens without wrap flags and no
 * longer than the width. Returns which rows (0 = top of the screen) were wrapped,
 * and how to put everything back.
 */
function prepareRows(state: Internals, term: HeadlessTerminal, top: number, alt: boolean): { normal: number[]; alternate: number[]; restore: () => void } {
  const changed: Array<[InternalRow, number, boolean]> = [];
  const prepare = (rows: InternalRows, base: number): number[] => {
    const wrapped: number[] = [];
    for (let y = 0; y < term.rows; y++) {
      const row = rows.get(base + y);
      if (!row || (!row.isWrapped && row.length <= term.cols)) continue;
      changed.push([row, row.length, row.isWrapped]);
      if (row.isWrapped) wrapped.push(y);
      row.isWrapped = false;
      row.length = Math.min(row.length, term.cols);
    }
    return wrapped;
  };
  const normal = prepare(state.normalRows, top);
  const alternate = alt ? prepare(state.alternateRows, term.buffer.alternate.length - term.rows) : [];
  return {
    normal,
    alternate,
    restore: () => {
      for (const [row, length, isWrapped] of changed) {
        row.length = length;
        row.isWrapped = isWrapped;
      }
    },
  };
}

/**
 * Makes each listed row a wrapped continuation of the row above again: prints the
 * last character of the row above and the first of the row (the second one wraps,
 * as it did when the program wrote it), then erases whichever was an empty cell.
 * Run right after the rows are drawn: no scroll region, origin mode, insert mode
 * or line-drawing set is in force yet.
 */
function rewrap(buf: IBuffer, top: number, cols: number, wrapped: number[]): string {
  let s = '';
  for (const y of wrapped) {
    if (y === 0) continue; // the row it continues has scrolled away
    const above = buf.getLine(top + y - 1);
    const row = buf.getLine(top + y);
    let x = cols - 1;
    let last = above?.getCell(x);
    if (last && last.getWidth() === 0 && x > 0) last = above?.getCell(--x);
    const first = row?.getCell(0);
    if (!last || !first) continue;
    const lastChars = last.getChars();
    const firstChars = first.getChars();
    s += cup(y - 1, x) + sgr(last) + (lastChars || ' ') + sgr(first) + (firstChars || ' ');
    if (!firstChars) s += '\b\x1b[X';
    if (!lastChars) s += cup(y - 1, x) + sgr(last) + '\x1b[X';
  }
  return s;
}

/** CUP to a 0-based row and column. */
function cup(row: number, col: number): string {
  return `\x1b[${row + 1};${col + 1}H`;
}

function region(b: InternalBuffer, rows: number): string {
  return b.scrollTop !== 0 || b.scrollBottom !== rows - 1 ? `\x1b[${b.scrollTop + 1};${b.scrollBottom + 1}r` : '';
}

/** Pen, character set and position as saved in the buffer, ready for a DECSC (or ESC[?1049h) to save them. */
function saved(b: InternalBuffer, buf: IBuffer, top: number, cols: number): string {
  const y = b.savedY - top;
  // Saved just past the right margin: placed there by printing, while ASCII is in use.
  const position = b.savedX < cols ? cup(y, b.savedX) : pendingWrap(buf.getLine(top + y), y, cols, undefined);
  return position + sgr(b.savedCurAttrData) + (isLineDrawing(b.savedCharset) ? '\x1b(0' : '\x1b(B');
}

/**
 * The cursor just past the right margin (x === cols): the next character wraps.
 * Only printing into the last column gets there.
 */
function pendingWrap(line: IBufferLine | undefined, y: number, cols: number, charset: Charset): string {
  let x = cols - 1;
  let cell = line?.getCell(x);
  if (cell && cell.getWidth() === 0 && x > 0) cell = line?.getCell(--x);
  const chars = cell?.getChars();
  // Not when empty, or when the character set in use would print something else.
  if (!cell || !chars || charset?.[chars] !== undefined) return cup(y, cols - 1);
  return cup(y, x) + sgr(cell) + chars;
}

/** The same modes SerializeAddon writes, written here so that origin mode comes before the cursor is placed. */
function modes(term: HeadlessTerminal): string {
  const m = term.modes;
  let s = '';
  if (m.applicationCursorKeysMode) s += '\x1b[?1h';
  if (m.applicationKeypadMode) s += '\x1b[?66h';
  if (m.bracketedPasteMode) s += '\x1b[?2004h';
  if (m.insertMode) s += '\x1b[4h';
  if (m.originMode) s += '\x1b[?6h';
  if (m.reverseWraparoundMode) s += '\x1b[?45h';
  if (m.sendFocusMode) s += '\x1b[?1004h';
  if (!m.wraparoundMode) s += '\x1b[?7l';
  const mouse = { none: '', x10: '\x1b[?9h', vt200: '\x1b[?1000h', drag: '\x1b[?1002h', any: '\x1b[?1003h' }[m.mouseTrackingMode];
  return s + mouse;
}

type Attributes = Pick<
  IBufferCell,
  | 'isBold' | 'isDim' | 'isItalic' | 'isUnderline' | 'isBlink' | 'isInverse' | 'isInvisible' | 'isStrikethrough' | 'isOverline'
  | 'isFgRGB' | 'isFgPalette' | 'getFgColor' | 'isBgRGB' | 'isBgPalette' | 'getBgColor' | 'isAttributeDefault'
>;

/** SGR setting exactly these attributes. */
function sgr(a: Attributes): string {
  const p = [0];
  if (a.isBold()) p.push(1);
  if (a.isDim()) p.push(2);
  if (a.isItalic()) p.push(3);
  if (a.isUnderline()) p.push(4);
  if (a.isBlink()) p.push(5);
  if (a.isInverse()) p.push(7);
  if (a.isInvisible()) p.push(8);
  if (a.isStrikethrough()) p.push(9);
  if (a.isOverline()) p.push(53);
  colour(p, a.isFgRGB(), a.isFgPalette(), a.getFgColor(), 30);
  colour(p, a.isBgRGB(), a.isBgPalette(), a.getBgColor(), 40);
  return `\x1b[${p.join(';')}m`;
}

function colour(p: number[], rgb: boolean, palette: boolean, c: number, base: 30 | 40): void {
  if (rgb) p.push(base + 8, 2, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff);
  else if (palette && c < 8) p.push(base + c);
  else if (palette && c < 16) p.push(base + 60 + c - 8);
  else if (palette) p.push(base + 8, 5, c);
}

type Charset = Record<string, string> | undefined;

/** DEC special graphics: ncurses draws boxes with it. */
function isLineDrawing(set: Charset): boolean {
  return set?.['q'] === '\u2500';
}

/** G0–G3 and the one in use. Only line drawing is kept; other sets come back as ASCII. */
function charsets(state: Internals): string {
  let s = '';
  state.charsets.forEach((set, g) => {
    if (isLineDrawing(set)) s += `\x1b${'()*+'[g] ?? '('}0`;
  });
  if (state.glevel === 1) s += '\x0e';
  else if (state.glevel === 2) s += '\x1bn';
  else if (state.glevel === 3) s += '\x1bo';
  return s;
}

interface InternalBuffer {
  scrollTop: number;
  scrollBottom: number;
  savedX: number;
  /** Counted from the top of the scrollback (our terminals keep none). */
  savedY: number;
  savedCurAttrData: Attributes;
  savedCharset: Charset;
}

interface InternalRow {
  length: number;
  isWrapped: boolean;
}

interface InternalRows {
  get(i: number): InternalRow | undefined;
}

interface Internals {
  normal: InternalBuffer;
  active: InternalBuffer;
  normalRows: InternalRows;
  alternateRows: InternalRows;
  pen: Attributes;
  /** The set in use, G0–G3, and which of them was last shifted to. */
  charset: Charset;
  charsets: Charset[];
  glevel: number;
}

/**
 * Terminal state the public API does not show, read from @xterm/headless 6.0's
 * internals (SerializeAddon itself reads the pen there). Checked, not trusted:
 * undefined when the shape is not the expected one.
 */
function internals(term: HeadlessTerminal): Internals | undefined {
  const core = (term as unknown as { _core?: Record<string, unknown> })._core;
  const buffers = core?.['buffers'] as { normal?: { lines?: unknown }; active?: unknown; alt?: { lines?: unknown } } | undefined;
  const pen = (core?.['_inputHandler'] as { _curAttrData?: unknown } | undefined)?._curAttrData;
  const cs = core?.['_charsetService'] as { charset?: unknown; _charsets?: unknown; glevel?: unknown } | undefined;
  const isAttributes = (a: unknown): a is Attributes => typeof (a as { isAttributeDefault?: unknown } | undefined)?.isAttributeDefault === 'function';
  const isBuffer = (b: unknown): b is InternalBuffer =>
    typeof b === 'object' &&
    b !== null &&
    ['scrollTop', 'scrollBottom', 'savedX', 'savedY'].every((k) => typeof (b as Record<string, unknown>)[k] === 'number') &&
    isAttributes((b as { savedCurAttrData?: unknown }).savedCurAttrData);
  if (!isBuffer(buffers?.normal) || !isBuffer(buffers?.active) || !isAttributes(pen)) return undefined;
  if (!Array.isArray(cs?._charsets) || typeof cs?.glevel !== 'number') return undefined;
  const charset = typeof cs.charset === 'object' ? (cs.charset as Charset) : undefined;
  const isRows = (l: unknown): l is InternalRows => typeof (l as { get?: unknown } | undefined)?.get === 'function';
  const normalRows = buffers.normal.lines;
  const alternateRows = buffers.alt?.lines;
  if (!isRows(normalRows) || !isRows(alternateRows)) return undefined;
  const row = normalRows.get(0);
  if (typeof row?.length !== 'number' || typeof row.isWrapped !== 'boolean') return undefined;
  return { normal: buffers.normal, active: buffers.active, normalRows, alternateRows, pen, charset, charsets: cs._charsets as Charset[], glevel: cs.glevel };
}
