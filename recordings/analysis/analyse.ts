import type { Terminal as HeadlessTerminal } from '@xterm/headless';
import type { SerializeAddon as Serializer } from '@xterm/addon-serialize';
import { AirlockError } from '../../core/pure.js';
import { risksOf } from '../risk-rules.js';
import type { Risk } from '../risk-rules.js';
import { parseSize } from './cast-reader.js';
import { OutputBatch } from './output-batch.js';
import type { Stream } from './output-batch.js';
import type { Header } from './cast-reader.js';
import { CommandDetector } from './command-detector.js';
import type { CommandContext, DetectedLine } from './command-detector.js';
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
  /** shell: typed at a shell prompt (or an exec's command); program: a line typed into a program (python3, sqlite3). */
  context: CommandContext;
  /** Typed without echo at a shell prompt: `text` is empty, the keys are sealed in the recording. */
  sealed: boolean;
}

/** The flag on a line typed at a shell prompt with echo off: what ran is not on the screen. */
export const HIDDEN_INPUT: Risk = { rule: 'hidden-input', reason: 'input hidden from the screen at a shell prompt', severity: 'high' };

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
  /** Bytes of output (stdout and stderr) as recorded; of an asciicast file, UTF-8 bytes of its "o" data. */
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
/** A shell that reads its commands from stdin: sh, bash, dash, zsh, ksh, with options, -s or -. */
const SHELL_ON_STDIN = /^(?:exec\s+)?(?:\S*\/)?(?:ba|da|z|k|mk)?sh(?:\s+-[a-zA-Z]+)*(?:\s+-)?\s*$/;
const MAX_STDIN_LINE = 16 * 1024;

/** An exec whose commands come on stdin (a shell fed without a terminal), not only in its command line. */
export function readsCommandsOnStdin(command: string | null | undefined): boolean {
  return command === null || (command !== undefined && SHELL_ON_STDIN.test(command));
}
/** Newlines of output after an Enter at which deferred lines are looked for (each costs a write with a callback). */
const NEWLINES_PER_ENTER = 64;

export interface Settings {
  keyframeBytes: number;
  keyframeSeconds: number;
}

/** Told of each command as soon as it is found (live analysis: recordings/live-analysis.ts). */
export type OnCommand = (c: AnalysedCommand) => void;

