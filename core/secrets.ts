import { timingSafeEqual, createHash } from 'node:crypto';

/**
 * Compares two secrets without leaking, through timing, where they first differ.
 * Both sides are hashed first so that inputs of different lengths take the same
 * path (timingSafeEqual itself throws on a length mismatch).
 */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
