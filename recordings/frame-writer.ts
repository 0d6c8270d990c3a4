import { StringDecoder } from 'node:string_decoder';
import type { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { BufferPool, ByteSink } from './byte-sink.js';
import { Frame, FRAME_HEADER, MAGIC, MAX_FRAME, putFrameHeader, resizePayload } from './frame-format.js';
import type { FrameType, RecordingHeader } from './frame-format.js';
import { Chain } from './integrity.js';
import { InputRedactor, REDACTED } from './redactor.js';
import type { InputEvent } from './redactor.js';

const MAX_TIME = 0xffffffff;

/**
 * Writes one recording in airlock's lossless format (recordings/FORMAT.md) into
 * FILE.alr, and its integrity chain into FILE.alr.chain (recordings/integrity.ts).
 * This is the work behind a Recorder (recordings/recorder.ts), done on the
 * recording thread: the relay's thread only copied the bytes into a batch.
 *
 * Every byte of every direction is kept as it was: a frame header and a copy,
 * no escaping, no text decoding, NULs and invalid UTF-8 included. The one thing
 * not stored as sent is what an engineer typed on a terminal that the target did
 * not echo (passwords): the redactor decides that from the output, and such keys
 * are counted in a `hidden` frame. Decided keys are written before the output
 * that echoes them, at the time they were typed.
 *
 * Durability: frames are buffered and written (one write(2) per flush) when
 * flushBytes are waiting or at tick() (once a second); each flush is one chain
 * entry. Every checkpoint and at close both files are fdatasync'ed after the
 * signed checkpoint is written, so after a crash the recording verifies up to
 * its last checkpoint, and holds what was flushed after.
 *
 * Failure: any write error stops the writer and reports failed() once.
 */
export type InputMode = 'redacted' | 'raw' | 'none';

export interface FrameWriterOptions {
  file: FileHandle;
  chain: FileHandle;
  header: Omit<RecordingHeader, 'format' | 'version' | 'start'>;
  /** When the recording starts (ms since the epoch): frame times count from here. */
  startMs: number;
  ids: { session: string; recording: string };
  key: { privateKey: KeyObject; fingerprint: string };
  /** redacted: typed keys on a terminal (hidden when not echoed); raw: stdin as sent; none: not recorded. */
  input: InputMode;
  /** Output (and stderr) frames; off for SFTP without file content capture. */
  output: boolean;
  flushBytes: number;
}

export interface WriterEvents {
  /**
   * Progress: `raw` more bytes handed to output()/stderr()/input() are framed;
   * `backlog` bytes of the recording wait for the disk (buffered or being
   * written); `length` bytes are on disk.
   */
  progress(raw: number, backlog: number, length: number): void;
  /** A signed checkpoint reached the disk: the database keeps it, so a recording cut back is noticed. */
  checkpoint?(length: number, head: string): void;
  failed(err: Error): void;
}

export interface WriterResult {
  length: number;
  head: string;
  entries: number;
}

/**
 * Streaming recordings on this thread share these, up to 32 kept: a flush's
 * worth (1 MiB by default) and the frame that crosses it.
 */
const POOL = new BufferPool(1024 * 1024 + 64 * 1024, 32);

export class FrameWriter {
  readonly #o: FrameWriterOptions;
  readonly #events: WriterEvents;
  readonly #chain = new Chain();
  readonly #sink = new ByteSink(POOL);
  readonly #in = new StringDecoder('utf8');
  readonly #redactor = new InputRedactor();
  /** Framed bytes handed to the disk and not yet written. */
  #writing = 0;
  #queue: Promise<void> = Promise.resolve();
  #lastTime = 0;
  #failed: Error | undefined;
  #closed = false;
  #result: Promise<WriterResult> | undefined;

  constructor(options: FrameWriterOptions, events: WriterEvents) {
    this.#o = options;
    this.#events = events;
    const header: RecordingHeader = { format: 'airlock-recording', version: 1, start: options.startMs, ...options.header };
    this.#sink.bytes(MAGIC);
    this.#frame(Frame.Header, options.startMs, Buffer.from(JSON.stringify(header)));
  }

  output(ms: number, data: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    // Keys this output echoes are written before it, at the time they were typed:
    // the file stays in the order things happened (a key, then its echo).
    if (this.#o.input === 'redacted' && this.#redactor.waiting) {
      this.#decided(this.#redactor.output(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'), ms));
    }
    if (this.#o.output) this.#frames(Frame.Output, ms, data);
    this.#took(data.length);
  }

  stderr(ms: number, data: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    if (this.#o.output) this.#frames(Frame.Stderr, ms, data);
    this.#took(data.length);
  }

  input(ms: number, data: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    if (this.#o.input === 'raw') {
      this.#frames(Frame.Input, ms, data);
    } else if (this.#o.input === 'redacted') {
      const text = this.#in.write(Buffer.from(data.buffer, data.byteOffset, data.length));
      // The redactor keeps each key's own time; frames are written when decided.
      if (text) this.#decided(this.#redactor.input((ms - this.#o.startMs) / 1000, text, ms));
    }
    this.#took(data.length);
  }

  resize(ms: number, cols: number, rows: number): void {
    if (this.#failed || this.#closed) return;
    this.#frame(Frame.Resize, ms, resizePayload(cols, rows));
    this.#maybeFlush();
  }

  marker(ms: number, label: string): void {
    if (this.#failed || this.#closed) return;
    this.#frame(Frame.Marker, ms, Buffer.from(label, 'utf8'));
    this.#maybeFlush();
  }

  /** Once a second: decides typed keys whose echo window passed, and flushes. */
  tick(ms: number): void {
    if (this.#failed || this.#closed) return;
    if (this.#o.input === 'redacted') this.#decided(this.#redactor.tick(ms));
    this.#flush();
  }

  /** Flushes and writes a signed checkpoint, then syncs both files to disk. */
  checkpoint(ms: number, final = false): Promise<void> {
    if (this.#failed || (this.#closed && !final)) return this.#queue;
    this.#flush();
    return this.#enqueue(async () => {
      const entry = this.#chain.checkpoint(this.#o.ids, new Date(ms), final, this.#o.key);
      await this.#o.chain.write(JSON.stringify(entry) + '\n');
      await this.#o.file.datasync();
      await this.#o.chain.datasync();
      this.#events.checkpoint?.(entry.body.length, entry.body.head);
    });
  }

  /** Ends the recording: the final signed checkpoint, synced, files closed. Idempotent. */
  close(ms: number): Promise<WriterResult> {
    this.#result ??= (async () => {
      if (!this.#failed && this.#o.input === 'redacted') this.#decided(this.#redactor.flush());
      this.#closed = true;
      await this.checkpoint(ms, true);
      await Promise.allSettled([this.#o.file.close(), this.#o.chain.close()]);
      return { length: this.#chain.length, head: this.#chain.head.toString('hex'), entries: this.#chain.entries };
    })();
    return this.#result;
  }

  /**
   * Times in the file never go backwards: the relay's clock reading can (a batch,
   * a decided key). After 2^32 - 1 ms (49.7 days, far beyond any grant) they stay
   * there rather than wrap: the order of the bytes is kept, their times are not.
   */
  #time(ms: number): number {
    const t = Math.min(MAX_TIME, Math.max(this.#lastTime, Math.max(0, Math.round(ms - this.#o.startMs))));
    this.#lastTime = t;
    return t;
  }

  #frame(type: FrameType, ms: number, payload: Uint8Array): void {
    const sink = this.#sink;
    sink.reserve(FRAME_HEADER + payload.length);
    putFrameHeader(sink.buf, sink.len, type, this.#time(ms), payload.length);
    sink.buf.set(payload, sink.len + FRAME_HEADER);
    sink.len += FRAME_HEADER + payload.length;
  }

  /** Data as one or more frames (a chunk larger than a frame may hold is split). */
  #frames(type: FrameType, ms: number, data: Uint8Array): void {
    for (let off = 0; off < data.length; off += MAX_FRAME) this.#frame(type, ms, data.subarray(off, Math.min(data.length, off + MAX_FRAME)));
  }

  /** Keys the redactor decided: echoed ones as input frames, hidden runs as their byte count. */
  #decided(events: InputEvent[]): void {
    for (const e of events) {
      const ms = this.#o.startMs + e.t * 1000;
      if (!e.hidden) {
        this.#frame(Frame.Input, ms, Buffer.from(e.data, 'utf8'));
        continue;
      }
      // Control keys between hidden runs stay; each run is its byte count only.
      e.data.split(REDACTED).forEach((part, i) => {
        if (i > 0) {
          const size = Buffer.alloc(4);
          size.writeUInt32BE(e.hidden?.[i - 1] ?? 0);
          this.#frame(Frame.Hidden, ms, size);
        }
        if (part) this.#frame(Frame.Input, ms, Buffer.from(part, 'utf8'));
      });
    }
  }

  #maybeFlush(): void {
    if (this.#sink.len >= this.#o.flushBytes) this.#flush(true);
  }

  /** `raw` bytes are framed: flush if enough is waiting, and say so. */
  #took(raw: number): void {
    this.#maybeFlush();
    this.#progress(raw);
  }

  #progress(raw: number): void {
    if (!this.#failed) this.#events.progress(raw, this.#sink.len + this.#writing, this.#chain.length - this.#writing);
  }

  /** `streaming`: flushed because flushBytes were waiting, not by the clock. */
  #flush(streaming = false): void {
    if (this.#failed || this.#sink.len === 0) return;
    const data = this.#sink.take(streaming);
    const entry = this.#chain.add(data);
    this.#writing += data.length;
    void this.#enqueue(async () => {
      try {
        await writeAll(this.#o.file, data);
        await this.#o.chain.write(JSON.stringify(entry) + '\n');
      } finally {
        this.#writing -= data.length;
        this.#sink.release(data);
      }
      this.#progress(0);
    });
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      try {
        await work();
      } catch (err) {
        this.#failed = err as Error;
        this.#events.failed(err as Error);
      }
    });
    return this.#queue;
  }
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    if (bytesWritten === 0) throw new Error('write returned 0 bytes');
    off += bytesWritten;
  }
}
