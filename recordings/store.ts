import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

/**
 * Where recordings live. Today a directory (dataDir/recordings); the interface is
 * what an S3-compatible store will implement (append-only objects are written
 * locally and uploaded when sealed).
 */
export interface RecordingStore {
  readonly location: string;
  /** Creates both files of a new recording; fails if either exists. */
  create(relPath: string): Promise<{ file: FileHandle; chain: FileHandle }>;
  read(relPath: string): Promise<Buffer>;
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  readRange(relPath: string, offset: number, length: number): Promise<Buffer>;
  /** The file held open for many range reads (verification); its size is taken when it opens. */
  openReader(relPath: string): Promise<RecordingReader>;
  /** The file from `start` (default 0) to `end` (exclusive; default its end), in chunks of about 1 MiB. */
  stream(relPath: string, start?: number, end?: number): AsyncIterable<Buffer>;
  /** A path on this machine where the recording can be read (analysis reads it in a worker thread). */
  localPath(relPath: string): string;
  readChain(relPath: string): Promise<string>;
  size(relPath: string): Promise<number>;
  remove(relPath: string): Promise<void>;
  /** Writes, syncs and removes a small file: is the store writable right now? */
  probe(): Promise<void>;
}

export interface RecordingReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

export class FileRecordingStore implements RecordingStore {
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  #path(relPath: string): string {
    const full = resolve(this.location, relPath);
    if (!full.startsWith(this.location + sep)) throw new Error(`recording path escapes the store: ${relPath}`);
    return full;
  }

  async create(relPath: string): Promise<{ file: FileHandle; chain: FileHandle }> {
    const path = this.#path(relPath);
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    const file = await open(path, 'wx', 0o640);
    try {
      const chain = await open(path + '.chain', 'wx', 0o640);
      return { file, chain };
    } catch (err) {
      await file.close();
      await rm(path, { force: true });
      throw err;
    }
  }

  read(relPath: string): Promise<Buffer> {
    return readFile(this.#path(relPath));
  }

  async readRange(relPath: string, offset: number, length: number): Promise<Buffer> {
    const fh = await open(this.#path(relPath), 'r');
    try {
      return await readFully(fh, offset, length);
    } finally {
      await fh.close();
    }
  }

  async openReader(relPath: string): Promise<RecordingReader> {
    const fh = await open(this.#path(relPath), 'r');
    try {
      const { size } = await fh.stat();
      return { size, read: (offset, length) => readFully(fh, offset, length), close: () => fh.close() };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  stream(relPath: string, start = 0, end?: number): AsyncIterable<Buffer> {
    if (end !== undefined && end <= start) return [][Symbol.iterator]() as unknown as AsyncIterable<Buffer>;
    return createReadStream(this.#path(relPath), { start, ...(end !== undefined ? { end: end - 1 } : {}), highWaterMark: 1024 * 1024 });
  }

  localPath(relPath: string): string {
    return this.#path(relPath);
  }

  readChain(relPath: string): Promise<string> {
    return readFile(this.#path(relPath) + '.chain', 'utf8');
  }

  async size(relPath: string): Promise<number> {
    return (await stat(this.#path(relPath))).size;
  }

  async remove(relPath: string): Promise<void> {
    const path = this.#path(relPath);
    await rm(path, { force: true });
    await rm(path + '.chain', { force: true });
  }

  async probe(): Promise<void> {
    await mkdir(this.location, { recursive: true, mode: 0o750 });
    const path = join(this.location, `.probe-${process.pid}`);
    await writeFile(path, Buffer.alloc(4096, 1), { flush: true });
    await rm(path, { force: true });
  }
}

/** recordings/YYYY/MM/DD/<session>[-n].alr, by the session's start (UTC); older recordings end in .cast. */
export function recordingPath(startedAt: Date, sessionId: string, channelIndex: number): string {
  const y = startedAt.getUTCFullYear();
  const m = String(startedAt.getUTCMonth() + 1).padStart(2, '0');
  const d = String(startedAt.getUTCDate()).padStart(2, '0');
  return `${y}/${m}/${d}/${sessionId}${channelIndex > 1 ? `-${channelIndex}` : ''}.alr`;
}

async function readFully(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
