import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import type { FileHandle } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import { eventLine, headerLine } from './asciicast.js';
import type { CastHeader } from './asciicast.js';
import { Chain } from './integrity.js';
import type { RecordingKey } from './keys.js';
import { InputRedactor } from './redactor.js';

/**
 * Writes one recording: asciicast events into FILE.cast, the integrity chain
 * into FILE.chain (recordings/integrity.ts).
 *
 * Durability: events are buffered and written (one write(2) per flush) when
 * 64 KiB are waiting or a second has passed, whichever comes first; each flush
 * is one chain entry. Every checkpoint (30 s) and at close both files are
 * fdatasync'ed after the signed checkpoint is written, so after a crash the
 * recording verifies up to its last checkpoint, and holds what was flushed after.
 *
 * Back-pressure: `backlogged` is true while more than `highWater` bytes wait for
 * the disk; the relay stops reading from the target until 'drain'. Memory never
 * grows with the size of a session, and a slow disk slows the session.
 *
 * Failure: any write error stops the recorder and emits 'failed' once; the
 * gateway then ends the session (fail closed).
 */
export interface RecorderOptions {
  cast: FileHandle;
  chain: FileHandle;
  header: Omit<CastHeader, 'timestamp' | 'version'>;
  ids: { session: string; recording: string };
  key: RecordingKey;
  clock: Clock;
  /** Record typed input (interactive sessions), with non-echoed input hidden. */
  recordInput: boolean;
  flushBytes?: number;
  flushMs?: number;
  checkpointMs?: number;
  highWater?: number;
}

export interface RecorderResult {
  length: number;
  head: string;
  entries: number;
}

export class Recorder extends EventEmitter {
  readonly #o: RecorderOptions;
  readonly #start: number;
  readonly #chain = new Chain();
  readonly #out = new StringDecoder('utf8');
  readonly #err = new StringDecoder('utf8');
  readonly #in = new StringDecoder('utf8');
  readonly #redactor = new InputRedactor();
  #buf: Buffer[] = [];
  #bufLen = 0;
  #inflight = 0;
  #queue: Promise<void> = Promise.resolve();
  #lastT = 0;
  #flushTimer: NodeJS.Timeout;
  #checkpointTimer: NodeJS.Timeout;
  #failed: Error | undefined;
  #closed = false;
  #stream: 'stdout' | 'stderr' = 'stdout';

  constructor(options: RecorderOptions) {
    super();
    this.#o = { flushBytes: 64 * 1024, flushMs: 1000, checkpointMs: 30_000, highWater: 4 * 1024 * 1024, ...options };
    this.#start = options.clock.now().getTime();
    this.#append(headerLine({ version: 2, timestamp: Math.floor(this.#start / 1000), ...options.header }));
    this.#flushTimer = setInterval(() => this.#onTimer(), this.#o.flushMs);
    this.#checkpointTimer = setInterval(() => void this.checkpoint(false), this.#o.checkpointMs);
    this.#flushTimer.unref();
    this.#checkpointTimer.unref();
  }

  get failed(): Error | undefined {
    return this.#failed;
  }

  /** True while the disk is behind: the relay should wait for 'drain'. */
  get backlogged(): boolean {
    return !this.#failed && this.#bufLen + this.#inflight > (this.#o.highWater as number);
  }

  get length(): number {
    return this.#chain.length;
  }

