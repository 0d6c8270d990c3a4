/**
 * Buffers for the recording writer (recordings/frame-writer.ts): a growable sink
 * of bytes, and a pool of large buffers it reuses while output streams.
 */

/**
 * Large buffers for streaming output, reused: fresh memory costs a page fault on
 * every first touch of each page, which in a virtual machine costs more than
 * encoding the bytes written into it.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];
  constructor(
    readonly size: number,
    readonly keep: number,
  ) {}

  get(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Gives back a buffer from get() (or a view of one) once nothing uses it. */
  put(view: Uint8Array): void {
    if (view.byteOffset !== 0 || view.buffer.byteLength !== this.size || this.#free.length >= this.keep) return;
    this.#free.push(Buffer.from(view.buffer));
  }
}

/** A growable byte buffer written from the front. */
export class ByteSink {
  buf: Buffer = EMPTY;
  len = 0;
  /** More output is streaming in: the next buffer is a large one. */
  #streaming = false;

  constructor(private readonly pool?: BufferPool) {}

  /** Room for n more bytes. */
  reserve(n: number): void {
    if (this.buf.length - this.len >= n) return;
    const need = this.len + n;
    const pool = this.pool;
    const next =
      pool && need <= pool.size && (this.#streaming || need > SMALL_SINK)
        ? pool.get()
        : Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, 1024));
    this.buf.copy(next, 0, 0, this.len);
    this.release(this.buf);
    this.buf = next;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  /**
   * Hands the bytes over and starts empty. `streaming`: more of the same is
   * coming, so the next buffer is a large one. Give the bytes back with
   * release() once written.
   */
  take(streaming = false): Buffer {
    this.#streaming = streaming;
    const out = this.buf.subarray(0, this.len);
    this.buf = EMPTY;
    this.len = 0;
    return out;
  }

  /** Bytes from take() that are written and no longer needed. */
  release(data: Uint8Array): void {
    this.pool?.put(data);
  }
}

/** Up to this size, a sink that is not streaming grows in ordinary buffers. */
const SMALL_SINK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
