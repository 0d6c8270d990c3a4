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
 * Two payloads: NUL bytes as in the bulk test (`head -c N /dev/zero`), and the
 * bench's coloured text log line (ANSI colours, tabs, UTF-8), as a terminal mostly
 * shows. Both are stored as they are: a frame header and a copy per chunk.
 */
/**
 * The coloured log line of the text workload, as a printf(1) format: the bench runs
 * `yes "$(printf FORMAT)" | head -c N` on the target. No single quote, no %.
 */
export const TEXT_LOG_LINE =
  '\\033[2m2026-01-01T00:00:00.123Z\\033[0m\\tdb01\\tapp[1234]: \\033[1;32mINFO\\033[0m données reçues → \\033[36mGET /api/items?page=3\\033[0m\\t200\\t12 ms\\tuser=bench';

/** The same line as the target prints it (yes(1) adds the newline). */
export function textLogLine(): Buffer {
  return Buffer.from(TEXT_LOG_LINE.replaceAll('\\033', '\x1b').replaceAll('\\t', '\t') + '\n', 'utf8');
}

export interface RecorderMicroResult {
  payload: 'zeros' | 'text';
  input_mb: number;
  recording_mb: number;
  mb_per_s: number;
}

function payloadChunk(kind: 'zeros' | 'text', size: number): Buffer {
  if (kind === 'zeros') return Buffer.alloc(size);
  const line = textLogLine();
  return Buffer.concat(Array.from({ length: Math.ceil(size / line.length) }, () => line)).subarray(0, size);
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
  const path = join(dir, `micro-${kind}-${createHash('sha256').update(String(Math.random())).digest('hex').slice(0, 8)}.alr`);
  const file = await open(path, 'wx', 0o640);
  const chain = await open(path + '.chain', 'wx', 0o640);
  const recorder = new Recorder({
    file,
    chain,
    header: { recording: 'bench', session: 'bench', kind: 'terminal', user: 'bench', target: 'bench', login: 'bench', source: '127.0.0.1', cols: 120, rows: 40, term: 'xterm', command: null, approval: null, title: 'bench' },
    ids: { session: 'bench', recording: 'bench' },
    key,
    clock: systemClock,
    scheduler: systemScheduler,
    input: 'none',
    output: true,
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
