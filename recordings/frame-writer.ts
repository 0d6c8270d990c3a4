import { StringDecoder } from 'node:string_decoder';
import type { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { BufferPool, ByteSink } from './byte-sink.js';
import { Frame, FRAME_HEADER, MAGIC, MAX_FRAME, putFrameHeader, resizePayload } from './frame-format.js';
import type { FrameType, RecordingHeader } from './frame-format.js';
import { Chain } from './integrity.js';
import { InputRedactor, REDACTED } from './redactor.js';
import type { Decision } from './redactor.js';
import { seal } from './sealing.js';

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
 * not echo (passwords): the redactor decides that from the output, such keys
 * are counted in a `hidden` frame, and sealed to the customer's reveal key in a
 * `sealed` frame (recordings/sealing.ts) when one is configured. Keys are
 * written before the output that echoes them, at the time they were typed: while
 * keys wait for their judgement, output is held back (copied) and written after.
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
  /** age recipients (`age1…`) hidden input is sealed to; none: hidden input is only counted. */
  revealRecipients?: readonly string[];
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
/** Output held behind undecided keys beyond this decides them with what was seen (a key typed into a flood). */
const MAX_HELD = 4 * 1024 * 1024;
/** Hidden input past this is sealed at once (a frame holds what was hidden until then). */
const MAX_SEAL = 64 * 1024;
/** Hidden keys without an Enter after them are sealed once none came for this long. */
const SEAL_IDLE_MS = 5000;
/** Output looked at for the line the cursor is on when no keys wait. */
const TAIL = 2048;

interface Held {
  type: FrameType;
  ms: number;
  data: Buffer;
}

export class FrameWriter {
  readonly #o: FrameWriterOptions;
  readonly #events: WriterEvents;
  readonly #chain = new Chain();
  readonly #sink = new ByteSink(POOL);
  readonly #in = new StringDecoder('utf8');
  readonly #redactor = new InputRedactor();
  /** Output held behind undecided keys (bytes). */
  #held = 0;
  /** Hidden runs not yet sealed, and the sealing under way. */
  #unsealed: Buffer[] = [];
  #unsealedBytes = 0;
  #lastHidden = 0;
  /** The latest monotonic reading given (output(), input(), tick()). */
  #mono = 0;
  #sealing: Promise<void> = Promise.resolve();
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

  /** `mono`: the clock's monotonic reading (Clock.monotonic), which the echo judge's waits run on; else ms. */
  output(ms: number, data: Uint8Array, mono = ms): void {
    this.#out(Frame.Output, ms, data, mono);
  }

  stderr(ms: number, data: Uint8Array, mono = ms): void {
    this.#out(Frame.Stderr, ms, data, mono);
  }

  #out(type: FrameType, ms: number, data: Uint8Array, mono: number): void {
    if (this.#failed || this.#closed) return;
    this.#mono = mono;
    if (this.#o.input === 'redacted' && this.#typedOutput(type, ms, data)) return this.#took(data.length);
    if (this.#o.output) this.#frames(type, ms, data);
    this.#took(data.length);
  }

  /**
   * Output of a terminal, shown to the redactor: it judges keys by it, and keeps
   * the line the cursor is on. True when it is held behind undecided keys.
   */
  #typedOutput(type: FrameType, ms: number, data: Uint8Array): boolean {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    if (!this.#redactor.waiting) {
      this.#redactor.output(bytes.subarray(Math.max(0, bytes.length - TAIL)).toString('utf8'), this.#mono, undefined);
      return false;
    }
    const held: Held = { type, ms, data: Buffer.from(bytes) };
    this.#redactor.output(bytes.toString('utf8'), this.#mono, held);
    this.#held += held.data.length;
    this.#decided(this.#redactor.drain<Held>(this.#held > MAX_HELD ? Number.POSITIVE_INFINITY : this.#mono), ms);
    return true;
  }

  input(ms: number, data: Uint8Array, mono = ms): void {
    if (this.#failed || this.#closed) return;
    this.#mono = mono;
    if (this.#o.input === 'raw') {
      this.#frames(Frame.Input, ms, data);
    } else if (this.#o.input === 'redacted') {
      const text = this.#in.write(Buffer.from(data.buffer, data.byteOffset, data.length));
      // The redactor keeps each key's own time; frames are written when decided.
      if (text) {
        this.#redactor.input((ms - this.#o.startMs) / 1000, text, mono);
        this.#decided(this.#redactor.drain<Held>(mono), ms);
      }
    }
    this.#took(data.length);
  }

  resize(ms: number, cols: number, rows: number): void {
    if (this.#failed || this.#closed) return;
    const payload = resizePayload(cols, rows);
    if (!this.#holdBehindKeys(Frame.Resize, ms, payload)) this.#frame(Frame.Resize, ms, payload);
    this.#maybeFlush();
  }

  marker(ms: number, label: string): void {
    if (this.#failed || this.#closed) return;
    const payload = Buffer.from(label, 'utf8');
    if (!this.#holdBehindKeys(Frame.Marker, ms, payload)) this.#frame(Frame.Marker, ms, payload);
    this.#maybeFlush();
  }

  /** A resize or marker while keys wait for their judgement goes in the queue behind them, in order. */
  #holdBehindKeys(type: FrameType, ms: number, payload: Buffer): boolean {
    if (this.#o.input !== 'redacted' || !this.#redactor.waiting) return false;
    this.#redactor.output('', this.#mono, { type, ms, data: payload } satisfies Held);
    this.#held += payload.length;
    return true;
  }

  /** Once a second: decides typed keys whose echo window passed, and flushes. */
  tick(ms: number, mono = ms): void {
    if (this.#failed || this.#closed) return;
    this.#mono = mono;
    if (this.#o.input === 'redacted') {
      this.#decided(this.#redactor.drain<Held>(mono), ms);
      // A hidden line without its Enter yet (a password being typed) is sealed once typing stops for a while.
      if (!this.#redactor.waiting && mono - this.#lastHidden >= SEAL_IDLE_MS) this.#seal(ms);
    }
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
      if (!this.#failed && this.#o.input === 'redacted') {
        this.#decided(this.#redactor.drain<Held>(Number.POSITIVE_INFINITY), ms);
        this.#seal(ms);
      }
      this.#closed = true;
      await this.#sealing;
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

  /**
   * What the redactor decided, in order: held output as it came, echoed keys as
   * input frames, hidden runs as their byte count (the runs themselves go to be
   * sealed). An Enter ends a hidden line: what was hidden until then is sealed.
   */
  #decided(decisions: Array<Decision<Held>>, now: number): void {
    for (const d of decisions) {
      if ('item' in d) {
        this.#held -= d.item.data.length;
        const always = d.item.type === Frame.Resize || d.item.type === Frame.Marker;
        if (always || this.#o.output) this.#frames(d.item.type, d.item.ms, d.item.data);
        continue;
      }
      const e = d.key;
      const ms = this.#o.startMs + e.t * 1000;
      if (!e.hidden) {
        this.#frame(Frame.Input, ms, Buffer.from(e.data, 'utf8'));
        if (this.#unsealedBytes > 0 && /[\r\n]/.test(e.data)) this.#seal(now);
        continue;
      }
      // Control keys between hidden runs stay; each run is its byte count only.
      e.data.split(REDACTED).forEach((part, i) => {
        if (i > 0) {
          const run = Buffer.from(e.sealed?.[i - 1] ?? '', 'utf8');
          const size = Buffer.alloc(4);
          size.writeUInt32BE(run.length);
          this.#frame(Frame.Hidden, ms, size);
          this.#unsealed.push(run);
          this.#unsealedBytes += run.length;
          this.#lastHidden = this.#mono;
        }
        if (part) this.#frame(Frame.Input, ms, Buffer.from(part, 'utf8'));
      });
      if (/[\r\n]/.test(e.data) || this.#unsealedBytes >= MAX_SEAL) this.#seal(now);
    }
  }

  /**
   * The hidden runs since the last sealed frame, encrypted to the reveal
   * recipients into one `sealed` frame (written when the encryption is done;
   * close waits for it). Without recipients they are dropped: only their counts
   * are kept. A sealing that fails fails the recording: hidden input is never lost quietly.
   */
  #seal(ms: number): void {
    if (this.#unsealedBytes === 0) return;
    const data = Buffer.concat(this.#unsealed);
    const runs = this.#unsealed.length;
    this.#unsealed = [];
    this.#unsealedBytes = 0;
    const recipients = this.#o.revealRecipients ?? [];
    if (recipients.length === 0) return;
    this.#sealing = this.#sealing.then(async () => {
      if (this.#failed) return;
      try {
        const ciphertext = await seal(recipients, data);
        // Hidden frames of later keys may be written while this one is encrypted: the count says which it covers.
        const payload = Buffer.alloc(4 + ciphertext.length);
        payload.writeUInt32BE(runs);
        payload.set(ciphertext, 4);
        this.#frame(Frame.Sealed, ms, payload);
        this.#maybeFlush();
      } catch (err) {
        this.#failed = new Error('could not seal hidden input', { cause: err });
        this.#events.failed(this.#failed);
      } finally {
        data.fill(0);
      }
    });
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
