import { spawn } from 'node:child_process';
import type { SshPath } from './ssh-paths.js';
import { percentile } from './stats.js';

/**
 * Keystroke latency: `ssh -tt … cat`, then single bytes written to ssh's stdin
 * one at a time, each timed until the remote terminal's echo of it comes back
 * on ssh's stdout. The remote pty is in canonical mode, so the echo comes from
 * the line discipline at once (as a shell's echo would) and cat sees the line
 * only at the end; 1,000 bytes stay well under the 4,096-byte line limit.
 * A Ctrl-D then hands cat the line and a second one ends it, so the session
 * (and on airlock its recording) closes normally, with cat's exit status.
 */
export interface LatencyResult {
  path: string;
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

const WARM_UP = 300;

export async function keystrokeLatency(path: SshPath, env: NodeJS.ProcessEnv, roundTrips: number): Promise<LatencyResult> {
  const child = spawn('ssh', ['-tt', ...path.args, 'cat'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let pending: { byte: number; resolve: () => void } | undefined;
  child.stdout.on('data', (d: Buffer) => {
    if (pending && d.includes(pending.byte)) {
      const p = pending;
      pending = undefined;
      p.resolve();
    }
  });
  const roundTrip = (byte: number, timeoutMs: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending = undefined;
        reject(new Error(`${path.name}: no echo within ${timeoutMs} ms\n${err}`));
      }, timeoutMs);
      const t0 = performance.now();
      pending = {
        byte,
        resolve: () => {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        },
      };
      child.stdin.write(Buffer.of(byte));
    });
  try {
    // The first echo also waits for the connection and the pty: not a sample.
    await roundTrip(0x2e, 30_000);
    // Warm-up, not timed: the same keys through the same connection, so that the
    // JIT has compiled every hop's path before the samples (all paths alike).
    for (let i = 0; i < WARM_UP; i++) await roundTrip(0x2e, 10_000);
    const samples: number[] = [];
    for (let i = 0; i < roundTrips; i++) samples.push(await roundTrip(0x61 + (i % 26), 10_000));
    // Ctrl-D twice: cat gets the line, then end of file, and exits. stdin stays
    // open until then: an EOF on a pty channel makes sshd close the pty, and cat
    // could be hung up before it has read the Ctrl-Ds.
    child.stdin.write(Buffer.of(0x04, 0x04));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await closed;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`${path.name}: ssh -tt cat exited ${code}\n${err}`);
    return { path: path.name, samples: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
