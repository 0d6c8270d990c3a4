import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { SshPath } from './ssh-paths.js';
import { mbPerSecond } from './stats.js';

/**
 * Bulk transfers with the real ssh client, as the issue names them:
 *   download: ssh … 'head -c N /dev/zero' > /dev/null
 *   upload:   head -c N /dev/zero | ssh … 'cat > /dev/null'
 *
 * ssh's stdout goes straight to /dev/null: piping 200 MB through this process
 * to count it couples ssh to our scheduling and measured a third of the real
 * rate on a loaded machine. The remote prints one byte to stderr as it starts,
 * so the rate runs from that byte to ssh's exit (throughput, not connection
 * setup, which is its own figure); the wall time of the whole command is kept
 * too. Byte counts are checked separately (`verifyDownload`, `upload` with check).
 */
export interface TransferResult {
  path: string;
  bytes: number;
  /** Remote start to exit, ms. */
  transferMs: number;
  /** Spawn to exit, ms. */
  wallMs: number;
  mbPerS: number;
  wallMbPerS: number;
}

export function download(path: SshPath, env: NodeJS.ProcessEnv, bytes: number, producer = `head -c ${bytes} /dev/zero`): Promise<TransferResult> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let first = 0;
    let err = '';
    const devNull = openSync('/dev/null', 'w');
    const child = spawn('ssh', [...path.args, `printf S >&2; ${producer}`], { env, stdio: ['ignore', devNull, 'pipe'] });
    closeSync(devNull);
    (child.stderr as Readable).setEncoding('utf8').on('data', (d: string) => {
      if (err === '') first = performance.now();
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const end = performance.now();
      if (code !== 0 || !err.startsWith('S')) return reject(new Error(`${path.name} download: exit ${code}\n${err}`));
      resolve({ path: path.name, bytes, transferMs: end - first, wallMs: end - start, mbPerS: mbPerSecond(bytes, end - first), wallMbPerS: mbPerSecond(bytes, end - start) });
    });
  });
}

/** `ssh … PRODUCER | wc -c`: every byte must arrive (a short transfer is an error, not a fast run). */
export function verifyDownload(path: SshPath, env: NodeJS.ProcessEnv, bytes: number, producer = `head -c ${bytes} /dev/zero`): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', '"$@" | wc -c', 'sh', 'ssh', ...path.args, producer], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const got = Number(out.trim());
      if (code !== 0 || got !== bytes) return reject(new Error(`${path.name} download check: exit ${code}, ${got} of ${bytes} bytes\n${err}`));
      resolve();
    });
  });
}

/**
 * `head -c N /dev/zero | ssh … REMOTE`, the pipe made by sh with ssh's arguments
 * passed as positional parameters (no quoting). REMOTE prints "R" first, then
 * reads everything. With `check`, REMOTE is `wc -c` and the count must match.
 */
export function upload(path: SshPath, env: NodeJS.ProcessEnv, bytes: number, options: { check?: boolean } = {}): Promise<TransferResult> {
  const remote = options.check ? "printf R; exec wc -c" : "printf R; exec cat > /dev/null";
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let first = 0;
    let out = '';
    const child = spawn('sh', ['-c', 'n=$1; shift; head -c "$n" /dev/zero | "$@"', 'sh', String(bytes), 'ssh', ...path.args, remote], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (out === '') first = performance.now();
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const end = performance.now();
      const counted = options.check ? Number(out.slice(1).trim()) : bytes;
      if (code !== 0 || !out.startsWith('R') || counted !== bytes) {
        return reject(new Error(`${path.name} upload: exit ${code}, output ${JSON.stringify(out.slice(0, 80))}, expected ${bytes} bytes\n${err}`));
      }
      resolve({ path: path.name, bytes, transferMs: end - first, wallMs: end - start, mbPerS: mbPerSecond(bytes, end - first), wallMbPerS: mbPerSecond(bytes, end - start) });
    });
  });
}

/** `ssh … true`: connection setup and teardown, ms. */
export function setupTime(path: SshPath, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn('ssh', [...path.args, 'true'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${path.name} ssh true: exit ${code}\n${err}`));
      resolve(performance.now() - start);
    });
  });
}
