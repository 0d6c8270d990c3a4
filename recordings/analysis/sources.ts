import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { FrameEvents } from '../frame-events.js';
import { Frame, FrameParser, isFrameFile, MAGIC, parseHeader } from '../frame-format.js';
import { CastAnalyser, checkOptions } from './analyse.js';
import type { AnalysisOptions, AnalysisResult, OnCommand } from './analyse.js';
import { checkHeader, isBlank, isEvent, LineSplitter, parseJson } from './cast-reader.js';
import type { OnLine } from './cast-reader.js';

/**
 * Where analysis reads from: a recording in airlock's format (frames,
 * recordings/FORMAT.md) or an older asciicast file, streamed, told apart by
 * their first bytes. Both become the same events for the analyser (analyse.ts):
 * offsets are where replay can start (a frame, or an event line).
 */
const FILE_READ_BYTES = 1024 * 1024;

/** Streams a cast (chunks of the file, in order) through a headless terminal. Never holds the whole file. */
export async function analyseCast(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AnalysisOptions = {},
  onCommand?: OnCommand,
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
      analyser = new CastAnalyser(checkHeader(value), next, settings, onCommand);
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

/**
 * Streams a recording in airlock's format (recordings/FORMAT.md) through the
 * same analyser, as the events the export shows (frame-events.ts); offsets are
 * frame offsets, where replay can start.
 */
export async function analyseFrames(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: AnalysisOptions = {},
  onCommand?: OnCommand,
): Promise<AnalysisResult> {
  const settings = checkOptions(options);
  const parser = new FrameParser();
  const view = new FrameEvents();
  let analyser: CastAnalyser | undefined;
  const emit = (t: number, code: string, data: string, offset: number) => analyser?.event(t, code, data, offset);
  try {
    for await (const chunk of chunks) {
      parser.push(chunk, (f) => {
        if (analyser) {
          // Output goes to the analyser as bytes (output-batch.ts); the rest as the events the export shows.
          if (f.flags === 0 && (f.type === Frame.Output || f.type === Frame.Stderr)) analyser.output(f.time / 1000, f.payload, f.offset, f.type === Frame.Output ? 0 : 1);
          else view.push(f, emit);
          return;
        }
        const h = parseHeader(f);
        analyser = new CastAnalyser({ cols: fit(h.cols, 1000, 80), rows: fit(h.rows, 500, 24), kind: h.kind, command: h.command }, f.next, settings, onCommand);
      });
      if (analyser) await analyser.backpressure();
    }
    if (!analyser) return { kind: 'terminal', commands: [], keyframes: [], outputBytes: 0, events: 0, duration: 0, truncated: parser.pending > 0 };
    view.end(emit);
    return await analyser.finish(parser.pending > 0);
  } finally {
    await analyser?.dispose();
  }
}

function fit(n: number, max: number, fallback: number): number {
  return Number.isInteger(n) && n >= 2 && n <= max ? n : fallback;
}

/** Either format, told apart by the first bytes of the file. */
export async function analyseFile(path: string, options?: AnalysisOptions): Promise<AnalysisResult> {
  const fh = await open(path, 'r');
  const head = Buffer.alloc(MAGIC.length);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const stream = createReadStream(path, { highWaterMark: FILE_READ_BYTES });
  return isFrameFile(head) ? analyseFrames(stream, options) : analyseCast(stream, options);
}
