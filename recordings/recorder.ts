import { EventEmitter } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import type { Clock, Scheduler, Timer } from '../core/index.js';
import type { RecordingHeader } from './frame-format.js';
import type { InputMode, WriterResult } from './frame-writer.js';
import type { RecordingKey } from './keys.js';
import { deserializeError, F_A, F_B, F_HANDLE, F_KIND, F_MONO, F_MS, F_SEQ, Op, OP_FIELDS } from './recorder-protocol.js';
import type { FromWorker, OpenInit, ToWorker } from './recorder-protocol.js';
import { workerFile } from './worker-file.js';

/**
 * Records one channel. The relay calls output()/stderr()/input() with the bytes
 * it moves; they are stamped with the time, copied into a batch, and handed to
 * the recording thread (recordings/recorder-worker.ts), which does the encoding,
 * hashing and writing (recordings/frame-writer.ts). The relay's thread pays for a
 * memcpy per chunk, nothing more, so recording does not slow the session or the
 * other sessions on this node.
 *
 * Back-pressure: `backlogged` is true while more than `highWater` bytes are
 * handed over and not yet encoded, or encoded and not yet on disk; the relay
 * stops reading from the target until 'drain'. Memory never grows with the size of a session, and a slow disk (or a
 * busy recording thread) slows the session instead.
 *
 * Failure: a write error, or the recording thread dying, emits 'failed' once;
 * the gateway then ends the session (fail closed).
 */
export interface RecorderOptions {
  file: FileHandle;
  chain: FileHandle;
  header: Omit<RecordingHeader, 'format' | 'version' | 'start'>;
  ids: { session: string; recording: string };
  key: RecordingKey;
  clock: Clock;
  /** Runs the flush and checkpoint intervals, and the wait before a batch goes to the recording thread. */
  scheduler: Scheduler;
  /** Record typed input (interactive sessions), with non-echoed input hidden. */
  /** redacted: typed keys on a terminal; raw: stdin as sent; none: not recorded (recordings/frame-writer.ts). */
  input: InputMode;
  /** Record the target's output and stderr (off for SFTP without file content capture). */
  output: boolean;
  flushBytes?: number;
  /** age recipients that hidden input is sealed to (recordings/sealing.ts); none: it is only counted. */
  revealRecipients?: readonly string[];
  flushMs?: number;
  checkpointMs?: number;
  highWater?: number;
}

export type RecorderResult = WriterResult;

export const MARKER_MAX = 4000;

export class Recorder extends EventEmitter {
  readonly #clock: Clock;
  readonly #highWater: number;
  readonly #handle: number;
  readonly #thread: RecorderThread;
  readonly #flushTimer: Timer;
  readonly #checkpointTimer: Timer;
  readonly #flushBytes: number;
  /** Bytes of this recording in the batch not yet shipped (as of the thread's ship count #shippedAt). */
  #unshipped = 0;
  #shippedAt = 0;
  /** Bytes handed to the thread and not yet encoded there. */
  #pending = 0;
  /** Bytes of the recording waiting for the disk, as the thread last said. */
  #backlog = 0;
  #length = 0;
  #failed: Error | undefined;
  #closed: Promise<RecorderResult> | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, (result?: RecorderResult) => void>();

  constructor(options: RecorderOptions) {
    super();
    this.#clock = options.clock;
    // Above what is in flight when the thread keeps up (a batch and a flush of
    // 1 MiB each, a write under way, progress reported per MiB: about 4–5 MiB), so
    // the relay waits only when the recording really falls behind. At 4 MiB the
    // bench's relay was held 50–100 times a second without the thread being behind.
    this.#highWater = options.highWater ?? 8 * 1024 * 1024;
    this.#thread = RecorderThread.shared();
    const init: OpenInit = {
      header: options.header,
      startMs: options.clock.now().getTime(),
      ids: options.ids,
      key: { privateKey: options.key.privateKey, fingerprint: options.key.fingerprint },
      input: options.input,
      output: options.output,
      flushBytes: options.flushBytes ?? 1024 * 1024,
      revealRecipients: options.revealRecipients ?? [],
    };
    this.#flushBytes = init.flushBytes;
    this.#handle = this.#thread.open(this, options.scheduler, init, options.file, options.chain);
    this.#flushTimer = options.scheduler.every(options.flushMs ?? 1000, () => this.#op(Op.Tick));
    this.#checkpointTimer = options.scheduler.every(options.checkpointMs ?? 30_000, () => void this.checkpoint(false));
  }

  get failed(): Error | undefined {
    return this.#failed;
  }

  /** True while the disk is behind: the relay should wait for 'drain'. */
  get backlogged(): boolean {
    return !this.#failed && this.#pending + this.#backlog > this.#highWater;
  }

  /** Bytes of the recording on disk so far. */
  get length(): number {
    return this.#length;
  }

  output(data: Buffer): void {
    this.#bytes(Op.Output, data);
  }

  /** The target's stderr (exec, subsystem): its own frames (players show it as output). */
  stderr(data: Buffer): void {
    this.#bytes(Op.Stderr, data);
  }

