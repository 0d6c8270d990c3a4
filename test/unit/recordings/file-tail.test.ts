import { describe, it, expect, afterEach } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTail } from '../../../recordings/file-tail.js';
import { waitFor } from '../../helpers/wait.js';

/** A file read while it grows: every byte once, in order; end() reads the rest, stop() does not. */
describe('FileTail', () => {
  const dirs: string[] = [];
  const fileWith = (content: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-tail-'));
    dirs.push(dir);
    const path = join(dir, 'rec');
    writeFileSync(path, content);
    return path;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const collect = (tail: FileTail) => {
    const got: Buffer[] = [];
    const done = (async () => {
      for await (const chunk of tail) got.push(Buffer.from(chunk));
    })();
    return { text: () => Buffer.concat(got).toString('utf8'), done };
  };

  it('yields what is there, then what is appended, and after end() the rest and no more', async () => {
    const path = fileWith('first ');
    const tail = new FileTail(path, { chunkBytes: 4, fallbackMs: 10_000 });
    const c = collect(tail);
    await waitFor(() => c.text() === 'first ', { message: 'the existing bytes' });
    appendFileSync(path, 'second ');
    // Noticed through the change event, long before the fallback read.
    await waitFor(() => c.text() === 'first second ', { timeoutMs: 3000, message: 'the appended bytes' });
    appendFileSync(path, 'third');
    tail.end();
    await c.done;
    expect(c.text()).toBe('first second third');
  });

  it('reads on its timer where no change event comes, and stop() ends it at once', async () => {
    const path = fileWith('');
    const tail = new FileTail(path, { fallbackMs: 50 });
    const c = collect(tail);
    appendFileSync(path, 'abc');
    await waitFor(() => c.text() === 'abc', { message: 'the bytes' });
    tail.stop();
    await c.done;
    appendFileSync(path, 'never read');
    expect(c.text()).toBe('abc');
  });
});
