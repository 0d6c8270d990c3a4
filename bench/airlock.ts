import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { currentTotp } from '../identity/index.js';

/**
 * airlock for the benchmark, as separate processes whose memory and CPU the
 * kernel reports: `airlock init`, then `airlock serve` (recording on, as in
 * production) and, for the recording-overhead ratio only, the same build with
 * its recorder replaced by a no-op (bench/airlock-norec.ts), on a copy of the
 * freshly initialised data directory, then set up the same way through its API.
 *
 * The bench raises the per-source and per-user caps that protect the front door
 * from abuse (all connections come from 127.0.0.1 and one engineer), and
 * nothing else: recording, flushing and checkpoints keep their defaults.
 */
export interface AirlockPaths {
  root: string;
  cli: string;
  norec: string;
}

export interface AirlockProcess {
  kind: 'serve' | 'norec';
  pid: number;
  web: string;
  sshPort: number;
  /** "ssh-ed25519 AAAA…" of airlock's host key. */
  hostKey: string;
  dataDir: string;
  stderr(): string;
  /** Exit code or signal if the process has ended, else undefined. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

export interface Enrolled {
  name: string;
  password: string;
  totpSecret: string;
}

const BENCH_CONFIG = [
  '# Written by bench/airlock.ts: loopback only, caps raised for one source and one user.',
  'ssh:',
  '  maxUnauthenticatedPerSource: 1000',
  '  maxUnauthenticated: 5000',
  '  connectionsPerMinutePerSource: 100000',
  '  maxSessions: 5000',
  '  maxSessionsPerUser: 5000',
  'log:',
  '  level: warn',
  '',
].join('\n');

function env(dataDir: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AIRLOCK_') && k !== 'NODE_OPTIONS') e[k] = v;
  return { ...e, AIRLOCK_DATA_DIR: dataDir, AIRLOCK_SSH_LISTEN: '127.0.0.1:0', AIRLOCK_WEB_LISTEN: '127.0.0.1:0', AIRLOCK_LOG_LEVEL: 'warn' };
}

/** `airlock --json init` in a fresh data directory with the bench's config file. */
export async function initAirlock(paths: AirlockPaths, dataDir: string): Promise<Enrolled> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dataDir, 'airlock.yaml'), BENCH_CONFIG);
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [paths.cli, '--json', 'init', '--admin', 'benchadmin'], { env: env(dataDir), cwd: dataDir }, (err, stdout, stderr) =>
      err ? reject(new Error(`airlock init failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  const r = JSON.parse(out) as { password: string; totp: { secret: string } };
  return { name: 'benchadmin', password: r.password, totpSecret: r.totp.secret };
}

/** Starts `airlock serve` (or the no-recorder host) and waits for its ready event. */
export function startAirlock(paths: AirlockPaths, kind: 'serve' | 'norec', dataDir: string, nodeArgs: string[] = []): Promise<AirlockProcess> {
  // With the node options airlock's own command line (cli/main.ts) starts with.
  const node = ['--no-memory-reducer', ...nodeArgs];
  const args = kind === 'serve' ? [...node, paths.cli, '--json', 'serve'] : [...node, paths.norec];
  const child: ChildProcess = spawn(process.execPath, args, { env: env(dataDir), cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-64 * 1024)));
  let ended: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = signal ? `signal ${signal}` : `exit ${code}`;
      resolve();
    }),
  );
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`airlock ${kind} ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    const timer = setTimeout(() => fail('printed no ready event in 120 s'), 120_000);
    void exited.then(() => fail('exited before it was ready'));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (done) return;
      stdout += d;
      // The ready event is one JSON document, possibly pretty-printed over several lines.
      let event: { event?: string; web?: string; ssh?: string };
      try {
        event = JSON.parse(stdout) as typeof event;
      } catch {
        return;
      }
      if (event.event !== 'ready' || !event.web || !event.ssh) return fail(`printed something else first: ${stdout}`);
      done = true;
      clearTimeout(timer);
      const hostKey = readFileSync(join(dataDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
      resolve({
        kind,
        pid: child.pid as number,
        web: event.web,
        sshPort: Number(event.ssh.slice(event.ssh.lastIndexOf(':') + 1)),
        hostKey,
        dataDir,
        stderr: () => stderr,
        exited: () => ended,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(killer);
        },
      });
    });
  });
}

