import type { FrameWriterOptions, WriterResult } from './frame-writer.js';

/**
 * Messages between the relay's thread (recordings/recorder.ts) and the recording
 * thread (recordings/recorder-worker.ts).
 *
 * To the worker: `open` one recording (its files are transferred), then `ops`
 * batches: a Float64Array of OP_FIELDS numbers per operation and one ArrayBuffer
 * holding the bytes they refer to, both transferred, not copied. Operations
 * arrive in the order they happened.
 *
 * From the worker: `progress` (bytes framed, bytes waiting for the disk: for
 * back-pressure), `checkpoint` (a signed checkpoint is on disk: its length and
 * head go to the database), `done` (a checkpoint or close finished), `failed`
 * (a recording could not be written).
 */
export const OP_FIELDS = 7;
/** Field order within one operation. */
export const F_HANDLE = 0;
export const F_KIND = 1;
export const F_MS = 2;
/** Bytes: offset and length in the batch's data; resize: cols and rows; checkpoint: final (1/0). */
export const F_A = 3;
export const F_B = 4;
/** Checkpoint and close: the sequence number to answer with. */
export const F_SEQ = 5;
/** The clock's monotonic reading (Clock.monotonic): the echo judge's deadlines run on it. */
export const F_MONO = 6;

export const Op = {
  Output: 1,
  Stderr: 2,
  Input: 3,
  Resize: 4,
  Marker: 5,
  Tick: 6,
  Checkpoint: 7,
  Close: 8,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/** What the writer needs besides its files (which move separately). */
export type OpenInit = Omit<FrameWriterOptions, 'file' | 'chain'>;

export type ToWorker =
  | { type: 'open'; handle: number; init: OpenInit; file: unknown; chain: unknown }
  | { type: 'ops'; ops: Float64Array; data: ArrayBuffer };

export interface SerializedError {
  message: string;
  name?: string;
  code?: string;
  errno?: number;
  syscall?: string;
}

export type FromWorker =
  /**
   * handle, raw bytes encoded, bytes waiting for the disk, bytes on disk: four
   * numbers per recording; with the batch data buffers the thread is done with,
   * given back for reuse (one message for both: at bulk rates each message costs).
   */
  | { type: 'progress'; acks: number[]; spare: ArrayBuffer[] }
  | { type: 'checkpoint'; handle: number; length: number; head: string }
  | { type: 'done'; handle: number; seq: number; result?: WriterResult }
  | { type: 'failed'; handle: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  const e = err as NodeJS.ErrnoException;
  const out: SerializedError = { message: e?.message ?? String(err) };
  if (e?.name) out.name = e.name;
  if (typeof e?.code === 'string') out.code = e.code;
  if (typeof e?.errno === 'number') out.errno = e.errno;
  if (typeof e?.syscall === 'string') out.syscall = e.syscall;
  return out;
}

export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message);
  if (s.name) err.name = s.name;
  return Object.assign(err, s.code ? { code: s.code } : {}, s.errno !== undefined ? { errno: s.errno } : {}, s.syscall ? { syscall: s.syscall } : {});
}
