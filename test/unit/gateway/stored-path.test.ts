import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { MAX_STORED_PATH, storedPath } from '../../../gateway/stored-path.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('storedPath', () => {
  it('keeps a path up to the limit as it is, with no length or hash', () => {
    const raw = Buffer.from('/srv/' + 'a'.repeat(MAX_STORED_PATH - 5));
    expect(raw.length).toBe(MAX_STORED_PATH);
    expect(storedPath(raw)).toEqual({ path: raw.toString() });
  });

  it('cuts a longer one to the limit with a visible mark, its full length in bytes and the SHA-256 of all of it', () => {
    const raw = Buffer.from('/tmp/' + 'x'.repeat(100_000));
    const kept = storedPath(raw);
    expect(kept).toEqual({ path: raw.subarray(0, MAX_STORED_PATH).toString() + '…', length: 100_005, sha256: sha256(raw) });
  });

  it('never splits a character: the cut falls before a multi-byte sequence that crosses the limit', () => {
    // 1023 ASCII bytes, then "€" (3 bytes) across the limit.
    const raw = Buffer.from('/' + 'b'.repeat(MAX_STORED_PATH - 2) + '€€€');
    const kept = storedPath(raw);
    expect(kept.path).toBe('/' + 'b'.repeat(MAX_STORED_PATH - 2) + '…');
    expect(kept.path).not.toContain('\ufffd');
    expect(kept.length).toBe(raw.length);
  });

  it('takes bytes that are not UTF-8: the hash is over the bytes as sent', () => {
    const raw = Buffer.concat([Buffer.from('/'), Buffer.alloc(2000, 0xff)]);
    const kept = storedPath(raw);
    expect(kept.length).toBe(2001);
    expect(kept.sha256).toBe(sha256(raw));
    expect(kept.path.endsWith('…')).toBe(true);
  });
});
