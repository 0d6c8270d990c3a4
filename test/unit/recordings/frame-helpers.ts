import { FRAME_HEADER, putFrameHeader } from '../../../recordings/frame-format.js';

/** What the tests of the recording format share: frames made by hand, and files cut into reads. */

/** The layout of recordings/FORMAT.md, written by hand here so that the parser is checked against the document, not against the writer. */
export function frame(type: number, time: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + payload.length);
  putFrameHeader(b, 0, type as never, time, payload.length);
  b.set(payload, FRAME_HEADER);
  return b;
}

/** Splits bytes at the given cut points. */
export function cut(bytes: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}
