import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, systemScheduler } from '../core/index.js';
import { keyFingerprint, Recorder } from '../recordings/index.js';
import type { RecordingKey } from '../recordings/index.js';
import { mbPerSecond } from './stats.js';

/**
 * The recorder on its own, in the bench process: N bytes of target output fed
 * to recordings/Recorder in 32 KiB chunks (an SSH channel's packet size),
 * honouring its back-pressure as the relay does, into real files in the bench
 * directory, then closed (final signed checkpoint, fdatasync). This is the
 * ceiling the recorder puts on one session's output rate, on one core.
 *
 * Two payloads: NUL bytes as in the bulk test (`head -c N /dev/zero`), which
 * asciicast's JSON writes as "\u0000", six bytes each; and printable log-like
 * text, one byte each, as a terminal mostly shows.
 */
export interface RecorderMicroResult {
  payload: 'zeros' | 'text';
  input_mb: number;
  recording_mb: number;
  mb_per_s: number;
}

function payloadChunk(kind: 'zeros' | 'text', size: number): Buffer {
  if (kind === 'zeros') return Buffer.alloc(size);
  const line = '2026-01-01T00:00:00Z host app[1234]: GET /api/items?page=3 200 12ms user=bench\r\n';
  return Buffer.from(line.repeat(Math.ceil(size / line.length)).slice(0, size), 'latin1');
}

export async function recorderMicro(dir: string, kind: 'zeros' | 'text', bytes: number): Promise<RecorderMicroResult> {
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key: RecordingKey = {
    kid: 'bench',
    privateKey,
    publicKey,
    fingerprint: keyFingerprint(publicKey),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
  const path = join(dir, `micro-${kind}-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 8)}.cast`);
  const cast = await open(path, 'wx', 0o640);
  const chain = await open(path + '.chain', 'wx', 0o640);
  const recorder = new Recorder({
    cast,
    chain,
    header: { width: 120, height: 40, title: 'bench', env: { TERM: 'xterm' }, airlock: { bench: true } },
    ids: { session: 'bench', recording: 'bench' },
    key,
    clock: systemClock,
    scheduler: systemScheduler,
    recordInput: false,
  });
  const chunk = payloadChunk(kind, 32 * 1024);
  const t0 = performance.now();
  let fed = 0;
  while (fed < bytes) {
    const n = Math.min(chunk.length, bytes - fed);
    recorder.output(n === chunk.length ? chunk : chunk.subarray(0, n));
    fed += n;
    if (recorder.backlogged) await new Promise<void>((r) => recorder.once('drain', () => r()));
  }
  await recorder.close();
  const ms = performance.now() - t0;
  if (recorder.failed) throw recorder.failed;
  return { payload: kind, input_mb: bytes / 1e6, recording_mb: statSync(path).size / 1e6, mb_per_s: mbPerSecond(bytes, ms) };
}
