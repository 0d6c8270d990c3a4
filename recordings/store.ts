import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

/**
 * Where recordings live. Today a directory (dataDir/recordings); the interface is
 * what an S3-compatible store will implement (append-only objects are written
 * locally and uploaded when sealed).
 */
export interface RecordingStore {
  readonly location: string;
  /** Creates both files of a new recording; fails if either exists. */
  create(relPath: string): Promise<{ cast: FileHandle; chain: FileHandle }>;
  read(relPath: string): Promise<Buffer>;
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  readRange(relPath: string, offset: number, length: number): Promise<Buffer>;
  /** A path on this machine where the recording can be read (analysis reads it in a worker thread). */
  localPath(relPath: string): string;
  readChain(relPath: string): Promise<string>;
  size(relPath: string): Promise<number>;
  remove(relPath: string): Promise<void>;
  /** Writes, syncs and removes a small file: is the store writable right now? */
  probe(): Promise<void>;
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

  async create(relPath: string): Promise<{ cast: FileHandle; chain: FileHandle }> {
    const path = this.#path(relPath);
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    const cast = await open(path, 'wx', 0o640);
    try {
      const chain = await open(path + '.chain', 'wx', 0o640);
      return { cast, chain };
    } catch (err) {
      await cast.close();
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
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } finally {
      await fh.close();
    }
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

/** recordings/YYYY/MM/DD/<session>[-n].cast, by the session's start (UTC). */
export function recordingPath(startedAt: Date, sessionId: string, channelIndex: number): string {
  const y = startedAt.getUTCFullYear();
  const m = String(startedAt.getUTCMonth() + 1).padStart(2, '0');
  const d = String(startedAt.getUTCDate()).padStart(2, '0');
  return `${y}/${m}/${d}/${sessionId}${channelIndex > 1 ? `-${channelIndex}` : ''}.cast`;
}
