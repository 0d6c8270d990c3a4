import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import type { Logger } from '../core/index.js';

/**
 * Streams a body (a recording, its export, an evidence bundle) to the client
 * with back-pressure. The first chunk is read before anything is sent, so a
 * recording that cannot be read at all still gets a proper error answer; a
 * failure later can only cut the response short (the client sees a truncated
 * download, and the log says why).
 */
export async function send(res: Response, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, logger: Logger): Promise<void> {
  const it = Symbol.asyncIterator in body ? body[Symbol.asyncIterator]() : toAsync(body[Symbol.iterator]());
  let first: IteratorResult<Uint8Array>;
  try {
    first = await it.next();
  } catch (err) {
    // Nothing sent yet: the error answer is JSON, not the attachment the route announced.
    for (const h of ['Content-Type', 'Content-Disposition', 'Content-Length']) res.removeHeader(h);
    throw err;
  }
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (!first.done) yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  try {
    await pipeline(Readable.from(rest(), { objectMode: false }), res);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') return; // the client went away
    logger.error({ err, url: res.req.originalUrl }, 'a download was cut short');
    res.destroy();
  } finally {
    await it.return?.();
  }
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: () => Promise.resolve(it.next()) };
}
