import { AirlockError } from '../core/index.js';
import type { CastHeader, EventCode } from './asciicast.js';
import { FrameEvents, castHeaderOf } from './frame-events.js';
import { Frame, FRAME_HEADER, FrameParser, MAGIC, MAX_FRAME, parseHeader } from './frame-format.js';
import type { ParsedFrame } from './frame-format.js';
import type { RecordingRow } from './recordings.js';
import type { RecordingStore } from './store.js';

/**
 * A stretch of a recording to play, for the replay API: where to start (a
 * keyframe) and asciicast-style events from there, for both formats. The
 * lossless format (recordings/FORMAT.md) is read frame by frame from the
 * keyframe's offset and shown through the same view as the export
 * (frame-events.ts); older asciicast recordings line by line.
 */
export interface ReplayWindow {
  header: CastHeader;
  /** Seconds; null until analysed. */
  duration: number | null;
  /** The screen to draw first (reset the terminal, resize, write it), or null: start from a blank one. */
  keyframe: { t: number; cols: number; rows: number; screen: string } | null;
  /** From the keyframe (or the start) up to `at + window`: apply those before `at` at once, then play the rest. */
  events: Array<[number, EventCode, string]>;
  /** Byte offset after the last event returned: ask again from here for more (`from`). */
  nextOffset: number;
  /** True when the recording has no events after these. */
  end: boolean;
}

export interface ReplayOptions {
  /** Seconds into the recording. */
  at: number;
  /** Seconds of events after `at` to include. */
  window: number;
  /** Cap on the bytes of recording read for one answer. */
  maxBytes: number;
  /** Continue from this byte offset (a previous answer's nextOffset) instead of seeking. */
  from?: number | undefined;
}

export interface KeyframeAt {
  t: number;
  castOffset: number;
  cols: number;
  rows: number;
  screen: string;
}

const HEADER_MAX = 64 * 1024;

export function replayWindow(store: RecordingStore, row: RecordingRow, o: ReplayOptions, k: KeyframeAt | undefined): Promise<ReplayWindow> {
  return row.format === 'airlock-v1' ? frameWindow(store, row, o, k) : castWindow(store, row, o, k);
}

/**
 * The header frame, read by its own length: an exec with a long command line
 * has a header larger than the first read (up to MAX_FRAME, as any frame).
 */
async function headerFrame(store: RecordingStore, path: string): Promise<ParsedFrame> {
  let head = await store.readRange(path, 0, HEADER_MAX);
  if (head.length >= MAGIC.length + FRAME_HEADER) {
    const length = head.readUInt32BE(MAGIC.length + 6);
    const whole = MAGIC.length + FRAME_HEADER + length;
    if (length <= MAX_FRAME && whole > head.length) head = await store.readRange(path, 0, whole);
  }
  let first: ParsedFrame | undefined;
  new FrameParser().push(head, (f) => {
    first = f;
    return false;
  });
  if (!first || first.type !== Frame.Header) throw new AirlockError('ERR_RECORDING_FORMAT', 'the recording has no complete header frame');
  return first;
}

const FRAME_TYPES = new Set<number>(Object.values(Frame));

async function frameWindow(store: RecordingStore, row: RecordingRow, o: ReplayOptions, k: KeyframeAt | undefined): Promise<ReplayWindow> {
  const first = await headerFrame(store, row.path);
  const header = castHeaderOf(parseHeader(first)) as unknown as CastHeader;
  let from = first.next;
  let keyframe: ReplayWindow['keyframe'] = null;
  if (o.from !== undefined) from = Math.max(from, o.from);
  else if (k) {
    from = k.castOffset;
    keyframe = { t: k.t, cols: k.cols, rows: k.rows, screen: k.screen };
  }
  let data = await store.readRange(row.path, from, o.maxBytes);
  if (data.length >= FRAME_HEADER) {
    // `from` comes from the caller: it must be where a frame starts (a previous
    // answer's nextOffset), or what follows is read as nonsense.
    const length = data.readUInt32BE(6);
    if (!FRAME_TYPES.has(data[0] as number) || length > MAX_FRAME) {
      throw new AirlockError('ERR_INVALID_INPUT', `offset ${from} is not the start of a frame: continue from a previous answer's nextOffset`, { details: { field: 'from' } });
    }
    // One frame larger than maxBytes: read that frame whole, or the answer would never move on.
    if (data.length === o.maxBytes && data.length < FRAME_HEADER + length) data = await store.readRange(row.path, from, FRAME_HEADER + length);
  }
  const until = o.at + o.window;
  const events: ReplayWindow['events'] = [];
  const view = new FrameEvents();
  const parser = new FrameParser(from);
  let next = from;
  let stopped = false;
  parser.push(data, (f) => {
    const before = events.length;
    view.push(f, (t, code, text) => events.push([t, code, text]));
    const last = events[events.length - 1];
    if (events.length > before && before > 0 && last && last[0] > until) {
      events.length = before; // this frame belongs to the next answer
      stopped = true;
      return false;
    }
    next = f.next;
    return true;
  });
  const atEnd = !stopped && data.length < o.maxBytes;
  if (atEnd) view.end((t, code, text) => events.push([t, code, text]));
  // A torn frame at the end of the file (a crash) is where the recording ends.
  return { header, duration: row.duration, keyframe, events, nextOffset: next, end: atEnd };
}

async function castWindow(store: RecordingStore, row: RecordingRow, o: ReplayOptions, k: KeyframeAt | undefined): Promise<ReplayWindow> {
  const head = await store.readRange(row.path, 0, HEADER_MAX);
  if (head.subarray(0, MAGIC.length).equals(MAGIC)) throw new AirlockError('ERR_RECORDING_FORMAT', 'the recording is in airlock format, its row says asciicast');
  const headerEnd = head.indexOf(0x0a);
  if (headerEnd < 0) throw new AirlockError('ERR_RECORDING_FORMAT', 'the recording has no complete header');
  const header = JSON.parse(head.subarray(0, headerEnd).toString('utf8')) as CastHeader;
  let from = headerEnd + 1;
  let keyframe: ReplayWindow['keyframe'] = null;
  if (o.from !== undefined) {
    from = Math.max(from, o.from);
  } else if (k) {
    from = k.castOffset;
    keyframe = { t: k.t, cols: k.cols, rows: k.rows, screen: k.screen };
  }
  const data = await store.readRange(row.path, from, o.maxBytes);
  const events: ReplayWindow['events'] = [];
  const until = o.at + o.window;
  let at = 0;
  let end = false;
  for (;;) {
    const nl = data.indexOf(0x0a, at);
    if (nl < 0) {
      // The last line read is cut off by maxBytes, or torn at the end of the file.
      end = data.length < o.maxBytes;
      break;
    }
    let event: [number, EventCode, string];
    try {
      event = JSON.parse(data.subarray(at, nl).toString('utf8')) as [number, EventCode, string];
    } catch {
      end = true; // a torn line after a crash: nothing after it is readable
      break;
    }
    if (event[0] > until && events.length > 0) break;
    events.push(event);
    at = nl + 1;
  }
  if (!end && at >= data.length && data.length < o.maxBytes) end = true;
  return { header, duration: row.duration, keyframe, events, nextOffset: from + at, end };
}