  /** The engineer's bytes to the target: typed keys (redacted) or stdin as sent, as the recording's input mode says. */
  input(data: Buffer): void {
    this.#bytes(Op.Input, data);
  }

  resize(cols: number, rows: number): void {
    this.#op(Op.Resize, cols, rows);
  }

  /** A gateway event (at most MARKER_MAX characters: an SFTP operation with two long paths fits). */
  marker(label: string): void {
    if (this.#failed || this.#closed) return;
    this.#thread.push(this.#handle, Op.Marker, this.#now(), Buffer.from(label.slice(0, MARKER_MAX)), 0, 0);
  }

  /** Flushes and writes a signed checkpoint, then syncs both files to disk. */
  checkpoint(final: boolean): Promise<void> {
    if (this.#failed || (this.#closed && !final)) return Promise.resolve();
    return this.#ask(Op.Checkpoint, final ? 1 : 0).then(() => undefined);
  }

  /** Ends the recording: the final signed checkpoint, synced, files closed. */
  close(): Promise<RecorderResult> {
    this.#closed ??= (async () => {
      this.#flushTimer.cancel();
      this.#checkpointTimer.cancel();
      const result = await this.#ask(Op.Close, 0);
      this.#thread.closed(this.#handle);
      return result ?? { length: this.#length, head: '', entries: 0 };
    })();
    return this.#closed;
  }

  /** From the recording thread: `raw` more bytes encoded, `backlog` bytes wait for the disk. */
  progress(raw: number, backlog: number, length: number): void {
    const was = this.backlogged;
    this.#pending = Math.max(0, this.#pending - raw);
    this.#backlog = backlog;
    this.#length = length;
    if (was && !this.backlogged) this.emit('drain');
  }

  /** From the recording thread: a checkpoint or close finished. */
  done(seq: number, result?: RecorderResult): void {
    const resolve = this.#waiting.get(seq);
    this.#waiting.delete(seq);
    resolve?.(result);
  }

  /** From the recording thread: nothing more can be written. */
  fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    this.#flushTimer.cancel();
    this.#checkpointTimer.cancel();
    this.#pending = 0;
    this.#backlog = 0;
    this.emit('failed', err);
    this.emit('drain'); // release a waiting relay: the session is about to end anyway
  }

  /** The recording thread is gone: whatever waited for it is answered. */
  abandon(err: Error): void {
    this.fail(err);
    for (const resolve of this.#waiting.values()) resolve();
    this.#waiting.clear();
  }

  #now(): number {
    return this.#clock.now().getTime();
  }

