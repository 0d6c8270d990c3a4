import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * A recording file read while it is still being written (live analysis): the
 * bytes on disk so far, then more as they are appended, until the recording is
 * sealed (end(): read to the end, then stop) or the reader gives up (stop()).
 *
 * The writer only ever appends (recordings/frame-writer.ts), so a read at the
 * current position is either new bytes or nothing yet; a frame cut in two by a
 * read is put together by the frame parser. New bytes are noticed through
 * inotify (fs.watch), with a slow timer behind it in case an event is missed
 * (a watch on some filesystems, such as NFS, never fires).
 */
export interface FileTailOptions {
  /** Bytes per read. Default 1 MiB. */
  chunkBytes?: number;
  /** Reads again after this long without a change event. Default 500 ms. */
  fallbackMs?: number;
}

export class FileTail implements AsyncIterable<Buffer> {
  readonly #path: string;
  readonly #chunk: number;
  readonly #fallbackMs: number;
  #ending = false;
  #stopped = false;
  #wake: (() => void) | undefined;
  #changed = false;

  constructor(path: string, options: FileTailOptions = {}) {
    this.#path = path;
    this.#chunk = options.chunkBytes ?? 1024 * 1024;
    this.#fallbackMs = options.fallbackMs ?? 500;
  }

  /** The file is complete: what is left is read, then the iteration ends. */
  end(): void {
    this.#ending = true;
    this.#poke();
  }

  /** Stops now, whatever is left unread. */
  stop(): void {
    this.#stopped = true;
    this.#poke();
  }

  #poke(): void {
    this.#changed = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const fh = await open(this.#path, 'r');
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.#path, { persistent: false }, () => this.#poke());
      watcher.on('error', () => {}); // the timer still reads
    } catch {
      watcher = undefined; // no inotify here: the timer does it
    }
    let position = 0;
    try {
      while (!this.#stopped) {
        // Whether end() came before this read: if so, an empty read is the end.
        const last = this.#ending;
        this.#changed = false;
        const buffer = Buffer.allocUnsafe(this.#chunk);
        const { bytesRead } = await fh.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          position += bytesRead;
          yield buffer.subarray(0, bytesRead);
          continue;
        }
        if (last) return;
        if (this.#changed) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => this.#poke(), this.#fallbackMs);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      watcher?.close();
      await fh.close();
    }
  }
}
