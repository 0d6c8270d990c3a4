import { createReadStream } from 'node:fs';
import type { Terminal as HeadlessTerminal } from '@xterm/headless';
import type { SerializeAddon as Serializer } from '@xterm/addon-serialize';
import { AirlockError } from '../../core/pure.js';
import { risksOf } from '../risk-rules.js';
import type { Risk } from '../risk-rules.js';
import { checkHeader, isBlank, isEvent, LineSplitter, parseJson, parseSize } from './cast-reader.js';
import type { Header, OnLine } from './cast-reader.js';
import { CommandDetector } from './command-detector.js';
import { snapshot } from './screen-snapshot.js';
import { SerializeAddon, Terminal } from './xterm-internals.js';

/**
 * Session analysis: plays a recording (asciicast v2, recordings/asciicast.ts)
 * through a headless terminal, once, in file order, and finds
 *
 * - the commands typed at a prompt (terminal recordings), read off the screen at
 *   the moment Enter was pressed (how: command-detector.ts); the command of an
 *   exec recording (its "exec: " marker); each with the risks it matches
 *   (recordings/risk-rules.ts);
 * - keyframes for seeking: a serialized screen (screen-snapshot.ts) every
 *   keyframeBytes of output or keyframeSeconds of recording time, and the byte
 *   offset in the file where replay continues from it.
 *
 * The file is streamed (cast-reader.ts: lines split on '\n' in Buffers, offsets
 * in bytes) and never held whole. Output goes to the terminal in batched writes;
 * everything that must look at the screen (a key, a resize, a keyframe) runs in
 * the write callback of the output before it, which xterm calls right after
 * parsing that output and before parsing more, so no inspection waits for a timer.
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
   * does not carry (see snapshot(), screen-snapshot.ts).
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

  const onLine: OnLine = (line, offset, next, last) => {
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

/** Options checked at the door, with their defaults filled in. */
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

/** One recording being played: fed its events in file order by analyseCast(). */
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