  #mono(): number {
    return this.#clock.monotonic?.() ?? this.#clock.now().getTime();
  }

  #bytes(kind: Op, data: Buffer): void {
    if (this.#failed || this.#closed || data.length === 0) return;
    this.#pending += data.length;
    this.#thread.push(this.#handle, kind, this.#now(), data, 0, 0, 0, this.#mono());
    if (this.#shippedAt !== this.#thread.shipped) {
      this.#shippedAt = this.#thread.shipped;
      this.#unshipped = 0;
    }
    this.#unshipped += data.length;
    // A flush's worth goes to the disk now, as it would without the batch. While
    // backlogged the relay waits for the thread to take in what was shipped; the
    // batch must go too only if its own bytes would keep the relay waiting after
    // that (a high-water mark below a flush). Shipping each chunk of a backlogged
    // relay on its own costs more than the recording.
    if (this.#unshipped >= this.#flushBytes || (this.backlogged && this.#unshipped * 2 >= this.#highWater)) this.#thread.ship();
  }

  #op(kind: Op, a = 0, b = 0): void {
    if (this.#failed || this.#closed) return;
    this.#thread.push(this.#handle, kind, this.#now(), undefined, a, b, 0, this.#mono());
  }

  #ask(kind: Op, a: number): Promise<RecorderResult | undefined> {
    if (this.#thread.gone) return Promise.resolve(undefined);
    const seq = ++this.#seq;
    const answered = new Promise<RecorderResult | undefined>((resolve) => this.#waiting.set(seq, resolve));
    this.#thread.push(this.#handle, kind, this.#now(), undefined, a, 0, seq);
    this.#thread.ship();
    return answered;
  }
}

/**
 * A batch is shipped when its data would exceed this size, or BATCH_MS after its
 * first operation, as the scheduler of each recording in it counts (a server has
 * one scheduler; tests may run recordings on several clocks side by side).
 */
const BATCH_BYTES = 1024 * 1024;
const BATCH_MS = 200;
const SMALL_BATCH = 64 * 1024;

/**
 * The one recording thread of this process, shared by every recording. It
 * starts with the first recording, does not keep the process alive while no
 * recording is open, and if it dies every live recording fails (the sessions
 * end, fail closed) and the next recording starts a new one.
 */
class RecorderThread {
  static #shared: RecorderThread | undefined;

  static shared(): RecorderThread {
    if (!RecorderThread.#shared || RecorderThread.#shared.gone) RecorderThread.#shared = new RecorderThread();
    return RecorderThread.#shared;
  }

  readonly #worker: Worker;
  readonly #recorders = new Map<number, Recorder>();
  readonly #schedulers = new Map<number, Scheduler>();
  #next = 1;
  #gone = false;
  #ops = new Float64Array(OP_FIELDS * 64);
  #count = 0;
  #data = Buffer.allocUnsafeSlow(BATCH_BYTES);
  #used = 0;
  /** The batch's deadline, one per scheduler of the recordings in it. */
  readonly #timers = new Map<Scheduler, Timer>();
  /** How many batches were shipped so far. */
  shipped = 0;
  /** Batch buffers the thread has finished with. */
  readonly #spare: ArrayBuffer[] = [];

  constructor() {
    this.#worker = new Worker(workerFile('recorder-worker.js'));
    this.#worker.unref();
    this.#worker.on('message', (m: FromWorker) => this.#receive(m));
    this.#worker.on('error', (err) => this.#die(err));
    this.#worker.on('exit', (code) => this.#die(new Error(`the recording thread stopped (exit code ${code})`)));
  }

  get gone(): boolean {
    return this.#gone;
  }

  open(recorder: Recorder, scheduler: Scheduler, init: OpenInit, file: FileHandle, chain: FileHandle): number {
    const handle = this.#next++;
    this.#recorders.set(handle, recorder);
    this.#schedulers.set(handle, scheduler);
    if (this.#recorders.size === 1) this.#worker.ref();
    const message: ToWorker = { type: 'open', handle, init, file, chain };
    // FileHandles move to the recording thread, which closes them.
    this.#worker.postMessage(message, [file as never, chain as never]);
    return handle;
  }

  closed(handle: number): void {
    this.#recorders.delete(handle);
    this.#schedulers.delete(handle);
    if (this.#recorders.size === 0) this.#worker.unref();
  }

  push(handle: number, kind: Op, ms: number, data: Buffer | undefined, a: number, b: number, seq = 0, mono = ms): void {
    if (this.#gone) return;
    if (data) {
      if (this.#used + data.length > this.#data.length) this.ship();
      if (data.length > this.#data.length) this.#data = Buffer.allocUnsafeSlow(data.length);
      data.copy(this.#data, this.#used);
      a = this.#used;
      b = data.length;
      this.#used += data.length;
    }
    if ((this.#count + 1) * OP_FIELDS > this.#ops.length) {
      const grown = new Float64Array(this.#ops.length * 2);
      grown.set(this.#ops);
      this.#ops = grown;
    }
    const at = this.#count++ * OP_FIELDS;
    const ops = this.#ops;
    ops[at + F_HANDLE] = handle;
    ops[at + F_KIND] = kind;
    ops[at + F_MS] = ms;
    ops[at + F_A] = a;
    ops[at + F_B] = b;
    ops[at + F_SEQ] = seq;
    ops[at + F_MONO] = mono;
    const scheduler = this.#schedulers.get(handle);
    if (scheduler && !this.#timers.has(scheduler)) this.#timers.set(scheduler, scheduler.after(BATCH_MS, () => this.ship()));
  }

  /** Sends what is batched now. */
  ship(): void {
    this.#cancelTimers();
    if (this.#count === 0 || this.#gone) return;
    const ops = this.#ops.slice(0, this.#count * OP_FIELDS);
    let data: ArrayBuffer;
    if (this.#used < SMALL_BATCH) {
      // Keystrokes and short output: a copy, and the batch buffer is kept.
      data = this.#data.buffer.slice(this.#data.byteOffset, this.#data.byteOffset + this.#used) as ArrayBuffer;
    } else {
      // Bulk output: the batch buffer itself moves to the thread, which sends it
      // back when done (fresh memory costs page faults on every first touch).
      data = this.#data.buffer as ArrayBuffer;
      const spare = this.#spare.pop();
      this.#data = spare ? Buffer.from(spare) : Buffer.allocUnsafeSlow(BATCH_BYTES);
    }
    const message: ToWorker = { type: 'ops', ops, data };
    this.#worker.postMessage(message, [ops.buffer, data]);
    this.shipped++;
    this.#count = 0;
    this.#used = 0;
  }

  #receive(m: FromWorker): void {
    if (m.type === 'progress') {
      for (const data of m.spare) if (data.byteLength === BATCH_BYTES && this.#spare.length < 8) this.#spare.push(data);
      const a = m.acks;
      for (let i = 0; i < a.length; i += 4) this.#recorders.get(a[i] as number)?.progress(a[i + 1] as number, a[i + 2] as number, a[i + 3] as number);
    } else if (m.type === 'checkpoint') {
      this.#recorders.get(m.handle)?.emit('checkpoint', m.length, m.head);
    } else if (m.type === 'done') {
      this.#recorders.get(m.handle)?.done(m.seq, m.result);
    } else {
      this.#recorders.get(m.handle)?.fail(deserializeError(m.error));
    }
  }

  #cancelTimers(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }

  #die(err: Error): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#cancelTimers();
    const recorders = [...this.#recorders.values()];
    this.#recorders.clear();
    for (const r of recorders) r.abandon(new Error(`the recording thread failed: ${err.message}`, { cause: err }));
  }
}
