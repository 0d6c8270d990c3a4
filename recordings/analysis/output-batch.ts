import { isUtf8 } from 'node:buffer';

/**
 * Terminal output on its way into the headless terminal (analyse.ts), kept as
 * the recorded bytes until it is handed over, so that most of it never becomes
 * a JavaScript string: xterm's write() takes UTF-8 bytes and decodes them
 * itself, and a string per frame was a third of analysis's time (decoding,
 * concatenation and the garbage they leave).
 *
 * What xterm is given must be what a player is given (frame-events.ts, the
 * export): text decoded per stream as a stream, invalid bytes as U+FFFD and NUL
 * bytes left out. Bytes go to xterm as they are only when that comes to the
 * same thing: valid UTF-8 without NUL. Otherwise the batch is decoded the way
 * frame-events.ts decodes it. A character split between batches is held back
 * until the rest of it comes, per stream, as a StringDecoder holds it.
 */
export type Stream = 0 | 1;

const NUL = /\u0000/g;

export class OutputBatch {
  #parts: Buffer[] = [];
  #length = 0;
  #stream: Stream = 0;
  /** The start of a character whose last bytes have not come yet, per stream. */
  readonly #tails: [Buffer, Buffer] = [Buffer.alloc(0), Buffer.alloc(0)];

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** The stream of what is held; take() before adding the other one. */
  get stream(): Stream {
    return this.#stream;
  }

  push(bytes: Buffer, stream: Stream): void {
    if (this.#length > 0 && stream !== this.#stream) throw new Error('OutputBatch: take() what is held before the other stream');
    this.#stream = stream;
    if (bytes.length === 0) return;
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  /** What is held, for xterm's write(): the bytes, or their text when the bytes alone would show differently. */
  take(): Uint8Array | string {
    if (this.#length === 0) return '';
    const tail = this.#tails[this.#stream];
    const parts = tail.length ? [tail, ...this.#parts] : this.#parts;
    const all = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    this.#parts = [];
    this.#length = 0;
    const cut = completeLength(all);
    // Copied: a subarray would keep the whole read chunk alive for up to 3 bytes.
    this.#tails[this.#stream] = Buffer.from(all.subarray(cut));
    const bytes = all.subarray(0, cut);
    if (bytes.indexOf(0) === -1 && isUtf8(bytes)) return bytes;
    return bytes.toString('utf8').replace(NUL, '');
  }

  /** At the end of the recording: the characters that never got their last bytes, as U+FFFD (as StringDecoder.end() gives them). */
  end(): string {
    const text = this.#tails.map((t) => t.toString('utf8')).join('');
    this.#tails[0] = this.#tails[1] = Buffer.alloc(0);
    return text.replace(NUL, '');
  }
}

/**
 * The length of `b` without a UTF-8 sequence at its end that is cut short: its
 * lead byte is in the last 3 bytes and announces more bytes than follow.
 */
export function completeLength(b: Buffer): number {
  const n = b.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const byte = b[i] as number;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = byte >= 0xf0 && byte <= 0xf4 ? 4 : byte >= 0xe0 ? (byte <= 0xef ? 3 : 0) : byte >= 0xc2 ? 2 : 0;
    return need > n - i ? i : n;
  }
  return n;
}
