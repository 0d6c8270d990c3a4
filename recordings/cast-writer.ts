import { StringDecoder } from 'node:string_decoder';
import type { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { eventLine, headerLine } from './asciicast.js';
import type { CastHeader, EventCode } from './asciicast.js';
import { BufferPool, ByteSink, JsonTextEncoder } from './cast-encoder.js';
import { Chain } from './integrity.js';
import { InputRedactor } from './redactor.js';

/**
 * Writes one recording: asciicast events into FILE.cast, the integrity chain into
 * FILE.chain (recordings/integrity.ts). This is the work behind a Recorder
 * (recordings/recorder.ts), done on the recording thread so that encoding,
 * hashing and writing never hold up the relay. Every call carries the time (ms)
 * at which the relay saw what it records.
 *
 * Output bytes go straight into the event line (recordings/cast-encoder.ts): no
 * JavaScript strings in between, NUL bytes left out and counted in a marker.
 *
 * Durability: events are buffered and written (one write(2) per flush) when
 * flushBytes are waiting or at tick() (once a second); each flush is one chain
 * entry. Every checkpoint and at close both files are fdatasync'ed after the
 * signed checkpoint is written, so after a crash the recording verifies up to
 * its last checkpoint, and holds what was flushed after.
 *
 * Failure: any write error stops the writer and reports failed() once.
 */
export interface CastWriterOptions {
  cast: FileHandle;
  chain: FileHandle;
  header: Omit<CastHeader, 'timestamp' | 'version'>;
  /** When the recording starts (ms since the epoch): event times count from here. */
  startMs: number;
  ids: { session: string; recording: string };
  key: { privateKey: KeyObject; fingerprint: string };
  /** Record typed input (interactive sessions), with non-echoed input hidden. */
  recordInput: boolean;
  flushBytes: number;
}

export interface CastWriterEvents {
  /**
   * Progress: `raw` more bytes handed to output()/stderr()/input() are encoded;
   * `backlog` bytes of the recording wait for the disk (buffered or being
   * written); `length` bytes are on disk.
   */
  progress(raw: number, backlog: number, length: number): void;
  failed(err: Error): void;
}

export interface CastWriterResult {
  length: number;
  head: string;
  entries: number;
}

/** Streaming recordings on this thread share these (1 MiB each, up to 32 kept). */
const POOL = new BufferPool(1024 * 1024, 32);

export class CastWriter {
  readonly #o: CastWriterOptions;
  readonly #events: CastWriterEvents;
  readonly #chain = new Chain();
  readonly #sink = new ByteSink(POOL);
  readonly #out = new JsonTextEncoder();
  readonly #err = new JsonTextEncoder();
  readonly #in = new StringDecoder('utf8');
  readonly #redactor = new InputRedactor();
  /** Encoded bytes handed to the disk and not yet written. */
  #writing = 0;
  #queue: Promise<void> = Promise.resolve();
  #lastT = 0;
  #failed: Error | undefined;
  #closed = false;
  #result: Promise<CastWriterResult> | undefined;
  #stream: 'stdout' | 'stderr' = 'stdout';

  constructor(options: CastWriterOptions, events: CastWriterEvents) {
    this.#o = options;
    this.#events = events;
    this.#sink.bytes(Buffer.from(headerLine({ version: 2, timestamp: Math.floor(options.startMs / 1000), ...options.header })));
  }

  output(ms: number, data: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    this.#switchTo(ms, 'stdout');
    // Keys this output echoes are written before it, at the time they were typed:
    // the file stays in the order things happened (a key, then its echo).
    if (this.#o.recordInput && this.#redactor.waiting) {
      const text = Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8');
      this.#inputEvents(this.#redactor.output(text, ms));
    }
    this.#textEvent(ms, this.#out, data);
    this.#took(data.length);
  }

  /** stderr of an exec: shown as output, with markers where the stream switches. */
  stderr(ms: number, data: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    this.#switchTo(ms, 'stderr');
    this.#textEvent(ms, this.#err, data);
    this.#took(data.length);
  }

  input(ms: number, data: Uint8Array): void {
    if (this.#failed || this.#closed) return;
    if (this.#o.recordInput) {
      const text = this.#in.write(Buffer.from(data.buffer, data.byteOffset, data.length));
      // Its own time: events are kept in order when written (#inputEvents).
      if (text) this.#inputEvents(this.#redactor.input((ms - this.#o.startMs) / 1000, text, ms));
    }
    this.#took(data.length);
  }

  resize(ms: number, cols: number, rows: number): void {
    this.#event(ms, 'r', `${cols}x${rows}`);
  }

  marker(ms: number, label: string): void {
    this.#event(ms, 'm', label.slice(0, 1000));
  }

  /** Once a second: decides typed keys whose echo window passed, and flushes. */
  tick(ms: number): void {
    if (this.#failed || this.#closed) return;
    if (this.#o.recordInput) this.#inputEvents(this.#redactor.tick(ms));
    this.#flush();
  }

  /** Flushes and writes a signed checkpoint, then syncs both files to disk. */
  checkpoint(ms: number, final = false): Promise<void> {
    if (this.#failed || (this.#closed && !final)) return this.#queue;
    this.#flush();
    return this.#enqueue(async () => {
      const entry = this.#chain.checkpoint(this.#o.ids, new Date(ms), final, this.#o.key);
      await this.#o.chain.write(JSON.stringify(entry) + '\n');
      await this.#o.cast.datasync();
      await this.#o.chain.datasync();
    });
  }

  /** Ends the recording: the final signed checkpoint, synced, files closed. Idempotent. */
  close(ms: number): Promise<CastWriterResult> {
    this.#result ??= (async () => {
      if (!this.#failed) {
        if (this.#o.recordInput) this.#inputEvents(this.#redactor.flush());
        if (this.#out.unfinished) this.#textEvent(ms, this.#out, null);
        if (this.#err.unfinished) this.#textEvent(ms, this.#err, null);
      }
      this.#closed = true;
      await this.checkpoint(ms, true);
      await Promise.allSettled([this.#o.cast.close(), this.#o.chain.close()]);
      return { length: this.#chain.length, head: this.#chain.head.toString('hex'), entries: this.#chain.entries };
    })();
    return this.#result;
  }

  #switchTo(ms: number, stream: 'stdout' | 'stderr'): void {
    if (this.#stream === stream) return;
    this.#stream = stream;
    this.#event(ms, 'm', stream);
  }

  #t(ms: number): number {
    const t = Math.max(this.#lastT, (ms - this.#o.startMs) / 1000);
    this.#lastT = t;
    return t;
  }

  /** An "o" event straight from bytes; none when they show nothing (NULs, half a character). */
  #textEvent(ms: number, encoder: JsonTextEncoder, data: Uint8Array | null): void {
    const sink = this.#sink;
    const mark = sink.len;
    sink.ascii(`[${this.#t(ms).toFixed(6)}, "o", "`);
    const body = sink.len;
    if (data) encoder.write(data, sink);
    else encoder.end(sink);
    if (sink.len === body) sink.len = mark;
    else sink.ascii('"]\n');
  }

  #event(ms: number, code: EventCode, data: string): void {
    if (this.#failed || this.#closed) return;
    this.#sink.bytes(Buffer.from(eventLine(this.#t(ms), code, data)));
    this.#maybeFlush();
  }

  /** Decided input events keep their own time unless that would go backwards. */
  #inputEvents(events: Array<{ t: number; data: string }>): void {
    for (const e of events) {
      const t = Math.max(e.t, this.#lastT);
      this.#lastT = t;
      this.#sink.bytes(Buffer.from(eventLine(t, 'i', e.data)));
    }
  }

  #maybeFlush(): void {
    if (this.#sink.len >= this.#o.flushBytes) this.#flush(true);
  }

  /** `raw` bytes are encoded: flush if enough is waiting, and say so. */
  #took(raw: number): void {
    this.#maybeFlush();
    this.#progress(raw);
  }

  #progress(raw: number): void {
    if (!this.#failed) this.#events.progress(raw, this.#sink.len + this.#writing, this.#chain.length - this.#writing);
  }

  /** `streaming`: flushed because flushBytes were waiting, not by the clock. */
  #flush(streaming = false): void {
    if (this.#failed) return;
    const nuls = this.#out.takeNuls() + this.#err.takeNuls();
    if (nuls > 0) {
      const text = `${nuls} NUL byte${nuls === 1 ? '' : 's'} of output not recorded (a terminal shows nothing for them)`;
      this.#sink.bytes(Buffer.from(eventLine(this.#lastT, 'm', text)));
    }
    if (this.#sink.len === 0) return;
    const data = this.#sink.take(streaming);
    const entry = this.#chain.add(data);
    this.#writing += data.length;
    void this.#enqueue(async () => {
      try {
        await writeAll(this.#o.cast, data);
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
