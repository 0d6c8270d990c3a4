import { AirlockError } from '../core/pure.js';

/**
 * The airlock recording format, version 1 (recordings/FORMAT.md): magic, then
 * frames of `type:u8 flags:u8 time:u32 length:u32 payload`, big-endian. This file
 * is the layout and a streaming parser; frame-writer.ts writes it, the readers
 * (replay, analysis, export) parse it with FrameParser.
 */
export const MAGIC = Buffer.from([0x89, 0x41, 0x4c, 0x52, 0x0d, 0x0a, 0x1a, 0x0a]);
export const FRAME_HEADER = 10;
/** The most a frame may carry: a reader never holds more than this of one frame. */
export const MAX_FRAME = 16 * 1024 * 1024;

export const Frame = {
  Header: 1,
  Output: 2,
  Stderr: 3,
  Input: 4,
  Resize: 5,
  Marker: 6,
  Hidden: 7,
  Sealed: 8,
} as const;
export type FrameType = (typeof Frame)[keyof typeof Frame];

export interface RecordingHeader {
  format: 'airlock-recording';
  version: 1;
  /** ms since the epoch: frame times count from here. */
  start: number;
  recording: string;
  session: string;
  kind: 'terminal' | 'exec' | 'sftp';
  user: string;
  target: string;
  login: string;
  source: string;
  cols: number;
  rows: number;
  term: string;
  /** The exec command line; null for a shell (or sftp). */
  command: string | null;
  approval: string | null;
  title: string;
}

/** Writes a frame header into buf at off (the payload follows it). */
export function putFrameHeader(buf: Buffer, off: number, type: FrameType, time: number, length: number): void {
  buf[off] = type;
  buf[off + 1] = 0;
  buf.writeUInt32BE(time >>> 0, off + 2);
  buf.writeUInt32BE(length, off + 6);
}

export function isFrameFile(head: Uint8Array): boolean {
  return head.length >= MAGIC.length && MAGIC.equals(Buffer.from(head.buffer, head.byteOffset, MAGIC.length));
}

export interface ParsedFrame {
  type: number;
  flags: number;
  /** ms since the recording's start. */
  time: number;
  payload: Buffer;
  /** Byte offset of the frame in the file (replay can start at a frame). */
  offset: number;
  /** Byte offset just after it. */
  next: number;
}

/**
 * Splits a recording arriving in chunks into frames, with their offsets; never
 * holds more than one frame of data. `start` is the file offset of the first
 * chunk: 0 for the whole file (the magic is checked), or a frame's offset to
 * read from there (replay from a keyframe).
 */
export class FrameParser {
  #parts: Buffer[] = [];
  #have = 0;
  #position: number;
  #needMagic: boolean;

  constructor(start = 0) {
    this.#position = start;
    this.#needMagic = start === 0;
  }

  /** Byte offset up to which everything was parsed into frames. */
  get position(): number {
    return this.#position;
  }

  /** Bytes held: the start of a frame that continues in the next chunk. */
  get pending(): number {
    return this.#have;
  }

  /**
   * Calls onFrame for every whole frame; onFrame returning false stops (push
   * returns false). Frames are read in place: a payload is a view of the chunk,
   * and bytes are copied only for a frame that spans chunks.
   */
  push(chunk: Uint8Array, onFrame: (f: ParsedFrame) => boolean | void): boolean {
    let bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (bytes.length === 0) return true;
    if (this.#needMagic) {
      this.#parts.push(bytes);
      this.#have += bytes.length;
      if (this.#have < MAGIC.length) return true;
      const all = this.#take(this.#have);
      if (!MAGIC.equals(all.subarray(0, MAGIC.length))) throw new AirlockError('ERR_RECORDING_FORMAT', 'not an airlock recording: the file does not start with its magic bytes');
      this.#needMagic = false;
      this.#position += MAGIC.length;
      bytes = all.subarray(MAGIC.length);
    } else if (this.#have > 0) {
      // A frame begun in an earlier chunk: joined once it is whole, then the rest of this chunk is read in place.
      const held = this.#have;
      const have = held + bytes.length;
      if (have < FRAME_HEADER) {
        this.#parts.push(bytes);
        this.#have = have;
        return true;
      }
      const head = Buffer.concat([...this.#parts, bytes], FRAME_HEADER);
      const whole = FRAME_HEADER + this.#frameLength(head, 0);
      if (have < whole) {
        this.#parts.push(bytes);
        this.#have = have;
        return true;
      }
      const used = whole - held;
      const frame = Buffer.concat([...this.#parts, bytes.subarray(0, used)], whole);
      this.#parts = [];
      this.#have = 0;
      if (this.#emit(frame, 0, whole - FRAME_HEADER, onFrame) === false) {
        this.#hold(bytes.subarray(used));
        return false;
      }
      bytes = bytes.subarray(used);
    }
    let i = 0;
    while (bytes.length - i >= FRAME_HEADER) {
      const length = this.#frameLength(bytes, i);
      if (bytes.length - i < FRAME_HEADER + length) break;
      const more = this.#emit(bytes, i, length, onFrame);
      i += FRAME_HEADER + length;
      if (more === false) {
        this.#hold(bytes.subarray(i));
        return false;
      }
    }
    this.#hold(bytes.subarray(i));
    return true;
  }

  #frameLength(b: Buffer, at: number): number {
    const length = b.readUInt32BE(at + 6);
    if (length > MAX_FRAME) throw new AirlockError('ERR_RECORDING_FORMAT', `frame at offset ${this.#position} claims ${length} bytes (at most ${MAX_FRAME})`);
    return length;
  }

  #emit(b: Buffer, at: number, length: number, onFrame: (f: ParsedFrame) => boolean | void): boolean | void {
    const offset = this.#position;
    this.#position += FRAME_HEADER + length;
    const start = at + FRAME_HEADER;
    return onFrame({ type: b[at] as number, flags: b[at + 1] as number, time: b.readUInt32BE(at + 2), payload: b.subarray(start, start + length), offset, next: this.#position });
  }

  /** Keeps the start of a frame that continues in the next chunk (nothing was held before). */
  #hold(rest: Buffer): void {
    this.#parts = rest.length ? [rest] : [];
    this.#have = rest.length;
  }

  /** Consumes the first n held bytes (a copy only when they span chunks). */
  #take(n: number): Buffer {
    let first = this.#parts[0] as Buffer;
    if (first.length < n) {
      first = Buffer.concat(this.#parts);
      this.#parts = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.#parts.shift();
    else this.#parts[0] = first.subarray(n);
    this.#have -= n;
    return out;
  }

}

/** The header frame's JSON, checked; throws ERR_RECORDING_FORMAT. */
export function parseHeader(f: ParsedFrame): RecordingHeader {
  if (f.type !== Frame.Header) throw new AirlockError('ERR_RECORDING_FORMAT', 'the recording does not begin with a header frame');
  let h: unknown;
  try {
    h = JSON.parse(f.payload.toString('utf8'));
  } catch {
    throw new AirlockError('ERR_RECORDING_FORMAT', 'the header frame is not JSON');
  }
  const header = h as Partial<RecordingHeader>;
  if (header.format !== 'airlock-recording' || header.version !== 1 || typeof header.start !== 'number') {
    throw new AirlockError('ERR_RECORDING_FORMAT', 'the header frame is not an airlock recording header of version 1');
  }
  return header as RecordingHeader;
}

/** "cols:u16 rows:u16" */
export function resizePayload(cols: number, rows: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(Math.min(cols, 0xffff));
  b.writeUInt16BE(Math.min(rows, 0xffff), 2);
  return b;
}