/**
 * A copy of a data directory that no process has open (right after init): the
 * second instance starts from the same database, master key and admin.
 */
export function copyDataDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, preserveTimestamps: true });
}

// ---------------------------------------------------------------- HTTP API

async function api<T>(web: string, path: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(`${web}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

export async function login(web: string, who: Enrolled, extra: { publicKey?: string; ttl?: string } = {}): Promise<{ token: string; certificate?: { line: string } }> {
  const totp = await currentTotp(who.totpSecret, new Date());
  return api(web, '/login', { user: who.name, password: who.password, totp, ...extra });
}

export interface BenchAccess {
  engineer: Enrolled;
  /** The engineer's OpenSSH certificate line, for the key given. */
  certificate: string;
  /** The engineer's API token (GET /status works for every role). */
  token: string;
}

/**
 * As the admin: an engineer, the target (its pinned host key and the key airlock
 * logs in with) and a grant; then the engineer's certificate-issuing login, the
 * way `airlock login` does it. One code per user, so no TOTP step is reused.
 */
export async function configureAccess(
  web: string,
  admin: Enrolled,
  target: { name: string; port: number; login: string; hostKey: string; key: string },
  engineerPublicKey: string,
): Promise<BenchAccess> {
  const { token } = await login(web, admin);
  const created = await api<{ password: string; totp: { secret: string } }>(web, '/users', { name: 'bencheng', role: 'engineer', org: 'bench' }, token);
  const engineer: Enrolled = { name: 'bencheng', password: created.password, totpSecret: created.totp.secret };
  await api(web, '/targets', { name: target.name, host: '127.0.0.1', port: target.port, login: target.login, key: target.key, hostKey: target.hostKey }, token);
  await api(web, '/grants', { user: engineer.name, target: target.name }, token);
  const r = await login(web, engineer, { publicKey: engineerPublicKey, ttl: '4h' });
  if (!r.certificate?.line) throw new Error('the engineer login returned no certificate');
  return { engineer, certificate: r.certificate.line, token: r.token };
}

/** Live sessions on one airlock node, from GET /api/v1/status. */
export async function liveSessions(web: string, token: string): Promise<number> {
  const res = await fetch(`${web}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /status: HTTP ${res.status}`);
  return ((await res.json()) as { liveSessions: number }).liveSessions;
}

/** Recordings whose session analysis has not finished (pending or running). */
export async function analysesPending(web: string, token: string): Promise<number> {
  const res = await fetch(`${web}/api/v1/recordings?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`GET /recordings: HTTP ${res.status}`);
  const { recordings } = (await res.json()) as { recordings: Array<{ status: string; analysisStatus: string }> };
  return recordings.filter((r) => r.status !== 'recording' && (r.analysisStatus === 'pending' || r.analysisStatus === 'running')).length;
}

/**
 * Waits until the node has no live session left (recordings sealed) and, with
 * `analysed`, until the analysis of every sealed recording has finished (it runs
 * in a worker thread after sealing and would compete with the next path's run),
 * up to timeoutMs. A busy node may not answer at once; one that has exited is an error.
 */
export async function waitIdle(a: AirlockProcess, token: string, timeoutMs: number, options: { analysed?: boolean } = {}): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const gone = a.exited();
    if (gone) throw new Error(`airlock ${a.kind} (pid ${a.pid}) ended (${gone}); its last output:\n${a.stderr().slice(-4000)}`);
    try {
      if ((await liveSessions(a.web, token)) === 0 && (!options.analysed || (await analysesPending(a.web, token)) === 0)) return true;
    } catch {
      // not answering right now: ask again
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
