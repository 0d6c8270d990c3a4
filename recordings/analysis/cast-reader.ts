import { AirlockError } from '../../core/pure.js';

/**
 * Reading an asciicast v2 file (recordings/asciicast.ts) as it streams in: lines
 * split on '\n' in Buffers, with the byte offset of each (keyframes and commands
 * point into the file by offset, so bytes, never characters), and the checks a
 * line must pass before it is believed. Nothing here holds the whole file.
 */

/** Terminal sizes outside these bounds in a header or resize are not believed. */
const MAX_COLS = 1000;
const MAX_ROWS = 500;

/** One line of the file; false stops reading. `last`: it ended the file without a newline. */
export type OnLine = (line: Buffer, offset: number, next: number, last: boolean) => boolean;

/** Splits a byte stream into lines, with the byte offset of each. */
export class LineSplitter {
  /** The start of a line that continues in the next chunk. */
  #parts: Buffer[] = [];
  /** Byte offset of the current line's start, and of the next chunk's. */
  #lineStart = 0;
  #position = 0;

  push(chunk: Uint8Array, onLine: OnLine): boolean {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const base = this.#position;
    this.#position += bytes.length;
    let from = 0;
    for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, from)) {
      let line = bytes.subarray(from, nl);
      if (this.#parts.length > 0) {
        this.#parts.push(line);
        line = Buffer.concat(this.#parts);
        this.#parts = [];
      }
      const offset = this.#lineStart;
      this.#lineStart = base + nl + 1;
      from = nl + 1;
      if (!onLine(line, offset, this.#lineStart, false)) return false;
    }
    // Copied: the caller may reuse its buffer for the next chunk.
    if (from < bytes.length) this.#parts.push(Buffer.from(bytes.subarray(from)));
    return true;
  }

  end(onLine: OnLine): void {
    if (this.#parts.length === 0) return;
    const line = Buffer.concat(this.#parts);
    this.#parts = [];
    onLine(line, this.#lineStart, this.#position, true);
  }
}

export function isBlank(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

export function parseJson(line: Buffer): unknown {
  try {
    return JSON.parse(line.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

type Event = [number, string, string];

export function isEvent(v: unknown): v is Event {
  return Array.isArray(v) && v.length >= 3 && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'string' && typeof v[2] === 'string';
}

export interface Header {
  cols: number;
  rows: number;
  kind: string;
  /** An exec's command line; null for a shell without a terminal; undefined where the format does not say (asciicast). */
  command?: string | null;
}

export function checkHeader(v: unknown): Header {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || (v as { version?: unknown }).version !== 2) {
    throw new AirlockError('ERR_RECORDING_FORMAT', 'not an asciicast v2 recording: the first line is not a version 2 header');
  }
  const h = v as { width?: unknown; height?: unknown; airlock?: { kind?: unknown } };
  const kind = typeof h.airlock?.kind === 'string' ? h.airlock.kind : 'terminal';
  return { cols: size(h.width, MAX_COLS) ?? 80, rows: size(h.height, MAX_ROWS) ?? 24, kind };
}

function size(v: unknown, max: number): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 2 && v <= max ? v : undefined;
}

/** "COLSxROWS" */
export function parseSize(data: string): { cols: number; rows: number } | undefined {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(data.trim());
  const cols = size(Number(m?.[1]), MAX_COLS);
  const rows = size(Number(m?.[2]), MAX_ROWS);
  return cols && rows ? { cols, rows } : undefined;
}