/** Options checked at the door, with their defaults filled in. */
export function checkOptions(o: AnalysisOptions): Settings {
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
export class CastAnalyser {
  readonly #term: HeadlessTerminal;
  readonly #serializer: Serializer;
  readonly #kind: string;
  readonly #settings: Settings;
  readonly #detector: CommandDetector | undefined;
  readonly #commands: AnalysedCommand[] = [];
  readonly #keyframes: Keyframe[] = [];
  readonly #stdinCommands: boolean;
  /** The stdin line being read, with the time and offset where it began. */
  #line = '';
  #lineAt: { t: number; offset: number } | undefined;

  /** Output not yet handed to the terminal, and characters handed to it and not yet parsed. */
  readonly #batch = new OutputBatch();
  #pending = 0;
  #wake: (() => void) | undefined;
  #failure: { error: unknown } | undefined;

  /** Newlines of output still read for lines entered before their echo (reset at each Enter). */
  #newlines = 0;
  /** Output came since the last keys. */
  #answered = true;
  #events = 0;
  #outputBytes = 0;
  #lastT = 0;
  /** Output since the last keyframe, its time, and whether the next event line gets one. */
  #sinceKeyframe = 0;
  #keyframeT = 0;
  #keyframeDue = false;

  readonly #onCommand: OnCommand | undefined;

  constructor(header: Header, firstEvent: number, settings: Settings, onCommand?: OnCommand) {
    this.#onCommand = onCommand;
    this.#kind = header.kind;
    // A shell fed on stdin without a terminal (ssh -T host, ssh host 'bash -s' < script): each line is a command.
    this.#stdinCommands = header.kind === 'exec' && readsCommandsOnStdin(header.command);
    this.#settings = settings;
    this.#term = new Terminal({ cols: header.cols, rows: header.rows, scrollback: 0, allowProposedApi: true, logLevel: 'off' });
    this.#serializer = new SerializeAddon();
    this.#term.loadAddon(this.#serializer);
    const record = (t: number, text: string, castOffset: number, line: DetectedLine): void => {
      const risks = line.sealed ? [HIDDEN_INPUT] : risksOf(text);
      this.#command({ t, text, castOffset, risks, context: line.context, sealed: line.sealed });
    };
    this.#detector = header.kind === 'terminal' ? new CommandDetector(this.#term, record) : undefined;
    this.#keyframes.push(this.#snapshot(0, firstEvent));
  }

  /** An event as the export shows it (frame-events.ts), or a line of an asciicast file. */
  event(t: number, code: string, data: string, offset: number): void {
    if (code === 'o') {
      this.output(t, Buffer.from(data, 'utf8'), offset, 0);
      return;
    }
    this.#begin(t, offset);
    switch (code) {
      case 'i': {
        const detector = this.#detector;
        if (detector) {
          const answered = this.#answered;
          this.#answered = false;
          this.#write(() => detector.input(t, data, offset, answered));
          if (/[\r\n]/.test(data)) this.#newlines = NEWLINES_PER_ENTER;
        } else if (this.#stdinCommands) {
          this.#stdinLines(t, data, offset);
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
          if (text) this.#command({ t, text, castOffset: offset, risks: risksOf(text), context: 'shell', sealed: false });
        }
        break;
      default:
        break; // codes from later versions of the format
    }
    this.#end(t);
  }

  /**
   * Output as recorded (a frame's payload; stream 1 is stderr), kept as bytes on
   * its way to the terminal (output-batch.ts). Not held after the call returns
   * beyond the batch: the caller must not reuse the buffer.
   */
  output(t: number, bytes: Buffer, offset: number, stream: Stream): void {
    this.#begin(t, offset);
    this.#outputBytes += bytes.length;
    this.#sinceKeyframe += bytes.length;
    this.#answered = true;
    if (this.#batch.length > 0 && this.#batch.stream !== stream) this.#write();
    const detector = this.#detector;
    // After an Enter, a newline ends an entered line: a line the detector deferred
    // (entered before its echo came back) is read just before it. Lines typed ahead
    // (a paste of several) show later, after the output of the lines before them,
    // so the next newlines are offered too, up to a bound per Enter.
    let from = 0;
    for (let nl = detector && this.#newlines > 0 ? bytes.indexOf(0x0a) : -1; detector && nl !== -1 && this.#newlines > 0; nl = bytes.indexOf(0x0a, nl + 1)) {
      this.#newlines--;
      this.#batch.push(bytes.subarray(from, nl), stream);
      this.#write(() => detector.resolve());
      from = nl;
    }
    this.#batch.push(from === 0 ? bytes : bytes.subarray(from), stream);
    if (this.#batch.length >= WRITE_BATCH) this.#write();
    this.#end(t);
  }

  /** Before each event: the keyframe due before it. */
  #begin(t: number, offset: number): void {
    if (this.#keyframeDue) this.#keyframe(offset);
    this.#events++;
    this.#lastT = t;
  }

  /** After each event: whether the next one gets a keyframe. */
  #end(t: number): void {
    const s = this.#settings;
    if (this.#sinceKeyframe >= s.keyframeBytes || (this.#sinceKeyframe > 0 && t - this.#keyframeT >= s.keyframeSeconds)) {
      // Taken before the next event line, so that a keyframe always points at one.
      this.#keyframeDue = true;
    }
  }

  /** Lines a shell reads from stdin, as commands; a heredoc's body or a script's comments are read as they are. */
  #stdinLines(t: number, data: string, offset: number): void {
    let rest = data;
    for (let nl = rest.indexOf('\n'); nl !== -1; nl = rest.indexOf('\n')) {
      this.#lineAt ??= { t, offset };
      this.#stdinCommand(this.#line + rest.slice(0, nl));
      this.#line = '';
      this.#lineAt = undefined;
      rest = rest.slice(nl + 1);
    }
    if (rest) {
      this.#lineAt ??= { t, offset };
      this.#line = (this.#line + rest).slice(-MAX_STDIN_LINE);
    }
  }

  #stdinCommand(line: string): void {
    const text = line.replace(/\r$/, '').trim();
    const at = this.#lineAt;
    if (!text || text.startsWith('#') || !at) return;
    this.#command({ t: at.t, text: text.slice(0, MAX_STDIN_LINE), castOffset: at.offset, risks: risksOf(text), context: 'shell', sealed: false });
  }

  #command(c: Omit<AnalysedCommand, 'seq'>): void {
    const command = { seq: this.#commands.length, ...c };
    this.#commands.push(command);
    this.#onCommand?.(command);
  }

  /** Waits while the terminal is far behind. */
  async backpressure(): Promise<void> {
    while (this.#pending > MAX_PENDING && !this.#failure) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    this.#rethrow();
  }

  async finish(truncated: boolean): Promise<AnalysisResult> {
    if (this.#line) this.#stdinCommand(this.#line);
    this.#write();
    this.#term.write(this.#batch.end());
    await new Promise<void>((resolve) =>
      this.#write(() => {
        this.#detector?.resolve(true); // last lines whose echo never came
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
    const data = this.#batch.take();
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

