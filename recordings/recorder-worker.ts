import { parentPort } from 'node:worker_threads';
import type { FileHandle } from 'node:fs/promises';
import { FrameWriter } from './frame-writer.js';
import { F_A, F_B, F_HANDLE, F_KIND, F_MONO, F_MS, F_SEQ, Op, OP_FIELDS, serializeError } from './recorder-protocol.js';
import type { FromWorker, ToWorker } from './recorder-protocol.js';

/**
 * The recording thread: one per airlock process, serving every live recording.
 * It frames, hashes and writes (recordings/frame-writer.ts) while the main
 * thread only copies the bytes it relays into a batch.
 */
const port = parentPort;
if (!port) throw new Error('recorder-worker.js runs as a worker thread');

const writers = new Map<number, FrameWriter>();
/**
 * Progress is gathered and sent in batches, handle → [raw, backlog, length]:
 * at once (next turn of the event loop) when a recording has taken in
 * REPORT_BYTES or a write finished, else within LAZY_MS. Keystrokes then cost
 * the relay's thread no message back each.
 */
let progress = new Map<number, [number, number, number]>();
/** Batch buffers done with, to go back with the next progress message. */
let spare: ArrayBuffer[] = [];
let soon: 'now' | 'later' | undefined;
/** An eighth of the relay's high-water mark (8 MiB): its view of the backlog lags by at most this. */
const REPORT_BYTES = 1024 * 1024;
const LAZY_MS = 250;

function post(message: FromWorker): void {
  port?.postMessage(message);
}

function report(handle: number, raw: number, backlog: number, length: number): void {
  const seen = progress.get(handle);
  if (seen) {
    seen[0] += raw;
    seen[1] = backlog;
    seen[2] = length;
  } else {
    progress.set(handle, [raw, backlog, length]);
  }
  schedule(raw === 0 || (seen?.[0] ?? raw) >= REPORT_BYTES);
}

function schedule(urgent: boolean): void {
  if (urgent && soon !== 'now') {
    soon = 'now';
    setImmediate(sendProgress);
  } else if (!soon) {
    soon = 'later';
    setTimeout(sendProgress, LAZY_MS);
  }
}

function sendProgress(): void {
  soon = undefined;
  if (progress.size === 0 && spare.length === 0) return;
  const acks: number[] = [];
  for (const [handle, [raw, backlog, length]] of progress) acks.push(handle, raw, backlog, length);
  progress = new Map();
  const buffers = spare;
  spare = [];
  port?.postMessage({ type: 'progress', acks, spare: buffers } satisfies FromWorker, buffers);
}

function open(m: Extract<ToWorker, { type: 'open' }>): void {
  const handle = m.handle;
  const writer = new FrameWriter(
    { ...m.init, file: m.file as FileHandle, chain: m.chain as FileHandle },
    {
      progress: (raw, backlog, length) => report(handle, raw, backlog, length),
      checkpoint: (length, head) => post({ type: 'checkpoint', handle, length, head }),
      failed: (err) => post({ type: 'failed', handle, error: serializeError(err) }),
    },
  );
  writers.set(handle, writer);
}

function run(m: Extract<ToWorker, { type: 'ops' }>): void {
  const { ops, data } = m;
  for (let at = 0; at < ops.length; at += OP_FIELDS) {
    const handle = ops[at + F_HANDLE] as number;
    const writer = writers.get(handle);
    if (!writer) continue;
    const ms = ops[at + F_MS] as number;
    const a = ops[at + F_A] as number;
    const b = ops[at + F_B] as number;
    const seq = ops[at + F_SEQ] as number;
    const mono = ops[at + F_MONO] as number;
    switch (ops[at + F_KIND] as Op) {
      case Op.Output:
        writer.output(ms, new Uint8Array(data, a, b), mono);
        break;
      case Op.Stderr:
        writer.stderr(ms, new Uint8Array(data, a, b), mono);
        break;
      case Op.Input:
        writer.input(ms, new Uint8Array(data, a, b), mono);
        break;
      case Op.Resize:
        writer.resize(ms, a, b);
        break;
      case Op.Marker:
        writer.marker(ms, Buffer.from(data, a, b).toString('utf8'));
        break;
      case Op.Tick:
        writer.tick(ms, mono);
        break;
      case Op.Checkpoint:
        void writer.checkpoint(ms, a === 1).then(() => post({ type: 'done', handle, seq }));
        break;
      case Op.Close:
        void writer.close(ms).then((result) => {
          writers.delete(handle);
          sendProgress();
          post({ type: 'done', handle, seq, result });
        });
        break;
    }
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') return open(m);
  run(m);
  // Nothing keeps a view of the batch's bytes: large buffers go back for reuse,
  // at once (the relay's thread would otherwise allocate a new one for its next batch).
  if (m.data.byteLength >= 1024 * 1024) {
    spare.push(m.data);
    schedule(true);
  }
});
