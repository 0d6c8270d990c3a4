import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { AirlockError } from '../core/index.js';
import type { Logger, Scheduler, Timer } from '../core/index.js';

/** A download the client takes nothing of for this long is ended: it would hold its place (web/read-gate.ts) for ever. */
export const STALL_MS = 60_000;

/**
 * Streams a body (a recording, its export, an evidence bundle) to the client
 * with back-pressure. The first chunk is read before anything is sent, so a
 * recording that cannot be read at all still gets a proper error answer; a
 * failure later can only cut the response short (the client sees a truncated
 * download, and the log says why). A client that takes nothing for STALL_MS
 * (a slow reader is fine; one that stopped reading is not) is disconnected.
 */
export async function send(res: Response, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, logger: Logger, scheduler: Scheduler): Promise<void> {
  const it = Symbol.asyncIterator in body ? body[Symbol.asyncIterator]() : toAsync(body[Symbol.iterator]());
  let first: IteratorResult<Uint8Array>;
  try {
    first = await it.next();
  } catch (err) {
    // Nothing sent yet: the error answer is JSON, not the attachment the route announced.
    for (const h of ['Content-Type', 'Content-Disposition', 'Content-Length']) res.removeHeader(h);
    throw err;
  }
  // Armed whenever a chunk is handed on: the stream asks for the next only once the socket took some.
  let stall: Timer | undefined;
  const watch = () => {
    stall?.cancel();
    stall = scheduler.after(STALL_MS, () => res.destroy(new AirlockError('ERR_UNAVAILABLE', `the client took nothing for ${STALL_MS / 1000} s`)));
  };
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (!first.done) {
      watch();
      yield first.value;
    }
    for (let r = await it.next(); !r.done; r = await it.next()) {
      watch();
      yield r.value;
    }
  }
  try {
    await pipeline(Readable.from(rest(), { objectMode: false }), res);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return; // the client went away
    logger.error({ err, url: res.req.originalUrl }, 'a download was cut short');
    res.destroy();
  } finally {
    stall?.cancel();
    await it.return?.();
  }
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: () => Promise.resolve(it.next()) };
}
