/**
 * Turns a target's output bytes into the inside of a JSON string, as asciicast
 * "o" events hold it, without making a JavaScript string first.
 *
 * The result is byte for byte what `JSON.stringify(new TextDecoder().decode(bytes,
 * { stream: true }))` would put between the quotes, except that NUL bytes are left
 * out and counted: a terminal displays nothing for NUL (ECMA-48 says to ignore it,
 * and xterm and asciinema's player do), so replay is the same, while a
 * `head -c 200M /dev/zero` would otherwise become 1.2 GB of "\u0000" to hash and
 * store. The recorder writes how many it left out as a marker, so the recording
 * still says that they were there.
 *
 * UTF-8 is decoded as the WHATWG Encoding Standard says (the same replacement
 * characters, in the same places, as TextDecoder), keeping a sequence split
 * across chunks until its last byte arrives. Valid sequences are copied as they
 * are; JSON escapes only what it must: `"`, `\` and control characters.
 */

import { isAscii, isUtf8 } from 'node:buffer';

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

  /** ASCII (or Latin-1) text, as bytes. */
  ascii(text: string): void {
    this.reserve(text.length);
    this.len += this.buf.write(text, this.len, 'latin1');
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
const HEX = '0123456789abcdef';
const BACKSLASH = 0x5c;
/** What each ASCII byte becomes: 0 = itself, 1 = leave out (NUL), else the escape's second byte or 'u'. */
const ESCAPE = new Uint8Array(128);
for (let b = 0; b < 0x20; b++) ESCAPE[b] = 0x75; // \u00XX
ESCAPE[0] = 1;
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[0x22] = 0x22; // \"
ESCAPE[BACKSLASH] = BACKSLASH; // \\

/** Bytes handled per reserve(): the worst case writes six bytes per input byte. */
const SLICE = 16 * 1024;
/** Below this, native calls cost more than the loop. */
const FAST_MIN = 256;
const ZEROS = Buffer.alloc(64 * 1024);

function allZero(src: Uint8Array): boolean {
  for (let at = 0; at < src.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, src.length - at);
    if (Buffer.compare(src.subarray(at, at + n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}

/**
 * Where a UTF-8 sequence that the chunk cuts off starts (src.length when none
 * does): the last one to three bytes may be the start of a character whose
 * remaining bytes come in the next chunk.
 */
function completeEnd(src: Uint8Array, from: number): number {
  for (let back = 1; back <= 3 && src.length - back >= from; back++) {
    const b = src[src.length - back] as number;
    if (b < 0x80) return src.length; // ASCII: nothing cut off
    if (b >= 0xc0) {
      const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return len > back ? src.length - back : src.length;
    }
  }
  return src.length;
}

export class JsonTextEncoder {
  /** NUL bytes left out since the last call to takeNuls(). */
  #nuls = 0;
  // An incomplete UTF-8 sequence carried from the last chunk (WHATWG decoder state).
  #seq = new Uint8Array(4);
  #seen = 0;
  #needed = 0;
  #lower = 0x80;
  #upper = 0xbf;

  /** True while a character's first bytes wait for the rest. */
  get unfinished(): boolean {
    return this.#needed !== 0;
  }

  takeNuls(): number {
    const n = this.#nuls;
    this.#nuls = 0;
    return n;
  }

  /** Appends the JSON string content for these bytes to the sink. */
  write(src: Uint8Array, sink: ByteSink): void {
    let at = 0;
    // Finish a sequence carried from the last chunk, byte by byte.
    while (this.#needed !== 0 && at < src.length) at = this.#slow(src, at, at + 1, sink);
    const cut = completeEnd(src, at);
    if (cut - at >= FAST_MIN) this.#fast(src.subarray(at, cut), sink);
    else this.#slow(src, at, cut, sink);
    // A sequence cut off at the end waits for its last bytes.
    this.#slow(src, cut, src.length, sink);
  }

  /**
   * Native code for the common cases: a run of NULs, or valid UTF-8 without NULs
   * (V8's JSON.stringify escapes exactly as the loop below would).
   */
  #fast(src: Uint8Array, sink: ByteSink): void {
    if (src[0] === 0 && allZero(src)) {
      this.#nuls += src.length;
      return;
    }
    const buf = Buffer.from(src.buffer, src.byteOffset, src.length);
    if (buf.indexOf(0) !== -1 || !isUtf8(buf)) {
      this.#slow(src, 0, src.length, sink);
      return;
    }
    const ascii = isAscii(buf);
    const json = JSON.stringify(buf.toString(ascii ? 'latin1' : 'utf8'));
    sink.reserve(ascii ? json.length : json.length * 3);
    // Written whole (a slice of the string would be copied first), then moved
    // one byte back over its opening quote, without the closing one.
    const at = sink.len;
    const n = sink.buf.write(json, at, ascii ? 'latin1' : 'utf8');
    sink.buf.copyWithin(at, at + 1, at + n - 1);
    sink.len += n - 2;
  }

  #slow(src: Uint8Array, from: number, to: number, sink: ByteSink): number {
    for (let at = from; at < to; at += SLICE) {
      const end = Math.min(to, at + SLICE);
      sink.reserve((end - at) * 6 + 12);
      sink.len = this.#encode(src, at, end, sink.buf, sink.len);
    }
    return to;
  }

  /** The end of the stream: an unfinished sequence becomes one replacement character. */
  end(sink: ByteSink): void {
    if (this.#needed === 0) return;
    this.#reset();
    sink.reserve(3);
    sink.len += sink.buf.write('\xef\xbf\xbd', sink.len, 'latin1'); // U+FFFD
  }

  #reset(): void {
    this.#seen = 0;
    this.#needed = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }

  #encode(src: Uint8Array, from: number, to: number, out: Buffer, pos: number): number {
    // The decoder state lives in locals while the loop runs (fields are slower).
    const seq = this.#seq;
    let seen = this.#seen;
    let needed = this.#needed;
    let lower = this.#lower;
    let upper = this.#upper;
    let nuls = 0;
    let i = from;
    while (i < to) {
      const b = src[i] as number;
      if (needed === 0) {
        i++;
        if (b < 0x80) {
          const e = ESCAPE[b] as number;
          if (e === 0) {
            out[pos++] = b;
          } else if (e === 1) {
            nuls++;
          } else if (e === 0x75) {
            out[pos++] = BACKSLASH;
            out[pos++] = 0x75;
            out[pos++] = 0x30;
            out[pos++] = 0x30;
            out[pos++] = HEX.charCodeAt(b >> 4);
            out[pos++] = HEX.charCodeAt(b & 15);
          } else {
            out[pos++] = BACKSLASH;
            out[pos++] = e;
          }
        } else if (b >= 0xc2 && b <= 0xdf) {
          needed = 1;
          seq[0] = b;
          seen = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lower = 0xa0;
          if (b === 0xed) upper = 0x9f;
          needed = 2;
          seq[0] = b;
          seen = 1;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lower = 0x90;
          if (b === 0xf4) upper = 0x8f;
          needed = 3;
          seq[0] = b;
          seen = 1;
        } else {
          out[pos++] = 0xef;
          out[pos++] = 0xbf;
          out[pos++] = 0xbd;
        }
        continue;
      }
      if (b < lower || b > upper) {
        // Not a continuation: the sequence so far is one replacement character, and
        // this byte starts over (it is not consumed).
        seen = 0;
        needed = 0;
        lower = 0x80;
        upper = 0xbf;
        out[pos++] = 0xef;
        out[pos++] = 0xbf;
        out[pos++] = 0xbd;
        continue;
      }
      i++;
      lower = 0x80;
      upper = 0xbf;
      seq[seen] = b;
      if (seen++ < needed) continue;
      for (let k = 0; k < seen; k++) out[pos++] = seq[k] as number;
      seen = 0;
      needed = 0;
    }
    this.#seen = seen;
    this.#needed = needed;
    this.#lower = lower;
    this.#upper = upper;
    this.#nuls += nuls;
    return pos;
  }
}
