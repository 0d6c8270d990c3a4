import { createHash } from 'node:crypto';

/**
 * A file path as airlock keeps it: on the session row, in log lines, in the
 * recording's SFTP markers. An SFTP path is whatever the client sends (up to a
 * packet); the target decides whether it is valid, and the relay passes it on
 * whole. What is kept of it is at most MAX_STORED_PATH bytes: 300 removes of
 * 100 KB paths had added 30 MB to the log and to one session row.
 *
 * A longer path is kept as its first bytes (cut at a character boundary)
 * followed by a visible "…", with its full length in bytes and the SHA-256 of
 * all of it beside it, so that an auditor can still match it to a path on the
 * target (`printf %s "$path" | sha256sum`). Linux's PATH_MAX is 4096 bytes, but
 * paths past 1 KiB are rare enough that their beginning and hash serve.
 */
export const MAX_STORED_PATH = 1024;
export const TRUNCATION_MARK = '…';

export interface StoredPath {
  path: string;
  /** Only for a path that was cut: its full length in bytes… */
  length?: number;
  /** … and the SHA-256 (hex) of all of its bytes. */
  sha256?: string;
}

export function storedPath(raw: Buffer): StoredPath {
  if (raw.length <= MAX_STORED_PATH) return { path: raw.toString('utf8') };
  return {
    path: raw.subarray(0, utf8Boundary(raw, MAX_STORED_PATH)).toString('utf8') + TRUNCATION_MARK,
    length: raw.length,
    sha256: createHash('sha256').update(raw).digest('hex'),
  };
}

/** The largest cut at or before `max` that does not split a UTF-8 sequence (continuation bytes are 10xxxxxx). */
function utf8Boundary(raw: Buffer, max: number): number {
  let cut = max;
  // At most three continuation bytes precede the byte that starts a character.
  for (let back = 0; back < 3 && cut > 0 && ((raw[cut] as number) & 0xc0) === 0x80; back++) cut--;
  return cut;
}