  output(data: Buffer): void {
    this.#switchTo('stdout');
    const text = this.#out.write(data);
    if (!text) return;
    this.#event('o', text);
    if (this.#o.recordInput) this.#inputEvents(this.#redactor.output(text, this.#o.clock.now().getTime()));
  }

  /** stderr of an exec: shown as output, with markers where the stream switches. */
  stderr(data: Buffer): void {
    this.#switchTo('stderr');
    const text = this.#err.write(data);
    if (text) this.#event('o', text);
  }

  input(data: Buffer): void {
    if (!this.#o.recordInput) return;
    const text = this.#in.write(data);
    if (text) this.#inputEvents(this.#redactor.input(this.#t(), text, this.#o.clock.now().getTime()));
  }

  resize(cols: number, rows: number): void {
    this.#event('r', `${cols}x${rows}`);
  }

  marker(label: string): void {
    this.#event('m', label.slice(0, 1000));
  }

  /** Flushes and writes a signed checkpoint, then syncs both files to disk. */
  checkpoint(final: boolean): Promise<void> {
    if (this.#failed || (this.#closed && !final)) return this.#queue;
    this.#flush();
    return this.#enqueue(async () => {
      const entry = this.#chain.checkpoint(this.#o.ids, this.#o.clock.now(), final, this.#o.key);
      await this.#o.chain.write(JSON.stringify(entry) + '\n');
      await this.#o.cast.datasync();
      await this.#o.chain.datasync();
    }, 0);
  }

  /** Ends the recording: the final signed checkpoint, synced, files closed. */
  async close(): Promise<RecorderResult> {
    if (!this.#closed) {
      this.#closed = true;
      clearInterval(this.#flushTimer);
      clearInterval(this.#checkpointTimer);
      if (this.#o.recordInput) this.#inputEvents(this.#redactor.flush());
      const rest = this.#out.end();
      if (rest) this.#event('o', rest);
      await this.checkpoint(true);
      await Promise.allSettled([this.#o.cast.close(), this.#o.chain.close()]);
    }
    return { length: this.#chain.length, head: this.#chain.head.toString('hex'), entries: this.#chain.entries };
  }

  #switchTo(stream: 'stdout' | 'stderr'): void {
    if (this.#stream === stream) return;
    this.#stream = stream;
    this.#event('m', stream);
  }

  #t(): number {
    const t = Math.max(this.#lastT, (this.#o.clock.now().getTime() - this.#start) / 1000);
    this.#lastT = t;
    return t;
  }

  #event(code: 'o' | 'i' | 'r' | 'm', data: string): void {
    this.#append(eventLine(this.#t(), code, data));
  }

  /** Decided input events keep their own time unless that would go backwards. */
  #inputEvents(events: Array<{ t: number; data: string }>): void {
    for (const e of events) {
      const t = Math.max(e.t, this.#lastT);
      this.#lastT = t;
      this.#append(eventLine(t, 'i', e.data));
    }
  }

  #append(line: string): void {
    if (this.#failed || (this.#closed && this.#bufLen === 0 && line === '')) return;
    const b = Buffer.from(line, 'utf8');
    this.#buf.push(b);
    this.#bufLen += b.length;
    if (this.#bufLen >= (this.#o.flushBytes as number)) this.#flush();
  }

  #onTimer(): void {
    if (this.#o.recordInput) this.#inputEvents(this.#redactor.tick(this.#o.clock.now().getTime()));
    this.#flush();
  }

  #flush(): void {
    if (this.#bufLen === 0 || this.#failed) return;
    const data = this.#buf.length === 1 ? (this.#buf[0] as Buffer) : Buffer.concat(this.#buf, this.#bufLen);
    this.#buf = [];
    this.#bufLen = 0;
    const entry = this.#chain.add(data);
    void this.#enqueue(async () => {
      await writeAll(this.#o.cast, data);
      await this.#o.chain.write(JSON.stringify(entry) + '\n');
    }, data.length);
  }

  #enqueue(work: () => Promise<void>, bytes: number): Promise<void> {
    this.#inflight += bytes;
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      try {
        await work();
      } catch (err) {
        this.#failed = err as Error;
        clearInterval(this.#flushTimer);
        clearInterval(this.#checkpointTimer);
        this.emit('failed', err);
        this.emit('drain'); // release a waiting relay: the session is about to end anyway
      } finally {
        this.#inflight -= bytes;
        if (!this.backlogged) this.emit('drain');
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
